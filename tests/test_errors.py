"""Bad input gets a 4xx in the OpenAI error shape with a clear message, never a 500."""

from __future__ import annotations

import pytest

from conftest import AUTH, BODY
from portkey_completions.app import create_app


def assert_error(response, status: int, *, param=None, says: str = "") -> dict:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    error = response.json()["error"]
    assert set(error) == {"message", "type", "param", "code"}
    assert error["param"] == param
    assert says in error["message"]
    return error


def post(client, body=None, *, content=None, headers=None):
    return client.post(
        "/v1/completions",
        json=body if content is None else None,
        content=content,
        headers={**AUTH, **(headers or {})},
    )


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
        response = client.post(
            "/v1/completions", content=chunks(), headers={**AUTH, "content-type": "application/json"}
        )
        assert_error(response, 413)


def test_invalid_content_length(client):
    response = client.post(
        "/v1/completions", content=b"{}", headers={**AUTH, "content-type": "application/json", "content-length": "abc"}
    )
    assert_error(response, 400, says="Content-Length")


def test_unknown_path(client):
    assert_error(client.post("/v1/chat/completions", json=BODY, headers=AUTH), 404, says="/v1/completions")
    assert_error(client.get("/nowhere"), 404)


def test_wrong_method(client):
    response = client.get("/v1/completions", headers=AUTH)
    assert_error(response, 405, says="POST")
    assert "POST" in response.headers["allow"]


def test_auth_comes_before_body_validation(client):
    response = client.post("/v1/completions", json={"n": 0}, headers={"x-portkey-api-key": "k"})
    assert response.status_code == 401


def test_chunked_body_is_accepted(client):
    def chunks():
        yield b'{"model": "babbage-002", '
        yield b'"prompt": "hello"}'

    response = client.post("/v1/completions", content=chunks(), headers={**AUTH, "content-type": "application/json"})
    assert response.status_code == 200, response.text
