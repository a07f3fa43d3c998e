"""Record and replay, as processes on loopback: `portkey-stub record` in front of an upstream, then `serve --replay`."""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from portkey_completions.testing import credentials, serving
from portkey_completions.testing.serving import free_port, process, stub_command, wait_until
from support import BASE, COMPLETIONS

pytestmark = pytest.mark.wire

PORTKEY = credentials.headers("virtual_key")
PLAIN = {"model": "gpt-3.5-turbo-instruct", "prompt": "Say this is a test", "max_tokens": 12, "temperature": 1.3}
STREAMED = {**PLAIN, "prompt": "Once upon a time", "stream": True, "max_tokens": 20, "logit_bias": {"100257": -100}}


@contextlib.contextmanager
def recording(upstream: str, path: Path) -> Iterator[str]:
    """`portkey-stub record` in front of `upstream` into the cassette at `path`; yields its URL."""
    port = free_port()
    argv = stub_command("record", "--upstream", upstream, "--cassette", str(path), "--port", str(port))
    with process([*argv, "--log-level", "warning"], port) as url:
        yield url


def wait_for(path: Path, interactions: int) -> dict:
    def written() -> dict | None:
        if not path.exists():
            return None
        data = json.loads(path.read_text())
        return data if len(data["interactions"]) >= interactions else None

    return wait_until(written, timeout=10, what=f"{path} to hold {interactions} interactions")


def raw_post(url: str, body: dict, headers: dict) -> tuple[int, bytes, list[bytes]]:
    with httpx.stream("POST", f"{url}{COMPLETIONS}", json=body, headers=headers, timeout=30) as response:
        raw = b"".join(response.iter_raw())
        status = response.status_code
    events = [e for e in raw.split(b"\n\n") if e]
    return status, raw, events


@pytest.fixture(scope="module")
def cassette(tmp_path_factory, upstream) -> tuple[Path, dict[str, bytes]]:
    """A cassette recorded from a live upstream, and the bytes the recording client received."""
    path = tmp_path_factory.mktemp("cassette") / "completions.json"
    with recording(f"{upstream}{BASE}", path) as recorder:
        bearer = {"Authorization": "Bearer sk-upstream"}  # the upstream runs --openai-compatible
        received = {
            "plain": raw_post(recorder, PLAIN, bearer)[1],
            "streamed": raw_post(recorder, STREAMED, bearer)[1],
        }
        wait_for(path, 2)
    return path, received


@pytest.fixture(scope="module")
def replayer(cassette) -> str:
    path, _ = cassette
    with serving.stub("--replay", str(path), "--replay-speed", "0", "--log-level", "warning") as url:
        yield url


def test_the_cassette_holds_requests_and_timed_chunks(cassette):
    path, _ = cassette
    plain, streamed = json.loads(path.read_text())["interactions"]
    assert plain["request"]["body"] == PLAIN and streamed["request"]["body"] == STREAMED
    assert streamed["response"]["status"] == 200
    times = [t for t, _ in streamed["response"]["chunks"]]
    assert times == sorted(times) and len(times) > 5


def test_a_replay_is_byte_identical(cassette, replayer):
    _, received = cassette
    status, raw, _ = raw_post(replayer, PLAIN, PORTKEY)
    assert status == 200 and raw == received["plain"]
    status, raw, events = raw_post(replayer, STREAMED, PORTKEY)
    assert status == 200 and raw == received["streamed"]
    recorded_events = [e for e in received["streamed"].split(b"\n\n") if e]
    assert events == recorded_events and events[-1] == b"data: [DONE]"


def test_an_unmatched_request_names_the_closest_recorded_one(replayer):
    response = httpx.post(f"{replayer}{COMPLETIONS}", json={**PLAIN, "max_tokens": 13}, headers=PORTKEY)
    assert response.status_code == 404
    error = response.json()["error"]
    assert error["code"] == "no_recorded_response"
    assert '"max_tokens":12' in error["message"] and "Say this is a test" in error["message"]


def test_a_replayed_answer_counts_its_request_in_the_coverage(replayer):
    def streamed() -> int:
        report = httpx.get(f"{replayer}/__admin/coverage").raise_for_status().json()
        (operation,) = [o for o in report["operations"] if o["operation"] == f"POST {COMPLETIONS}"]
        (streaming,) = [d for d in operation["dimensions"] if d["dimension"] == "streaming"]
        return next(i["count"] for i in streaming["items"] if i["name"] == "streamed")

    before = streamed()
    assert raw_post(replayer, STREAMED, PORTKEY)[0] == 200
    assert streamed() == before + 1


def test_replay_keeps_the_recorded_pace_or_scales_it(tmp_path, scripted):
    """An upstream that streams 5 events 0.1 s apart: replayed at speed 1 and at speed 4."""
    events = [f"data: {json.dumps({'n': i})}" for i in range(5)] + ["data: [DONE]"]
    scripted.script([{"events": events, "interval": 0.1}])
    path = tmp_path / "paced.json"
    with recording(f"{scripted.url}{BASE}", path) as recorder:
        raw_post(recorder, STREAMED, {"Authorization": "Bearer sk"})
        wait_for(path, 1)
    for speed, low, high in [("1", 0.4, 1.5), ("4", 0.08, 0.35)]:
        with serving.stub("--replay", str(path), "--replay-speed", speed, "--log-level", "warning") as url:
            started = time.monotonic()
            _, _, got = raw_post(url, STREAMED, PORTKEY)
            elapsed = time.monotonic() - started
        assert [e.decode() for e in got] == events
        assert low <= elapsed <= high, (speed, elapsed)
