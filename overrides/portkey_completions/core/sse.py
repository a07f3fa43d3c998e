"""Server-sent events: written as the completions API writes them (data-only events, then [DONE]), and read."""

from __future__ import annotations

import re

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


_LINE = re.compile(r"\r\n|\r|\n")


def data(event: bytes) -> str | None:
    """The data of one whole event as a WHATWG parser dispatches it; None if it carries none.

    `data:` lines are joined with newlines (one leading space of each value dropped); comments
    and other fields do not count. Our own, so as not to reach into httpx-sse's private decoder.
    """
    lines = []
    for line in _LINE.split(event.decode("utf-8", errors="replace")):
        if not line or line.startswith(":"):
            continue
        name, colon, value = line.partition(":")
        if name != "data":
            continue
        lines.append(value[1:] if colon and value.startswith(" ") else value)
    joined = "\n".join(lines)
    return joined or None
