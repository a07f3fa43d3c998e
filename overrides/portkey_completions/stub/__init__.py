"""The built-in provider `stub`: a request body answered by the engine, in the spec's shapes.

Below the gateway (a leaf of a config tree is answered here or by an upstream) and apart from the
HTTP edge: it reads a validated body (`reading`), checks what a schema cannot and plans the
engine's work (`plan`), and writes the answer as JSON or SSE (`render`). `answer.Stub` is the door.
"""
