"""What the tests share: request constants, the header set of each auth alternative, one hypothesis profile.

Servers are started and waited for with `portkey_completions.testing.serving` (the plugin's and
the scripts' way too); fixtures live in `tests/conftest.py`.
"""

from __future__ import annotations

import collections
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

from portkey_completions.core import spec
from portkey_completions.core.alternatives import Alternative
from portkey_completions.testing import credentials

ROOT = Path(__file__).resolve().parents[2]
SCRIPTED_SERVER = Path(__file__).resolve().with_name("scripted_server.py")

# The API's base path and the completions path, as the spec says them (`servers`): a spec that
# moves the base path moves the tests with it.
BASE = spec.base_path()
COMPLETIONS = BASE + "/completions"

# The request fields the spec declares: a test of one the spec no longer has skips, naming it.
REQUEST_FIELDS = frozenset(spec.schema("CreateCompletionRequest").get("properties", {}))


def declared(*fields: str) -> pytest.MarkDecorator:
    """Skip a test of `fields` when the spec no longer declares them (a field removed by a spec update)."""
    missing = [f for f in fields if f not in REQUEST_FIELDS]
    return pytest.mark.skipif(bool(missing), reason=f"the spec no longer declares {', '.join(missing)}")


API_KEY = {"x-portkey-api-key": credentials.API_KEY}

# One complete header set per auth alternative of the spec, in spec order, from the testing kit's
# credentials. Their custom host is a closed port: enough for matching and refusals. A test that
# sends it to be answered takes the `header_sets` fixture, whose custom host is a real upstream.
NOWHERE = "http://127.0.0.1:9/v1"
ALTERNATIVES = {a.value: credentials.headers(a, custom_host=NOWHERE) for a in Alternative}
AUTH = ALTERNATIVES["virtual_key"]

# Banning <|endoftext|> (a real logit_bias) makes a choice run to max_tokens: finish_reason "length".
NO_END = {"100257": -100}

# Status codes schemathesis saw, filled by test_schemathesis.py and printed at the end of the run.
FUZZ_STATUSES: collections.Counter[int] = collections.Counter()

BODY = {"model": "gpt-3.5-turbo-instruct", "prompt": "Say this is a test", "max_tokens": 7, "temperature": 0}

# One hypothesis profile for every property test: repeatable (derandomized, no example database),
# no deadline (a loaded 2-core machine is slow at times), and health checks off because the
# strategies build whole request bodies on purpose. A test sets only its own max_examples.
settings.register_profile(
    "portkey", deadline=None, derandomize=True, database=None, suppress_health_check=list(HealthCheck)
)
settings.load_profile("portkey")
