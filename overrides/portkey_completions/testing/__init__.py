"""The test harness, imported by tests only: servers on loopback, the `portkey_stub` pytest plugin, the admin client.

Nothing here runs inside a server; what a server runs for contract tests is
`portkey_completions.control`.
"""
