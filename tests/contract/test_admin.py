"""The admin API and the journal: access, rules, journal entries (redacted), and schemathesis over admin.yaml."""

from __future__ import annotations

import json

import httpx
import pytest
import schemathesis
from hypothesis import settings

from portkey_completions.app import create_app
from portkey_completions.core import sse
from support import BASE, COMPLETIONS

TOKEN = "admin-secret-token"
ADMIN = {"x-admin-token": TOKEN}
AUTH = {"x-portkey-api-key": "pk-secret-key-1234", "x-portkey-virtual-key": "vk-secret-5678"}
BODY = {"model": "gpt-3.5-turbo-instruct", "prompt": "Say this is a test", "max_tokens": 5}


@pytest.fixture
def client():
    with create_app(admin_token=TOKEN).test_client() as c:
        yield c


# The in-process test client's address is "testclient": not loopback, so the token decides.
@pytest.mark.parametrize("path", ["/__admin/", "/__admin/health", "/__admin/rules", "/__admin/journal"])
def test_non_loopback_callers_need_the_token(client, path):
    refused = client.get(path)
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "admin_forbidden"
    assert client.get(path, headers={"x-admin-token": "wrong"}).status_code == 403
    assert client.get(path, headers=ADMIN).status_code == 200
    assert client.get(path, headers={"Authorization": f"Bearer {TOKEN}"}).status_code == 200


def test_without_a_token_only_loopback_gets_in():
    with create_app().test_client() as c:
        assert c.get("/__admin/health", headers=ADMIN).status_code == 403


def test_loopback_callers_get_in(portkey_stub):
    root = portkey_stub.base_url.removesuffix(BASE)
    assert httpx.get(f"{root}/__admin/health").json()["status"] == "ok"
    assert "portkey-stub" in httpx.get(f"{root}/__admin/").text


def test_rules_add_list_remove_clear(client):
    added = client.post("/__admin/rules", json={"match": {"prompt": "^Say"}, "respond": {"text": "ok"}}, headers=ADMIN)
    assert added.status_code == 201
    rule = added.json()
    assert client.post(COMPLETIONS, json=BODY, headers=AUTH).json()["choices"][0]["text"] == "ok"
    listed = client.get("/__admin/rules", headers=ADMIN).json()["rules"]
    assert [(r["id"], r["hits"]) for r in listed] == [(rule["id"], 1)]
    assert client.delete(f"/__admin/rules/{rule['id']}", headers=ADMIN).status_code == 204
    assert client.delete(f"/__admin/rules/{rule['id']}", headers=ADMIN).status_code == 404
    client.post("/__admin/rules", json={"respond": {"status": 503}}, headers=ADMIN)
    assert client.delete("/__admin/rules", headers=ADMIN).status_code == 204
    assert client.get("/__admin/rules", headers=ADMIN).json()["rules"] == []


@pytest.mark.parametrize(
    "spec",
    [{"respond": {}}, {"respond": {"colour": "red"}}, {"match": {"prompt": "("}, "respond": {"text": "x"}}, [1]],
)
def test_a_bad_rule_is_a_400(client, spec):
    response = client.post("/__admin/rules", json=spec, headers=ADMIN)
    assert response.status_code == 400 and response.json()["error"]["message"]


def test_the_journal_records_every_request_with_secrets_redacted(client):
    client.delete("/__admin/journal", headers=ADMIN)
    client.post("/__admin/rules", json={"match": {"prompt": "stream"}, "respond": {"text": "a b c"}}, headers=ADMIN)
    config = {"provider": "openai", "api_key": "sk-in-config-9999"}
    client.post(COMPLETIONS, json=BODY, headers=AUTH)
    with client.stream(
        "POST",
        COMPLETIONS,
        json={**BODY, "prompt": "stream me", "stream": True},
        headers={"x-portkey-api-key": "pk-secret-key-1234", "x-portkey-config": json.dumps(config)},
    ) as response:
        events = list(sse.iter_data(response.iter_bytes()))
    client.post(COMPLETIONS, json={**BODY, "n": 0}, headers=AUTH)
    plain, streamed, refused = client.get("/__admin/journal", headers=ADMIN).json()["entries"]
    text = json.dumps([plain, streamed, refused])
    for secret in ("pk-secret-key-1234", "vk-secret-5678", "sk-in-config-9999"):
        assert secret not in text
    assert plain["headers"]["x-portkey-api-key"] == "***1234"
    assert (plain["method"], plain["path"], plain["status"], plain["body"]) == ("POST", COMPLETIONS, 200, BODY)
    assert (plain["alternative"], plain["route"], plain["provider"], plain["rule"]) == (
        "virtual_key",
        "virtual_key",
        "stub",
        None,
    )
    assert plain["duration_ms"] > 0 and plain["done"]
    assert streamed["alternative"] == "config" and streamed["rule"] is not None
    assert streamed["events"] == len(events) > 2
    assert refused["status"] == 400
    assert client.get("/__admin/journal?since=2", headers=ADMIN).json()["entries"][0]["id"] == refused["id"]
    assert client.get("/__admin/journal?limit=0", headers=ADMIN).status_code == 400


def test_the_admin_spec_is_served(client):
    assert client.get("/__admin/openapi.yaml", headers=ADMIN).text.startswith("openapi: 3.0.3")


admin_schema = schemathesis.openapi.from_asgi("/__admin/openapi.yaml", create_app(admin_token=TOKEN), headers=ADMIN)
admin_schema.config.generation.update(
    modes=[schemathesis.GenerationMode.POSITIVE, schemathesis.GenerationMode.NEGATIVE]
)


@admin_schema.parametrize()
@settings(max_examples=40)
def test_admin_api_fuzzed(case):
    case.call_and_validate(headers=ADMIN)


def test_a_body_with_nan_is_journaled_as_text_and_the_journal_still_answers(client):
    """Python reads NaN as JSON; a journal holding it could not be sent (a 500): it keeps the text."""
    body = b'{"model": "gpt-3.5-turbo-instruct", "prompt": "x", "temperature": NaN}'
    headers = {"x-portkey-api-key": "pk", "x-portkey-virtual-key": "vk", "content-type": "application/json"}
    client.post(COMPLETIONS, content=body, headers=headers)
    journal = client.get("/__admin/journal", headers=ADMIN)
    assert journal.status_code == 200, journal.text
    assert journal.json()["entries"][-1]["body"] == body.decode()
