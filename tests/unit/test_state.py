"""The in-memory state keeps the promises the Redis one keeps for a fleet (tests/wire/test_shared_state.py)."""

from __future__ import annotations

import asyncio

import pytest

from portkey_completions.control import state
from portkey_completions.control.entry import Entry
from portkey_completions.control.redis_state import shown
from portkey_completions.control.scenarios import Scenarios

BODY = {"model": "gpt-3.5-turbo-instruct", "prompt": "hi"}


async def _match_all(rules: Scenarios, n: int) -> list[int | None]:
    async def one() -> int | None:
        matched = await rules.match(BODY, {}, None, lambda: ["hi"])
        return None if matched is None else matched[1]

    return list(await asyncio.gather(*(one() for _ in range(n))))


def test_times_and_hit_numbers_are_exact():
    rules = Scenarios(state.Memory())
    asyncio.run(rules.add({"respond": {"text": "x", "times": 3}}))
    assert sorted(asyncio.run(_match_all(rules, 10)), key=lambda h: h or 0) == [None] * 7 + [1, 2, 3]


def test_run_time_rules_and_entries_belong_to_their_namespace():
    memory = state.Memory()
    rules = Scenarios(memory)

    async def scenario() -> None:
        first = await rules.add({"respond": {"text": "a"}}, "ns1")
        second = await rules.add({"respond": {"text": "b"}}, "ns2")
        assert first.id != second.id
        assert not await rules.remove(first.id, "ns2")  # another namespace's rule is not found there
        assert [r.id for r in await rules.rules("ns1")] == [first.id]
        for namespace in ("ns1", "ns2", "ns1"):
            memory.opened(Entry(0.0, "POST", "/v1/completions", [], namespace, "trace", None, memory.worker))
        await memory.forget("ns1")
        assert [e["namespace"] for e in await memory.entries(None)] == ["ns2"]

    asyncio.run(scenario())


def test_a_state_url_is_memory_per_process_or_redis():
    from portkey_completions.app import open_state

    assert isinstance(open_state("per-process"), state.Memory)
    with pytest.raises(ValueError, match="give memory, per-process or redis://"):
        open_state("postgres://db")


def test_a_redis_password_is_never_shown():
    assert shown("redis://user:s3cret@cache:6380/2") == "redis://user:***@cache:6380/2"
    assert shown("redis://cache:6379/0") == "redis://cache:6379/0"
