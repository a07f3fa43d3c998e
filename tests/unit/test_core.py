"""The core's single sources: Retry-After, bearer tokens, the alternatives' names, SSE event data."""

from __future__ import annotations

import email.utils

import pytest

from portkey_completions.call.security import Alternatives
from portkey_completions.core import headers, retry_after, sse
from portkey_completions.core.alternatives import Alternative

NOW = 1_800_000_000.0


def clock() -> float:
    return NOW


@pytest.mark.parametrize(
    ("given", "seconds"),
    [
        ({"retry-after": "2"}, 2.0),
        ({"retry-after": "0.25"}, 0.25),
        ({"retry-after": "-3"}, 0.0),  # never negative
        ({"retry-after-ms": "1500"}, 1.5),
        ({"retry-after-ms": "1500", "retry-after": "9"}, 1.5),  # the finer one wins
        ({"retry-after-ms": "soon", "retry-after": "9"}, 9.0),  # an unreadable one is skipped
        ({"retry-after": email.utils.formatdate(NOW + 30, usegmt=True)}, 30.0),
        ({"retry-after": email.utils.formatdate(NOW - 30, usegmt=True)}, 0.0),  # a date past: no wait
        ({"retry-after": "next tuesday"}, None),
        ({}, None),
    ],
)
def test_retry_after_reads_seconds_ms_and_dates(given, seconds):
    assert retry_after.seconds(given, now=clock) == seconds


def test_the_client_and_the_gateway_share_the_parser():
    import httpx

    from portkey_completions.client.retries import Retries

    response = httpx.Response(429, headers={"Retry-After-Ms": "250"})
    assert Retries(max_wait=1).delay(0, response) == 0.25
    assert Retries(max_wait=0.1).delay(0, response) is None  # longer than max_wait: not waited for


@pytest.mark.parametrize(
    ("value", "token"),
    [
        ("Bearer sk-1", "sk-1"),
        ("bearer   sk-1  ", "sk-1"),
        ("  Bearer sk-1", "sk-1"),
        ("Bearer", None),
        ("Bearer   ", None),
        ("Basic abc", None),
        ("", None),
        (None, None),
    ],
)
def test_bearer(value, token):
    assert headers.bearer(value) == token


def test_authorization_adds_bearer_once():
    assert headers.authorization("sk-1") == "Bearer sk-1"
    assert headers.authorization("Bearer sk-1") == "Bearer sk-1"


def test_openai_compatible_reads_a_bare_bearer_as_the_stub_provider():
    assert headers.openai_compatible({"authorization": "Bearer sk-1"}) == (
        ("x-portkey-api-key", "sk-1"),
        ("x-portkey-provider", "stub"),
    )
    assert headers.openai_compatible({"authorization": "Bearer sk-1", "x-portkey-api-key": "pk"}) == ()
    assert headers.openai_compatible({"authorization": "Basic x"}) == ()


def test_the_alternatives_are_the_specs():
    """A spec alternative adding the headers an Alternative names is that one, once; one no name covers is allowed.

    (It is served all the same: by the stub, or refused by name with a store; tests/harness/test_spec_changes.py.)"""
    table = Alternatives.from_spec("/completions", "post")
    added = [frozenset(s.header for s in a.schemes if s not in table.common) for a in table.alternatives]
    named = [Alternative.for_headers(h) for h in added]
    assert any(named), named  # the spec's alternatives include those this package names (for_headers: exactly)
    assert len([n for n in named if n]) == len({n for n in named if n})  # no two spec alternatives share a name


@pytest.mark.parametrize(
    ("event", "data"),
    [
        (b'data: {"a": 1}\n\n', '{"a": 1}'),
        (b"data:x\r\n\r\n", "x"),
        (b"data: a\ndata: b\n\n", "a\nb"),
        (b": comment\nid: 3\n\n", None),
        (b"data:\n\n", None),
        (b"event: e\rdata:  two spaces\r\r", " two spaces"),
        (b"data\n\n", None),
    ],
)
def test_sse_data_is_what_a_whatwg_parser_dispatches(event, data):
    assert sse.data(event) == data


BODY = b'data: {"a": 1}\r\n\r\n: a comment\n\ndata: two\rdata: lines\r\rid: 7\n\ndata: [DONE]\n\ndata: cut mid-ev'


def test_sse_events_are_read_whole_however_the_body_is_split():
    whole = sse.all_data(BODY)
    assert whole == ['{"a": 1}', "two\nlines", "[DONE]"]  # the cut last event is not dispatched
    for at in range(len(BODY) + 1):
        assert list(sse.iter_data([BODY[:at], BODY[at:]])) == whole, at
    assert list(sse.iter_data(BODY[i : i + 1] for i in range(len(BODY)))) == whole
