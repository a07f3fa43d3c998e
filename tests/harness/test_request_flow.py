"""A request goes down the rooms one way and comes back the same way: no room is entered twice in one chain.

One request at a time is driven through the app in-process (its ASGI callable, on this thread),
with `sys.setprofile` watching every call into the package's own code. For each call, the chain
of rooms on the stack (outermost first, the same room's frames run together) must follow the
order of ARCHITECTURE.md's picture: the HTTP edge, control, the gateway, the stub, then the call
record, the engine and core below them. A room that appears again further down, or above where
it should, is a call back up, and fails the test with the chain that did it.
"""

from __future__ import annotations

import asyncio
import itertools
import sys
from pathlib import Path
from types import FrameType
from typing import Any

import orjson
import pytest

import portkey_completions
from portkey_completions.core import spec
from support import API_KEY, AUTH, BODY

PACKAGE = Path(portkey_completions.__file__).resolve().parent
# The order a call goes down in; `call`, `observe`, `engine` and `core` are below every room that uses them.
ORDER = ("server", "control", "gateway", "stub", "call", "observe", "engine", "core")
PATH = spec.base_path() + "/completions"


def _room(frame: FrameType) -> str | None:
    filename = frame.f_code.co_filename
    if not filename.startswith(str(PACKAGE)):
        return None
    parts = Path(filename).relative_to(PACKAGE).parts
    return parts[0] if len(parts) > 1 else parts[0].removesuffix(".py")


class Watch:
    """Every distinct chain of rooms seen on the stack at a call into the package."""

    def __init__(self) -> None:
        self.chains: set[tuple[str, ...]] = set()

    def __call__(self, frame: FrameType, event: str, arg: Any) -> None:
        if event != "call" or _room(frame) is None:
            return
        rooms: list[str] = []
        current: FrameType | None = frame
        while current is not None:
            room = _room(current)
            if room is not None and (not rooms or rooms[-1] != room):
                rooms.append(room)
            current = current.f_back
        self.chains.add(tuple(reversed(rooms)))


def _wrong(chain: tuple[str, ...]) -> bool:
    if len(set(chain)) < len(chain):
        return True  # a room entered again
    places = [ORDER.index(room) if room in ORDER else -1 for room in chain]
    return any(b <= a for a, b in itertools.pairwise(places))


def _drive(app: Any, body: dict[str, Any], *, chunked: bool, headers: dict[str, str] = AUTH) -> tuple[int, bytes]:
    """One request through the app's ASGI callable; chunked (no Content-Length) takes connexion's path."""
    raw = orjson.dumps(body)
    sent_headers = [
        (b"content-type", b"application/json"),
        *((k.lower().encode(), v.encode()) for k, v in headers.items()),
    ]
    if chunked:
        messages = [{"type": "http.request", "body": raw[:10], "more_body": True}]
        messages.append({"type": "http.request", "body": raw[10:], "more_body": False})
    else:
        sent_headers.append((b"content-length", str(len(raw)).encode()))
        messages = [{"type": "http.request", "body": raw, "more_body": False}]
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": PATH,
        "raw_path": PATH.encode(),
        "root_path": "",
        "query_string": b"",
        "headers": sent_headers,
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 8787),
    }
    sent: list[dict[str, Any]] = []
    done = asyncio.Event()

    async def receive() -> dict[str, Any]:
        if messages:
            return messages.pop(0)
        await done.wait()
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)
        if message["type"] == "http.response.body" and not message.get("more_body"):
            done.set()

    asyncio.run(app(scope, receive, send))
    status = next(m["status"] for m in sent if m["type"] == "http.response.start")
    return status, b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")


@pytest.fixture(scope="module")
def app():
    from portkey_completions.app import create_app

    built = create_app(validate_responses=True)
    _drive(built, BODY, chunked=False)  # warm: modules imported and caches made outside the watch
    return built


@pytest.mark.parametrize("stream", [False, True], ids=["json", "stream"])
@pytest.mark.parametrize("chunked", [False, True], ids=["fast path", "connexion's path"])
def test_a_request_enters_each_room_once(app, chunked, stream):
    watch = Watch()
    sys.setprofile(watch)
    try:
        status, body = _drive(app, {**BODY, "stream": stream}, chunked=chunked)
    finally:
        sys.setprofile(None)
    assert status == 200, body
    assert (b"data: [DONE]" in body) is stream
    wrong = sorted(chain for chain in watch.chains if _wrong(chain))
    assert not wrong, "a room entered again, or above its place:\n" + "\n".join(" > ".join(c) for c in wrong)
    # The whole way down was taken, so the check above had something to judge.
    assert any(chain[:1] == ("server",) and "engine" in chain for chain in watch.chains)
    assert any({"control", "gateway", "stub"} <= set(chain) for chain in watch.chains)


def test_the_watch_sees_a_call_back_up():
    assert _wrong(("server", "control", "server"))
    assert _wrong(("server", "gateway", "control"))
    assert not _wrong(("server", "control", "gateway", "stub", "engine"))


# Ways down that write different outcomes: a scenario rule that shapes, one that answers, a
# config's fallback (its first target's override_params are refused), a cache (its second call a HIT).
FALLBACK = {
    "strategy": {"mode": "fallback"},
    "targets": [{"provider": "stub", "override_params": {"max_tokens": -1}}, {"provider": "stub"}],
}
WAYS = {
    "virtual key": AUTH,
    "shaped by a rule": {**AUTH, "Prefer": 'text="hi"'},
    "answered by a rule": {**AUTH, "Prefer": "code=503"},
    "a config's fallback": {**API_KEY, "x-portkey-config": orjson.dumps(FALLBACK).decode()},
    "a cached config": {**API_KEY, "x-portkey-config": '{"provider": "stub", "cache": {"mode": "simple"}}'},
}


class Frozen:
    """Calls handed in (`Front.handle` entered) and not yet back, and every assignment to one of them."""

    def __init__(self) -> None:
        self.handed_in: set[int] = set()
        self.writes: list[str] = []


@pytest.fixture(scope="module")
def frozen():
    """An app whose call records freeze once the edge hands them in (what a write below would break)."""
    from portkey_completions.app import create_app
    from portkey_completions.call.record import Call
    from portkey_completions.control.front import Front

    seen = Frozen()
    handle = Front.handle

    def guarded(call: Call, name: str, value: Any) -> None:
        if id(call) in seen.handed_in:
            seen.writes.append(f"Call.{name} from {sys._getframe(1).f_code.co_qualname}")
        object.__setattr__(call, name, value)

    async def handing_in(front: Front, call: Call) -> Any:
        seen.handed_in.add(id(call))
        try:
            return await handle(front, call)
        finally:
            seen.handed_in.discard(id(call))

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(Call, "__setattr__", guarded)
        patch.setattr(Front, "handle", handing_in)
        yield create_app(validate_responses=True), seen


@pytest.mark.parametrize("stream", [False, True], ids=["json", "stream"])
@pytest.mark.parametrize("chunked", [False, True], ids=["fast path", "connexion's path"])
@pytest.mark.parametrize("way", WAYS)
def test_no_room_below_the_edge_writes_into_the_call(frozen, way, chunked, stream):
    """Once the edge hands the call in (`Front.handle`), it is frozen: every fact comes back up in the outcome."""
    app, seen = frozen
    for _ in range(2):  # twice: the cached config's second call is a HIT
        status, body = _drive(app, {**BODY, "stream": stream}, chunked=chunked, headers=WAYS[way])
        assert status == (503 if way == "answered by a rule" else 200), body
    assert seen.handed_in == set() and not seen.writes, seen.writes
