"""portkey-completions: a spec-first server and client for POST /v1/completions."""

__version__ = "0.2.0"
