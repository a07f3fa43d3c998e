"""Run-time control of a server by the tests pointed at it: it runs inside the server, on every request.

Scenario rules and faults shape answers (`front`, `rules`, `scenarios`, `faults`), the journal
and cassettes keep what was asked and answered (`journal`, `cassette`), the admin API and page
expose them (`admin`), and the state keeps rules, counters and the journal (`state`, in memory or
on Redis). What a test suite imports to start and drive a server is `portkey_completions.testing`.
"""
