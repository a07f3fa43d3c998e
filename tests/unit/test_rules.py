"""Scenario rules are checked by admin.yaml's RuleSpec, whether they come from a file, the admin API or Prefer."""

from __future__ import annotations

import pytest

from portkey_completions.control import rules, scenarios
from portkey_completions.core.alternatives import Alternative


@pytest.mark.parametrize(
    ("respond", "where"),
    [
        ({"fail_first": -2}, "respond.fail_first"),
        ({"status": 200}, "respond.status"),
        ({"jitter": 2}, "respond.jitter"),
        ({"tokens_per_second": 0}, "respond.tokens_per_second"),
        ({"times": 0}, "respond.times"),
        ({"colour": "red"}, "respond"),
        ({}, "respond"),
    ],
)
def test_a_file_rule_and_a_prefer_rule_are_refused_alike(respond, where):
    with pytest.raises(rules.RuleError, match=f"^{where}: ") as from_file:
        rules.rule({"respond": respond}, "file")
    prefer = ", ".join(f"{k}={v}" for k, v in respond.items())
    if prefer and "colour" not in respond:  # Prefer names its own unknown keys, before the schema
        with pytest.raises(rules.RuleError) as from_prefer:
            scenarios.from_prefer(prefer)
        assert str(from_prefer.value) == str(from_file.value)


def test_a_prompt_that_is_no_regex_is_refused():
    with pytest.raises(rules.RuleError, match=r"^match\.prompt: "):
        rules.rule({"match": {"prompt": "("}, "respond": {"text": "x"}}, "file")


def test_the_rule_schema_names_the_four_alternatives():
    schema = rules._rule_schema()["properties"]["match"]["properties"]["alternative"]
    assert schema["enum"] == list(Alternative)


def test_a_valid_rule_reads_its_fields():
    made = rules.rule({"match": {"alternative": "config"}, "respond": {"fail_first": 2, "retry_after": 1.5}}, "file")
    assert (made.alternative, made.fail_first, made.status) == ("config", 2, 500)
    assert made.response_headers == {"Retry-After": "1.5"}


def test_a_misspelt_key_is_named_beside_the_closest_known_one():
    with pytest.raises(rules.RuleError) as refused:
        rules.rule({"respond": {"disconect_after": 3}}, "file")
    assert str(refused.value).startswith("respond: unknown key 'disconect_after' (did you mean 'disconnect_after'?)")
    with pytest.raises(rules.RuleError, match=r"unknown preference 'latncy' \(did you mean 'latency'\?\)"):
        scenarios.from_prefer("latncy=1")
