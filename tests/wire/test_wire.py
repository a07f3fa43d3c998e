"""Against a real uvicorn server on loopback: SSE on the wire, the official SDKs, the generated client."""

from __future__ import annotations

import json
import socket
import time
from urllib.parse import urlsplit

import httpx
import openai
import pytest
from portkey_ai import Portkey

from portkey_completions.core import sse
from portkey_completions.testing import credentials
from portkey_completions.testing.admin_client import AdminClient
from portkey_completions.testing.serving import wait_until
from portkey_completions_client import Client
from portkey_completions_client.api.completions import create_completion
from portkey_completions_client.models import CreateCompletionRequest, CreateCompletionResponse
from support import API_KEY, AUTH, BASE, BODY, COMPLETIONS, NO_END

pytestmark = pytest.mark.wire


def raw_chunks(url: str, body: dict) -> tuple[str, list[bytes]]:
    """POST over a bare socket and return the status line and the HTTP/1.1 chunks as framed."""
    host, port = urlsplit(url).hostname, urlsplit(url).port
    payload = json.dumps(body).encode()
    head = "".join(f"{k}: {v}\r\n" for k, v in {**AUTH, "Content-Type": "application/json"}.items())
    request = (
        f"POST {COMPLETIONS} HTTP/1.1\r\nHost: {host}\r\n{head}Content-Length: {len(payload)}\r\n"
        "Connection: close\r\n\r\n"
    ).encode() + payload
    with socket.create_connection((host, port), timeout=10) as sock:
        sock.sendall(request)
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    header, _, rest = data.partition(b"\r\n\r\n")
    assert b"transfer-encoding: chunked" in header.lower(), header
    chunks = []
    while True:
        size_line, _, rest = rest.partition(b"\r\n")
        size = int(size_line, 16)
        if size == 0:
            break
        chunks.append(rest[:size])
        rest = rest[size + 2 :]
    return header.split(b"\r\n", 1)[0].decode(), chunks


def test_stream_is_sent_event_by_event(server):
    """Each SSE event leaves the server as its own HTTP chunk: streamed as generated, not buffered."""
    status, chunks = raw_chunks(
        server,
        {**BODY, "stream": True, "max_tokens": 20, "logit_bias": NO_END, "stream_options": {"include_usage": True}},
    )
    assert status.endswith("200 OK")
    assert len(chunks) >= 20 + 2
    events = [c for c in chunks if c.strip()]
    assert all(e.startswith(b"data: ") and e.endswith(b"\n\n") and e.count(b"\n\n") == 1 for e in events)
    assert events[-1] == b"data: [DONE]\n\n"
    usage = json.loads(events[-2][len(b"data: ") :])
    assert usage["choices"] == [] and usage["usage"]["completion_tokens"] == 20
    text_chunks = [json.loads(e[len(b"data: ") :]) for e in events[:-2]]
    assert all(c["usage"] is None for c in text_chunks)
    assert [c["choices"][0]["finish_reason"] for c in text_chunks][-1] == "length"


def test_curl_example_from_the_readme(server):
    response = httpx.post(f"{server}{COMPLETIONS}", json=BODY, headers=AUTH)
    assert response.status_code == 200
    assert response.json()["object"] == "text_completion"


# -- the official openai SDK -------------------------------------------------------------------


@pytest.fixture
def openai_client(server):
    # The bearer + provider alternative: the SDK sends its api_key as Authorization: Bearer.
    return openai.OpenAI(
        base_url=f"{server}{BASE}",
        api_key=credentials.BEARER,
        default_headers={**API_KEY, "x-portkey-provider": "openai"},
        max_retries=0,
    )


def test_openai_sdk(openai_client):
    completion = openai_client.completions.create(
        model="gpt-3.5-turbo-instruct", prompt="Say this is a test", max_tokens=7, n=2, logit_bias=NO_END
    )
    assert [c.index for c in completion.choices] == [0, 1]
    assert completion.usage.completion_tokens == 14
    assert all(c.finish_reason == "length" for c in completion.choices)


def test_openai_sdk_every_option_at_once(openai_client):
    """logprobs, echo, n, best_of and stop together: one consistent, spec-valid object."""
    prompt = "The model reads the prompt"
    completion = openai_client.completions.create(
        model="gpt-3.5-turbo-instruct", prompt=prompt, logprobs=3, echo=True, n=2, best_of=3, stop=["."], seed=5
    )
    assert [c.index for c in completion.choices] == [0, 1]
    prompt_tokens = completion.usage.prompt_tokens
    assert prompt_tokens == 5
    for choice in completion.choices:
        assert choice.text.startswith(prompt)
        assert "." not in choice.text
        lp = choice.logprobs
        assert len(lp.tokens) == len(lp.token_logprobs) == len(lp.top_logprobs) == len(lp.text_offset)
        assert "".join(lp.tokens) == choice.text
        assert lp.token_logprobs[0] is None and lp.top_logprobs[0] is None
        assert all(x <= 0 for x in lp.token_logprobs[1:])
        assert all(3 <= len(top) <= 4 for top in lp.top_logprobs[1:])
        assert [choice.text[o:].startswith(t) for t, o in zip(lp.tokens, lp.text_offset, strict=True)] == [True] * len(
            lp.tokens
        )
        assert choice.finish_reason in ("stop", "length")
    # best_of=3 candidates were generated and are all counted; each returned one is in the total.
    generated = sum(len(c.logprobs.tokens) - prompt_tokens for c in completion.choices)
    assert completion.usage.completion_tokens >= generated
    assert completion.system_fingerprint.startswith("fp_")


def test_openai_sdk_stream(openai_client):
    stream = openai_client.completions.create(
        model="gpt-3.5-turbo-instruct",
        prompt="Say this is a test",
        max_tokens=5,
        logit_bias=NO_END,
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = list(stream)
    text = "".join(c.choices[0].text for c in chunks if c.choices)
    assert text.strip()
    assert chunks[-1].usage.completion_tokens == 5
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "length"


def test_openai_sdk_sees_errors_as_exceptions(openai_client):
    with pytest.raises(openai.BadRequestError) as info:
        openai_client.completions.create(model="gpt-3.5-turbo-instruct", prompt="x", n=0)
    assert info.value.body["param"] == "n"


def test_plain_openai_requests_in_openai_compatible_mode(server):
    """`--openai-compatible` (the test server runs with it): a bearer alone is an OpenAI request, for the stub.

    It is answered as an OpenAI upstream answers: no x-portkey-* header (a gateway in front would
    merge ours into its own). The journal says which provider answered.
    """
    client = openai.OpenAI(base_url=f"{server}{BASE}", api_key=credentials.BEARER, max_retries=0)
    completion = client.completions.with_raw_response.create(model="gpt-3.5-turbo-instruct", prompt="x")
    assert not [name for name in completion.headers if name.lower().startswith("x-portkey-")], completion.headers
    assert completion.parse().choices
    with AdminClient.at(server) as admin:
        entry = admin.journal.entries[-1]
    # Journaled as what it was: a plain OpenAI request, not the provider alternative it stands for.
    assert (entry["alternative"], entry["provider"]) == ("openai_compatible", "stub")
    # Without even a bearer it is still a 401.
    response = httpx.post(f"{server}{COMPLETIONS}", json=BODY)
    assert response.status_code == 401 and response.json()["error"]["code"] == "missing_credentials"


# -- the official portkey-ai SDK ---------------------------------------------------------------


@pytest.fixture
def portkey(server):
    return Portkey(
        api_key=credentials.API_KEY, virtual_key=credentials.VIRTUAL_KEY, base_url=f"{server}{BASE}", max_retries=0
    )


def test_portkey_sdk(portkey):
    completion = portkey.completions.create(
        model="gpt-3.5-turbo-instruct", prompt="Say this is a test", max_tokens=7, temperature=0, logit_bias=NO_END
    )
    assert completion.choices[0].finish_reason == "length"
    assert completion.usage.total_tokens == completion.usage.prompt_tokens + 7


def test_portkey_sdk_stream(portkey):
    chunks = list(
        portkey.completions.create(
            model="gpt-3.5-turbo-instruct", prompt="Say this is a test", max_tokens=4, logit_bias=NO_END, stream=True
        )
    )
    assert len([c for c in chunks if c.choices]) == 4
    assert chunks[-1].choices[0].finish_reason == "length"


@pytest.mark.parametrize("name", ["config", "custom_host"])
def test_portkey_sdk_other_alternatives(server, header_sets, name):
    headers = header_sets[name]
    kwargs = (
        {"config": dict(credentials.CONFIG)}
        if name == "config"
        else {
            "provider": "openai",
            "Authorization": headers["authorization"],
            "custom_host": headers["x-portkey-custom-host"],
        }
    )
    client = Portkey(api_key=credentials.API_KEY, base_url=f"{server}{BASE}", max_retries=0, **kwargs)
    completion = client.completions.create(model="gpt-3.5-turbo-instruct", prompt="hi", max_tokens=2)
    assert len(completion.choices) == 1


# -- the generated client ----------------------------------------------------------------------


def test_generated_client(server):
    client = Client(base_url=f"{server}{BASE}", headers=AUTH)
    request = CreateCompletionRequest.from_dict(
        {"model": "gpt-3.5-turbo-instruct", "prompt": "Say this is a test", "max_tokens": 7, "logit_bias": NO_END}
    )
    with client:
        response = create_completion.sync_detailed(client=client, body=request)
    assert response.status_code == 200
    assert isinstance(response.parsed, CreateCompletionResponse)
    assert response.parsed.usage.completion_tokens == 7
    assert response.parsed.choices[0].finish_reason.value == "length"


def test_generated_client_parses_echoed_logprobs(server):
    client = Client(base_url=f"{server}{BASE}", headers=AUTH)
    request = CreateCompletionRequest.from_dict(
        {
            "model": "gpt-3.5-turbo-instruct",
            "prompt": "Say this is a test",
            "max_tokens": 3,
            "echo": True,
            "logprobs": 2,
        }
    )
    with client:
        parsed = create_completion.sync(client=client, body=request)
    assert isinstance(parsed, CreateCompletionResponse)
    logprobs = parsed.choices[0].logprobs
    assert logprobs.token_logprobs[0] is None and logprobs.top_logprobs[0] is None
    assert logprobs.tokens[:5] == ["Say", " this", " is", " a", " test"]
    assert all(len(top.to_dict()) in (2, 3) for top in logprobs.top_logprobs[1:])


def test_serve_with_two_workers_answers_from_two_processes(start_stub):
    """`serve --workers 2`: uvicorn's worker processes, each with its own app (ids carry a per-process prefix)."""
    url = start_stub("--workers", "2", "--state", "per-process", "--log-level", "warning")
    prefixes = set()
    for _ in range(60):
        # A new connection each time, so the kernel spreads them over the workers.
        response = httpx.post(f"{url}{COMPLETIONS}", json={**BODY, "max_tokens": 1}, headers=AUTH)
        assert response.status_code == 200
        prefixes.add(response.json()["id"][:-8])
        if len(prefixes) == 2:
            break
    assert len(prefixes) == 2


@pytest.mark.parametrize(
    "workers", [[], ["--workers", "2", "--state", "per-process"]], ids=["one process", "two workers"]
)
def test_sigterm_ends_streams_cleanly_and_refuses_new_connections(tmp_path, workers):
    """A shutdown mid-stream: the stream ends with an error event (a complete response), then the port closes.

    With --workers, uvicorn runs its own server in each worker process; SIGTERM to the parent
    must end the stream there too, rather than hold the shutdown until it is done."""
    import signal

    from portkey_completions.testing import serving

    rules = tmp_path / "slow.yaml"
    rules.write_text("rules:\n  - respond: {tokens_per_second: 20}\n")
    started: list = []
    with serving.stub("--scenarios", str(rules), *workers, "--log-level", "warning", started=started) as url:
        body = {**BODY, "stream": True, "max_tokens": 400, "logit_bias": NO_END}
        events = []
        begun = time.monotonic()
        with httpx.stream("POST", f"{url}{COMPLETIONS}", json=body, headers=AUTH, timeout=20) as response:
            for data in sse.iter_data(response.iter_bytes()):
                events.append(data)
                if len(events) == 3:
                    started[0].send_signal(signal.SIGTERM)
        # The response ended cleanly (no protocol error above), on an error event that says why.
        last = json.loads(events[-1])
        assert last["error"]["code"] == "server_shutting_down", events[-3:]
        # 400 tokens at 20/s would take 20 s; the drain ended it at once.
        assert len(events) < 400 and time.monotonic() - begun < 10

        # uvicorn sees the signal at its next tick (0.1 s) and closes the port then; the stream may end
        # sooner (its next event), and on a loaded machine a request can slip into that window.
        # With workers the parent holds the listening socket until it exits, so the kernel takes a
        # connection and then resets it: refused all the same (an idle worker may answer one first).
        def refused() -> bool:
            try:
                httpx.post(f"{url}{COMPLETIONS}", json=BODY, headers=AUTH, timeout=5)
            except httpx.ConnectError:
                return True
            except httpx.TransportError:
                return bool(workers)  # a reset is a refusal only where the parent holds the socket
            return False

        wait_until(refused, timeout=2 if not workers else 5, what="new connections refused after SIGTERM", interval=0.1)
        if not workers:
            return
        assert started[0].wait(timeout=10) in (0, -signal.SIGTERM)


def test_clients_that_leave_mid_stream_leave_no_task_behind(server):
    """Twenty long streams, each abandoned after a few events: the server's live tasks go back to
    where they were (health counts asyncio tasks), within a couple of seconds."""

    def tasks() -> int:
        with AdminClient.at(server) as admin:
            return admin.health()["tasks"]

    before = tasks()
    body = {**BODY, "stream": True, "max_tokens": 3000, "logit_bias": NO_END, "model": "davinci-002"}
    for _ in range(20):
        with httpx.stream("POST", f"{server}{COMPLETIONS}", json=body, headers=AUTH, timeout=10) as response:
            for i, _line in enumerate(response.iter_lines()):
                if i == 6:
                    break
    wait_until(lambda: tasks() <= before, timeout=3, what="the abandoned streams' tasks to end")


def test_every_answer_carries_the_portkey_headers(server):
    """Refusals of every layer too: connexion's 400 and 401, and the gateway's."""
    answers = [
        httpx.post(f"{server}{COMPLETIONS}", json={**BODY, "n": 0}, headers=AUTH),  # connexion's 400
        httpx.post(f"{server}{COMPLETIONS}", json=BODY, headers=API_KEY),  # connexion's 401
        httpx.post(f"{server}{COMPLETIONS}", json={**BODY, "model": "nope"}, headers=AUTH),  # the engine's 404
        httpx.post(f"{server}{COMPLETIONS}", json=BODY, headers=AUTH),  # the fast path's 200
    ]
    for answer in answers:
        assert answer.headers.get("x-portkey-trace-id"), (answer.status_code, answer.headers)
    traced = httpx.post(f"{server}{COMPLETIONS}", json={**BODY, "n": 0}, headers={**AUTH, "x-portkey-trace-id": "t-1"})
    assert traced.headers["x-portkey-trace-id"] == "t-1"
    # A plain OpenAI request's refusal has none, as its answers have none (--openai-compatible).
    refused = httpx.post(f"{server}{COMPLETIONS}", json={**BODY, "n": 0}, headers={"Authorization": "Bearer sk"})
    assert refused.status_code == 400 and not [n for n in refused.headers if n.startswith("x-portkey-")]
