"""Conditional routing's queries and the config keys, as Portkey defines them (and checked when read)."""

from __future__ import annotations

import pytest

from portkey_completions.gateway import conditions, config

CONTEXT = {"metadata": {"user_plan": "paid", "region": "eu-west", "tier": "3"}, "params": {"max_tokens": 64, "n": 2}}


@pytest.mark.parametrize(
    ("query", "holds"),
    [
        ({"metadata.user_plan": {"$eq": "paid"}}, True),
        ({"metadata.user_plan": "paid"}, True),  # a plain value is equality
        ({"metadata.user_plan": {"$ne": "paid"}}, False),
        ({"params.max_tokens": {"$gt": 50, "$lte": 64}}, True),
        ({"params.max_tokens": {"$lt": 64}}, False),
        ({"metadata.tier": {"$gte": 3}}, True),  # numbers as Portkey reads them: "3" is 3
        ({"metadata.region": {"$gt": 1}}, False),  # not a number: never ordered
        ({"metadata.region": {"$in": ["eu-west", "us-east"]}}, True),
        ({"metadata.region": {"$nin": ["eu-west"]}}, False),
        ({"metadata.region": {"$regex": "^eu-"}}, True),
        ({"params.n": {"$regex": "2"}}, False),  # a regex reads text only
        ({"metadata.missing": {"$eq": None}}, True),
        ({"$or": [{"metadata.user_plan": "free"}, {"params.n": 2}]}, True),
        ({"$and": [{"metadata.user_plan": "paid"}, {"params.n": 3}]}, False),
        ({"metadata.user_plan": "paid", "params.n": 1}, False),  # every key must hold
    ],
)
def test_queries_hold_as_portkey_evaluates_them(query, holds):
    conditions.check(query, "q")
    assert conditions.holds(query, CONTEXT) is holds


@pytest.mark.parametrize(
    ("query", "says"),
    [
        ({"metadata.plan": {"$equals": "x"}}, "unknown operator '$equals' (did you mean '$eq'?)"),
        ({"$nor": []}, "unknown operator '$nor'"),
        ({"user_plan": "x"}, "is not metadata.<key> or params.<key>"),
        ({"metadata.plan": {"$in": "x"}}, "$in must be a list"),
        ({"metadata.plan": {"$regex": "("}}, "$regex does not compile"),
        ({"$and": {}}, "$and must be a non-empty list"),
    ],
)
def test_a_query_that_cannot_be_evaluated_is_refused_when_read(query, says):
    with pytest.raises(conditions.QueryError, match=None) as refused:
        conditions.check(query, "q")
    assert says in str(refused.value)


CONDITIONAL = {
    "strategy": {
        "mode": "conditional",
        "conditions": [{"query": {"metadata.user_plan": {"$eq": "paid"}}, "then": "paid"}],
        "default": "free",
    },
    "targets": [{"name": "paid", "provider": "openai"}, {"name": "free", "provider": "stub"}],
}


@pytest.mark.parametrize(
    ("change", "says"),
    [
        ({"retyr": {"attempts": 2}}, "config: unknown key 'retyr' (did you mean 'retry'?)"),
        (
            {"strategy": {**CONDITIONAL["strategy"], "defualt": "free"}},
            "unknown key 'defualt' (did you mean 'default'?)",
        ),
        (
            {"strategy": {**CONDITIONAL["strategy"], "default": "gone"}},
            "config.strategy.default names no target: 'gone'",
        ),
        ({"cache": {"mode": "exact"}}, "config.cache.mode 'exact' is not one of simple, semantic"),
        ({"cache": {"mode": "semantic"}}, "mode semantic is not supported here"),
        (
            {"cache": {"mode": "simple", "max_age": 0}},
            "config.cache.max_age must be a number greater than 0, at most 7776000 (seconds)",
        ),
        ({"before_request_hooks": [{"id": "guard"}]}, "before_request_hooks is not supported here: hooks"),
        ({"aws_region": "eu-west-1"}, "aws_region is not supported here: it is for AWS Bedrock"),
        ({"forward_headers": ["x ok"]}, "config.forward_headers[0] must be a header name"),
        ({"retry": {"attempts": 2, "on_status_code": [429]}}, "unknown key 'on_status_code' (did you mean"),
    ],
)
def test_config_keys_are_honoured_refused_or_named(change, says):
    with pytest.raises(config.ConfigError) as refused:
        config.parse({**CONDITIONAL, **change})
    assert says in str(refused.value)


def test_targets_inherit_forward_headers_cache_timeouts_and_openai_headers():
    tree = config.parse(
        {
            **CONDITIONAL,
            "forward_headers": ["X-Team"],
            "cache": {"mode": "simple", "max_age": 60},
            "request_timeout": 5000,
            "openai_organization": "org-1",
            "strict_open_ai_compliance": False,
            "targets": [
                {"name": "paid", "provider": "openai", "request_timeout": 300, "openai_project": "proj-9"},
                {"name": "free", "provider": "stub", "forward_headers": []},
            ],
        }
    )
    paid, free = tree.targets
    assert (paid.forward_headers, free.forward_headers) == (("x-team",), ())
    assert paid.cache == free.cache == config.Cache(60.0)
    assert (paid.request_timeout, free.request_timeout) == (0.3, 5.0)
    assert paid.upstream_headers == {"openai-organization": "org-1", "openai-project": "proj-9"}
    assert free.not_applied == ("config.strict_open_ai_compliance",)
    assert tree.named("free") is free


def test_a_bare_config_value_is_a_config_id_only_in_portkeys_form():
    assert config.is_config_id("pc-abc123")
    assert not config.is_config_id("not-a-config") and not config.is_config_id("pc-")
