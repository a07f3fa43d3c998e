"""Server-sent events as the completions API writes them: data-only events, then [DONE]."""

from __future__ import annotations

DONE = b"data: [DONE]\n\n"

# Proxies (nginx and the like) buffer responses unless told not to; a stream
# that arrives all at once at the end is no stream.
HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}

MEDIA_TYPE = "text/event-stream"


def event(data: str | bytes) -> bytes:
    """One data-only event. JSON has no raw newlines, so one `data:` line suffices."""
    if isinstance(data, str):
        data = data.encode()
    return b"data: " + data + b"\n\n"
