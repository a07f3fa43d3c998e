"""The contract-testing toolkit: scenario rules, faults, the journal, cassettes and the admin API."""
