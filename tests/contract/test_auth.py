"""The four auth alternatives: each passes, and any one header short is a 401 in the OpenAI shape."""

from __future__ import annotations

import pytest

from portkey_completions.call.security import Alternatives
from portkey_completions.core import spec
from support import ALTERNATIVES, BODY, COMPLETIONS


@pytest.fixture(scope="module")
def alternatives() -> Alternatives:
    return Alternatives.from_spec("/completions", "post")


def test_table_is_read_from_the_spec(alternatives):
    """The table is the spec's security list as it stands: its alternatives, in its order."""
    effective = spec.load()
    requirements = effective["paths"]["/completions"]["post"].get("security", effective.get("security"))
    assert [sorted(a.names) for a in alternatives.alternatives] == [sorted(r) for r in requirements]
    in_all = set.intersection(*(set(r) for r in requirements))
    assert {s.name for s in alternatives.common} == in_all  # what every alternative needs (the Portkey key)


@pytest.mark.parametrize("name", ALTERNATIVES)
def test_each_alternative_matches_itself(alternatives, name):
    headers = {k.lower(): v for k, v in ALTERNATIVES[name].items()}
    matched = alternatives.match(headers)
    expected = {
        "virtual_key": "Virtual-Key",
        "provider": "Provider-Name",
        "config": "Config",
        "custom_host": "Custom-Host",
    }[name]
    assert matched is not None and expected in matched.names
    # Custom host also satisfies bearer + provider: the most specific one wins.
    if name == "custom_host":
        assert len(matched.schemes) == 4


@pytest.mark.parametrize("name", ALTERNATIVES)
def test_each_alternative_gets_200(client, header_sets, name):
    response = client.post(COMPLETIONS, json=BODY, headers=header_sets[name])
    assert response.status_code == 200, response.text
    assert response.json()["object"] == "text_completion"


ONE_SHORT = [
    pytest.param(name, dropped, id=f"{name}-without-{dropped}")
    for name, headers in ALTERNATIVES.items()
    for dropped in headers
]


@pytest.mark.parametrize(("name", "dropped"), ONE_SHORT)
def test_any_one_header_short_is_401(client, name, dropped):
    headers = {k: v for k, v in ALTERNATIVES[name].items() if k != dropped}
    response = client.post(COMPLETIONS, json=BODY, headers=headers)
    if name == "custom_host" and dropped == "x-portkey-custom-host":
        # What is left is the complete bearer + provider alternative.
        assert response.status_code == 200
        return
    assert response.status_code == 401
    assert response.headers["www-authenticate"].startswith("ApiKey")
    error = response.json()["error"]
    assert set(error) == {"message", "type", "param", "code"}
    assert error["type"] == "authentication_error"
    assert error["code"] == "missing_credentials"
    # The message names what is missing.
    label = "Authorization: Bearer" if dropped == "authorization" else dropped
    assert label in error["message"]


@pytest.mark.parametrize(
    ("headers", "says"),
    [
        ({}, "Missing x-portkey-api-key header"),
        ({"x-portkey-api-key": "k"}, "No provider credentials"),
        ({"x-portkey-api-key": "k", "authorization": "Bearer t"}, "missing x-portkey-provider"),
        ({"x-portkey-api-key": "k", "x-portkey-provider": "openai"}, "missing Authorization: Bearer"),
        ({"x-portkey-api-key": "k", "authorization": "Basic dTpw", "x-portkey-provider": "o"}, "Authorization: Bearer"),
        ({"x-portkey-api-key": "  ", "x-portkey-virtual-key": "vk"}, "Missing x-portkey-api-key"),
    ],
)
def test_explain_names_what_to_add(alternatives, headers, says):
    assert alternatives.match(headers) is None
    assert says in alternatives.explain(headers)


def test_empty_header_is_no_credential(client):
    headers = {"x-portkey-api-key": "pk", "x-portkey-virtual-key": ""}
    response = client.post(COMPLETIONS, json=BODY, headers=headers)
    assert response.status_code == 401


def test_bearer_without_token_is_401(client):
    headers = {"x-portkey-api-key": "pk", "Authorization": "Bearer", "x-portkey-provider": "openai"}
    response = client.post(COMPLETIONS, json=BODY, headers=headers)
    assert response.status_code == 401
    assert response.json()["error"]["type"] == "authentication_error"
