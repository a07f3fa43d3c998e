"""The HTTP server: the createCompletion handler, the fast path, auth, validation, limits, errors, lifecycle."""
