"""The fast path changes speed, not answers: the same request gets the same verdict with it and without.

fastpath.py accepts a request only if its own checks (a jsonschema-rs validator compiled from
the effective spec, the auth table) pass, and leaves everything else to connexion. If its
validator were looser than connexion's, a request connexion refuses would be answered. hypothesis
draws bodies around a valid one, every field of the request schema given values of every JSON
type, and two in-process apps, with and without the fast path, must agree on status and error.
"""

from __future__ import annotations

import json

from hypothesis import given, settings

from portkey_completions.app import create_app
from support import AUTH, COMPLETIONS
from support.bodies import bodies

FAST, SLOW = create_app(), create_app(fast_path=False)


@settings(max_examples=300)
@given(body=bodies)
def test_the_fast_path_and_connexion_agree(body):
    content = json.dumps(body)
    with FAST.test_client() as fast, SLOW.test_client() as slow:
        a = fast.post(COMPLETIONS, content=content, headers={**AUTH, "content-type": "application/json"})
        b = slow.post(COMPLETIONS, content=content, headers={**AUTH, "content-type": "application/json"})
    assert a.status_code == b.status_code, (content, a.text, b.text)
    assert a.status_code < 500, (content, a.text)  # the engine reads only bodies a validator accepted
    if a.status_code != 200:
        assert a.json() == b.json(), content
    elif type(body.get("seed")) is int and not body.get("stream"):
        # Same seed, same engine: the same choices (ids and timestamps aside).
        assert a.json()["choices"] == b.json()["choices"], content
