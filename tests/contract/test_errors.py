"""Bad input gets a 4xx in the OpenAI error shape with a clear message, never a 500."""

from __future__ import annotations

import json

import pytest

from portkey_completions.app import create_app
from portkey_completions.testing import credentials
from support import AUTH, BASE, BODY, COMPLETIONS, declared
from support.calls import post


def assert_error(response, status: int, *, param=None, says: str = "") -> dict:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    error = response.json()["error"]
    assert set(error) == {"message", "type", "param", "code"}
    assert error["param"] == param
    assert says in error["message"]
    return error


def test_schema_violation_names_the_param(client):
    error = assert_error(post(client, {**BODY, "n": 0}), 400, param="n")
    assert error["message"] == "0 is less than the minimum of 1 - 'n'"
    assert error["type"] == "invalid_request_error"


@pytest.mark.parametrize(
    ("patch", "param"),
    [
        ({"temperature": 3}, "temperature"),
        ({"top_p": -0.1}, "top_p"),
        ({"logprobs": 6}, "logprobs"),
        ({"max_tokens": "16"}, "max_tokens"),
        ({"stop": ["a", "b", "c", "d", "e"]}, "stop"),
        ({"prompt": [[]]}, "prompt.0"),
        ({"logit_bias": {"50256": "x"}}, "logit_bias.50256"),
        ({"stream_options": {"include_usage": "yes"}}, "stream_options.include_usage"),
        ({"echo": 1}, "echo"),
    ],
)
def test_schema_violations(client, patch, param):
    assert_error(post(client, {**BODY, **patch}), 400, param=param)


def test_missing_required_field_is_named(client):
    body = {k: v for k, v in BODY.items() if k != "model"}
    assert_error(post(client, body), 400, param="model", says="'model' is a required property")


def test_body_must_be_an_object(client):
    assert_error(post(client, [1, 2]), 400, says="is not of type 'object'")


def test_malformed_json(client):
    assert_error(
        post(client, content=b'{"model": ', headers={"content-type": "application/json"}),
        400,
        says="could not parse the JSON body",
    )


def test_non_utf8_body(client):
    body = b'{"model": "\xff\xfe", "prompt": "x"}'
    assert_error(post(client, content=body, headers={"content-type": "application/json"}), 400, says="not valid utf-8")


def test_empty_body(client):
    assert_error(post(client, content=b"", headers={"content-type": "application/json"}), 400)


def test_wrong_content_type(client):
    response = post(client, content=b"model=x", headers={"content-type": "application/x-www-form-urlencoded"})
    assert_error(response, 415, says="application/json")


def test_body_over_the_limit_by_content_length():
    app = create_app(max_body_bytes=1000)
    with app.test_client() as client:
        body = {**BODY, "prompt": "x" * 2000}
        assert_error(post(client, body), 413, says="1000 bytes")


def test_body_over_the_limit_without_content_length():
    app = create_app(max_body_bytes=1000)

    def chunks():
        yield b'{"model": "babbage-002", "prompt": "'
        yield b"x" * 2000
        yield b'"}'

    with app.test_client() as client:
        response = client.post(COMPLETIONS, content=chunks(), headers={**AUTH, "content-type": "application/json"})
        assert_error(response, 413)


def test_invalid_content_length(client):
    response = client.post(
        COMPLETIONS, content=b"{}", headers={**AUTH, "content-type": "application/json", "content-length": "abc"}
    )
    assert_error(response, 400, says="Content-Length")


def test_unknown_path(client):
    assert_error(client.post(f"{BASE}/chat/completions", json=BODY, headers=AUTH), 404, says=COMPLETIONS)
    assert_error(client.get("/nowhere"), 404)


def test_wrong_method(client):
    response = client.get(COMPLETIONS, headers=AUTH)
    assert_error(response, 405, says="POST")
    assert "POST" in response.headers["allow"]


def test_auth_comes_before_body_validation(client):
    response = client.post(COMPLETIONS, json={"n": 0}, headers={"x-portkey-api-key": "k"})
    assert response.status_code == 401


def test_chunked_body_is_accepted(client):
    def chunks():
        yield b'{"model": "babbage-002", '
        yield b'"prompt": "hello"}'

    response = client.post(COMPLETIONS, content=chunks(), headers={**AUTH, "content-type": "application/json"})
    assert response.status_code == 200, response.text


# -- rules between fields, and the model table: schema-valid requests the engine refuses -------------


def error(client, status: int, **patch) -> dict:
    response = client.post(COMPLETIONS, json={**BODY, **patch}, headers=AUTH)
    assert response.status_code == status, response.text
    return response.json()["error"]


def test_unknown_model_is_404_model_not_found(client):
    err = error(client, 404, model="gpt-5-instruct")
    assert err["code"] == "model_not_found" and err["param"] == "model"
    assert "gpt-5-instruct" in err["message"]


@pytest.mark.parametrize(
    ("patch", "param"),
    [
        ({"n": 3, "best_of": 2}, "best_of"),
        ({"best_of": 0}, "best_of"),
        ({"stream": True, "best_of": 2}, "best_of"),
        pytest.param({"model": "davinci-002", "suffix": " end."}, "suffix", marks=declared("suffix")),
        pytest.param({"suffix": " end.", "echo": True}, "suffix", marks=declared("suffix")),
        ({"logit_bias": {"not-a-token": 1}}, "logit_bias"),
        ({"logit_bias": {"-5": 1}}, "logit_bias"),
        ({"logit_bias": {"100256": 1}}, "logit_bias"),  # a gap in cl100k's ids
        ({"logit_bias": {"50": 101}}, "logit_bias"),
        ({"logit_bias": {str(i): -1 for i in range(301)}}, "logit_bias"),
        ({"prompt": [1, 2, 100300]}, "prompt"),
        ({"prompt": [[1], [100261]]}, "prompt"),
    ],
)
def test_cross_field_rules_are_400_with_param(client, patch, param):
    err = error(client, 400, **patch)
    assert err["param"] == param and err["type"] == "invalid_request_error"
    assert err["message"]


def test_prompt_plus_max_tokens_over_the_window(client):
    err = error(client, 400, max_tokens=4092)  # 5 prompt tokens; gpt-3.5-turbo-instruct has 4096
    assert err["code"] == "context_length_exceeded" and err["param"] == "max_tokens"
    assert err["message"] == (
        "This model's maximum context length is 4096 tokens, however you requested 4097 tokens "
        "(5 in your prompt; 4092 for the completion). Please reduce your prompt; or completion length."
    )
    assert client.post(COMPLETIONS, json={**BODY, "max_tokens": 4091}, headers=AUTH).status_code == 200


def test_prompt_alone_over_the_window(client):
    err = error(client, 400, prompt=" hello" * 4097, max_tokens=None)
    assert err["code"] == "context_length_exceeded" and err["param"] == "prompt"
    # The same prompt fits a model with a larger window.
    ok = client.post(COMPLETIONS, json={**BODY, "model": "babbage-002", "prompt": " hello" * 4097}, headers=AUTH)
    assert ok.status_code == 200


@declared("suffix")
def test_suffix_counts_in_the_prompt_and_ends_the_insertion(client):
    response = client.post(COMPLETIONS, json={**BODY, "suffix": " of the model.", "max_tokens": 50}, headers=AUTH)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["usage"]["prompt_tokens"] == 5 + 4  # the suffix is input too
    assert not body["choices"][0]["text"].endswith(" of the model.")


def test_a_model_table_from_a_file(tmp_path):
    from portkey_completions.app import create_app
    from portkey_completions.engine import catalog

    path = tmp_path / "models.yaml"
    path.write_text("tiny-instruct: {context_window: 8, suffix: true}\n")
    app = create_app(models=catalog.load(path))
    with app.test_client() as c:
        ok = c.post(COMPLETIONS, json={**BODY, "model": "tiny-instruct", "max_tokens": 3}, headers=AUTH)
        assert ok.status_code == 200, ok.text
        assert ok.json()["model"] == "tiny-instruct"
        too_long = c.post(COMPLETIONS, json={**BODY, "model": "tiny-instruct", "max_tokens": 4}, headers=AUTH)
        assert too_long.json()["error"]["code"] == "context_length_exceeded"
        gone = c.post(COMPLETIONS, json=BODY, headers=AUTH)
        assert gone.status_code == 404


@pytest.mark.parametrize(
    "text", ["[]", "a: 1", "m: {context_window: 0}", "m: {context_window: 5, suffix: 1}", "m: {window: 5}"]
)
def test_a_bad_model_table_is_refused(tmp_path, text):
    from portkey_completions.engine import catalog

    path = tmp_path / "models.yaml"
    path.write_text(text)
    with pytest.raises(ValueError):
        catalog.load(path)


def test_a_request_for_too_many_tokens_is_refused(client):
    err = error(client, 400, prompt=["a", "b"], n=128, max_tokens=1000)
    assert err["code"] == "request_too_large" and err["param"] == "max_tokens"
    assert "256000" in err["message"] and "131072" in err["message"]


def test_max_tokens_null_shares_the_cap(client):
    # 20 candidates x up to 16k tokens each is over the cap: null means an equal share of it instead.
    body = {**BODY, "model": "babbage-002", "max_tokens": None, "n": 20, "best_of": 20, "temperature": 1}
    response = client.post(COMPLETIONS, json=body, headers=AUTH)
    assert response.status_code == 200, response.text
    assert response.json()["usage"]["completion_tokens"] <= 131_072


def test_headers_over_64_kib_are_431(client):
    response = client.post(COMPLETIONS, json=BODY, headers={**AUTH, "x-big": "a" * 70_000})
    assert response.status_code == 431
    assert response.json()["error"]["type"] == "invalid_request_error"


@pytest.mark.wire
def test_a_stalled_upload_is_408(start_stub):
    """Slowloris: headers, one byte of a 100-byte body, then nothing. The server answers 408 and moves on."""
    import socket
    import time

    from portkey_completions.testing.serving import free_port

    port = free_port()
    start_stub("--body-timeout", "1", port=port)  # a 1 s stall keeps the test short
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        head = "".join(f"{k}: {v}\r\n" for k, v in {**AUTH, "content-type": "application/json"}.items())
        sock.sendall(f"POST {COMPLETIONS} HTTP/1.1\r\nhost: x\r\n{head}content-length: 100\r\n\r\n{{".encode())
        started = time.monotonic()
        answer = sock.recv(4096)
        waited = time.monotonic() - started
        head, _, rest = answer.partition(b"\r\n\r\n")
        length = int(head.lower().split(b"content-length: ")[1].split(b"\r\n")[0])
        while len(rest) < length:  # the body may come in a second packet
            rest += sock.recv(4096)
        answer = head + b"\r\n\r\n" + rest
    # ...and moves on: the next request is answered (the stall's cancellation did not linger).
    import httpx

    after = httpx.post(f"http://127.0.0.1:{port}{COMPLETIONS}", json=BODY, headers=AUTH, timeout=10)
    assert answer.startswith(b"HTTP/1.1 408"), answer[:200]
    assert b"timeout_error" in answer and 0.9 <= waited < 5
    assert b"x-portkey-trace-id: " in answer  # like every answer under /v1, so that SDKs do not retry it
    assert after.status_code == 200, after.text


def test_a_bug_outside_connexions_handlers_is_still_a_500_in_the_openai_shape(monkeypatch):
    """connexion 3.3's last-resort handler is never awaited (a TypeError, a dropped connection);
    errors.ServerErrorMiddleware replaces it. A fault planted in the journal, our outermost layer:"""
    from portkey_completions.control import journal

    def broken(self, scope):
        raise RuntimeError("planted")

    monkeypatch.setattr(journal.Journal, "open", broken)
    with create_app().test_client(raise_server_exceptions=False) as client:
        response = post(client, BODY)
    error = assert_error(response, 500)
    assert error["type"] == "server_error" and "planted" not in error["message"]


@pytest.mark.parametrize("override", [{"max_tokens": "lots"}, {"n": 0}, {"prompt": {"a": 1}}])
def test_override_params_the_engine_cannot_take_are_the_configs_error(client, override):
    """The engine reads validated bodies; a config's override_params are checked where they are merged."""
    config = json.dumps({"provider": "openai", "api_key": "sk-x", "override_params": override})
    headers = {"x-portkey-api-key": credentials.API_KEY, "x-portkey-config": config}  # the config alternative alone
    response = client.post(COMPLETIONS, json=BODY, headers=headers)
    error = assert_error(response, 400, param="x-portkey-config", says="override_params")
    assert error["code"] == "invalid_config"
