"""The shared core: the spec and its schemas, JSON from outside, SSE, headers and the auth alternatives."""
