"""Server-sent events: written as the completions API writes them (data-only events, then [DONE]), and read."""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator

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


_EVENT_END = re.compile(rb"\r\n\r\n|\n\n|\r\r|\r\n\r|\n\r\n|\n\r")


def iter_data(chunks: Iterable[bytes]) -> Iterator[str]:
    """The data of each whole event, as the chunks of a body arrive; events without data are skipped.

    A partial event at the end (a stream cut mid-event) is not dispatched, as a WHATWG parser
    would not.
    """
    pending = b""
    for chunk in chunks:
        pending += chunk
        while (end := _EVENT_END.search(pending)) is not None:
            # A CR at the very end may be half of a CRLF still on its way.
            if end.end() == len(pending) and pending.endswith(b"\r"):
                break
            found = data(pending[: end.start()])
            pending = pending[end.end() :]
            if found is not None:
                yield found


def all_data(body: bytes | str) -> list[str]:
    """The data of each whole event of a whole body, in order."""
    return list(iter_data([body.encode() if isinstance(body, str) else body]))
