"""The state on Redis: every worker and replica given one `--state redis://…` acts as one server.

Keys, under `portkey-stub:` in the URL's database:

    rules        hash  sequence number -> {"id", "namespace", "spec"} (JSON): the run-time rules
    hits         hash  counter -> hits, for run-time rules (by sequence) and file rules (by id and content)
    version      int   bumped by every rule change, and published on the channel `portkey-stub:<db>:changes`
    acks:<v>     set   the processes that have applied version v
    journal      list  finished entries as JSON, oldest first, at most JOURNAL_SIZE
    coverage     hash  contract coverage's counts (redis_coverage), written with the journal's batches
    ids:rule, ids:journal   the counters behind fleet-unique ids

Cost: a request reads rules from a local copy, which each process reloads when `changes` says so;
an admin change returns only once every subscribed process has acknowledged it. A rule's counter
is one atomic script call, made only when the rule matches. Journal entries are written when the
answer ends, batched: the writes of concurrent requests share one round trip.

Redis down or restarting: the process cannot know the rules, so it answers 503 `state_unavailable`
(with Retry-After) rather than guess; it reconnects on its own and answers again once it has
reloaded the rules. Entries of answers already sent when the write fails are lost, and logged.
"""

from __future__ import annotations

import asyncio
import collections
import hashlib
import logging
import time
import urllib.parse
from collections.abc import Awaitable, Iterable
from typing import Any, TypeVar

import orjson
import redis.asyncio as redis
from redis.exceptions import RedisError

from portkey_completions.observe import metrics

from . import redis_coverage
from . import redis_scripts as scripts
from .entry import Entry
from .redaction import headers_of
from .rules import Rule, rule
from .state import CACHE_SIZE, JOURNAL_SIZE, State, StateUnavailable, Tallies, worker_name

logger = logging.getLogger(__name__)
T = TypeVar("T")

PREFIX = "portkey-stub:"
RULES, HITS, VERSION, JOURNAL = (PREFIX + k for k in ("rules", "hits", "version", "journal"))
CACHED, CACHE_INDEX = PREFIX + "cache:", PREFIX + "cache-index"  # answers, and their keys by age
RULE_IDS, JOURNAL_IDS = PREFIX + "ids:rule", PREFIX + "ids:journal"
ACK_TIMEOUT = 2.0  # how long an admin change waits for every process to apply it
FIRST_SYNC = 2.0  # how long the first request waits for the first copy of the rules
RECONNECT = 0.2  # seconds between attempts while Redis is away
CONNECT_TIMEOUT = 1.0  # one attempt at a connection
# How long a request that finds Redis away waits for this process to be back in sync: a worker that
# reconnects a moment after another (Redis just back, /readyz 200 from the other) serves, not 503.
CATCH_UP = RECONNECT + CONNECT_TIMEOUT + 0.3
COMMAND_TIMEOUT = 2.0
LOSS_LOG_EVERY = 5.0  # seconds between warnings about journal entries lost
FAILURES = (RedisError, OSError)


def _acks(version: int) -> str:
    """The set of the processes that have applied rule version `version`."""
    return f"{PREFIX}acks:{version}"


def shown(url: str) -> str:
    """The URL without its password, for messages and /__admin/health."""
    parts = urllib.parse.urlsplit(url)
    if parts.password is None:
        return url
    netloc = f"{parts.username or ''}:***@{parts.hostname}" + (f":{parts.port}" if parts.port else "")
    return urllib.parse.urlunsplit(parts._replace(netloc=netloc))


class RedisState(State):
    def __init__(self, url: str) -> None:
        self.url = url
        self.worker = worker_name()
        self._commands = redis.Redis.from_url(
            url, socket_timeout=COMMAND_TIMEOUT, socket_connect_timeout=CONNECT_TIMEOUT
        )
        # Its own connection, without a read timeout: a quiet channel is not a dead one.
        self._changes = redis.Redis.from_url(url, socket_connect_timeout=CONNECT_TIMEOUT, socket_keepalive=True)
        # Channels are not per database, as keys are: the channel names the database, so that fleets
        # on different databases of one Redis neither reload for, nor count, each other.
        self._channel = f"{PREFIX}{self._commands.connection_pool.connection_kwargs.get('db', 0)}:changes"
        self._hit = self._commands.register_script(scripts.HIT)
        self._append = self._commands.register_script(scripts.APPEND)
        self._forget = self._commands.register_script(scripts.FORGET)
        self._cache = self._commands.register_script(scripts.CACHE)
        self._rules: list[Rule] = []
        self._in_sync = False
        self._synced = asyncio.Event()  # the first copy of the rules was read
        self._back = asyncio.Event()  # in sync now (cleared while Redis is away)
        self._follower: asyncio.Task[None] | None = None
        self._first_sync_by: float | None = None
        self._queue: list[tuple[bytes, asyncio.Future[None]]] = []
        self._writer: asyncio.Task[None] | None = None
        self._counts: Tallies = collections.Counter()  # contract coverage's, until the journal's next write
        self.lost = 0  # journal entries that could not be written
        self._lost_logged = float("-inf")

    @property
    def shared(self) -> bool:
        return True

    @property
    def shown(self) -> str:
        return shown(self.url)

    async def problem(self) -> str | None:
        if not self._in_sync:
            return f"the shared state {shown(self.url)} is unreachable"
        try:
            await self._commands.ping()
        except FAILURES as exc:
            return f"the shared state {shown(self.url)} is unreachable: {exc}"
        return None

    def unavailable(self, action: str, exc: BaseException | None = None) -> StateUnavailable:
        why = f": {exc}" if exc else ""
        return StateUnavailable(f"The shared state ({shown(self.url)}) is unavailable, so {action}{why}.")

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        if self._follower is None:
            self._follower = loop.create_task(self._follow())
            self._first_sync_by = loop.time() + FIRST_SYNC
        # The first callers wait (up to FIRST_SYNC) for the first copy; later ones are told at once.
        assert self._first_sync_by is not None
        remaining = self._first_sync_by - loop.time()
        if not self._synced.is_set() and remaining > 0:
            try:
                await asyncio.wait_for(self._synced.wait(), remaining)
            except TimeoutError:
                pass

    async def close(self) -> None:
        if self._follower is not None:
            self._follower.cancel()
        for writer in (self._writer, self._follower):
            if writer is not None:
                await asyncio.gather(writer, return_exceptions=True)
        await self._commands.aclose()
        await self._changes.aclose()

    async def _follow(self) -> None:
        """Keep the local copy of the rules: reload on every published change, and after every reconnect."""
        was_down = False
        while True:
            try:
                async with self._changes.pubsub() as pubsub:
                    await pubsub.subscribe(self._channel)
                    await self._reload()  # after subscribing: no change falls between the two
                    self._in_sync = True
                    self._synced.set()
                    self._back.set()
                    if was_down:
                        logger.warning("shared state %s is back; rules reloaded", shown(self.url))
                        was_down = False
                    async for message in pubsub.listen():
                        if message["type"] == "message":
                            await self._reload()
                            acks = _acks(int(message["data"]))
                            pipe = self._commands.pipeline(transaction=False)
                            pipe.sadd(acks, self.worker)
                            pipe.expire(acks, 60)
                            await pipe.execute()
            except FAILURES as exc:
                self._in_sync = False
                self._back.clear()
                if not was_down:
                    was_down = True
                    logger.warning("shared state %s unavailable (%s): answering 503 until back", shown(self.url), exc)
                await asyncio.sleep(RECONNECT)

    async def _reload(self) -> None:
        stored = await self._commands.hgetall(RULES)
        loaded = []
        for seq, raw in sorted(stored.items(), key=lambda item: int(item[0])):
            data = orjson.loads(raw)
            one = rule(data["spec"], "admin", data["id"])
            one.namespace = data["namespace"]
            one.counter = f"r{int(seq)}"
            loaded.append(one)
        self._rules = loaded

    async def _changed(self, pipe: Any) -> None:
        """Run a rule change with a version bump; return once every subscribed process has applied it."""
        pipe.incr(VERSION)
        try:
            version = (await pipe.execute())[-1]
            receivers = await self._commands.publish(self._channel, version)
            acks = _acks(version)
            deadline = asyncio.get_running_loop().time() + ACK_TIMEOUT
            while (done := await self._commands.scard(acks)) < receivers:
                if asyncio.get_running_loop().time() > deadline:
                    raise StateUnavailable(
                        f"The rule change was stored, but only {done} of {receivers} processes applied it "
                        f"within {ACK_TIMEOUT:g} s."
                    )
                await asyncio.sleep(0.002)
        except FAILURES as exc:
            raise self.unavailable("the rules cannot be changed", exc) from None

    async def rules(self, namespace: str | None) -> list[Rule]:
        if not self._in_sync:
            await self.start()
        if not self._in_sync:
            try:
                await asyncio.wait_for(self._back.wait(), CATCH_UP)
            except TimeoutError:
                raise self.unavailable("the scenario rules cannot be read") from None
        return [r for r in self._rules if r.namespace == namespace]

    async def add(self, new: Rule) -> Rule:
        try:
            seq = await self._commands.incr(RULE_IDS)
        except FAILURES as exc:
            raise self.unavailable("the rule cannot be added", exc) from None
        new.id = new.id or f"rule-{seq}"
        new.counter = f"r{seq}"
        kept = orjson.dumps({"id": new.id, "namespace": new.namespace, "spec": new.spec})
        pipe = self._commands.pipeline(transaction=True)
        pipe.hset(RULES, str(seq), kept)
        await self._changed(pipe)
        return new

    async def remove(self, namespace: str | None, rule_id: str) -> bool:
        gone = [r.counter for r in await self.rules(namespace) if r.id == rule_id]
        if gone:
            await self._drop(gone)
        return bool(gone)

    async def clear(self, namespace: str | None) -> None:
        gone = [r.counter for r in await self.rules(namespace)]
        if gone:
            await self._drop(gone)

    async def _drop(self, counters: list[str]) -> None:
        pipe = self._commands.pipeline(transaction=True)
        pipe.hdel(RULES, *(c[1:] for c in counters))
        pipe.hdel(HITS, *counters)
        await self._changed(pipe)

    def _counter(self, one: Rule) -> str:
        if not one.counter:  # a file rule: counted by content, so that every process's copy shares it
            digest = hashlib.sha1(orjson.dumps(one.spec, option=orjson.OPT_SORT_KEYS)).hexdigest()[:12]
            one.counter = f"{one.id}@{digest}"
        return one.counter

    async def hit(self, rule: Rule) -> int | None:
        try:
            n = int(await self._hit(keys=[HITS], args=[self._counter(rule), -1 if rule.times is None else rule.times]))
        except FAILURES as exc:
            raise self.unavailable(f"scenario rule {rule.id!r} cannot be counted", exc) from None
        return None if n < 0 else n

    async def count(self, rules: Iterable[Rule]) -> None:
        rules = list(rules)
        if not rules:
            return
        try:
            counts = await self._commands.hmget(HITS, [self._counter(r) for r in rules])
        except FAILURES as exc:
            raise self.unavailable("the rules' counters cannot be read", exc) from None
        for one, n in zip(rules, counts, strict=True):
            one.hits = int(n or 0)

    def opened(self, entry: Entry) -> None:
        pass  # the entry's id (None until then) is given by Redis when the entry is written

    async def closed(self, entry: Entry) -> None:
        # Leaving the process: secrets redacted now. The body stays raw (its bytes as latin-1 text,
        # which maps each byte to one character and back) and is parsed when someone reads it.
        fields = entry.fields()
        fields["headers"] = headers_of(entry.headers)
        del fields["id"]
        if isinstance(fields["body"], bytes):
            fields["body"] = fields["body"].decode("latin-1")
        loop = asyncio.get_running_loop()
        written: asyncio.Future[None] = loop.create_future()
        self._queue.append((orjson.dumps(fields), written))
        if self._writer is None or self._writer.done():
            self._writer = loop.create_task(self._write())
        await written

    async def _write(self) -> None:
        # While one batch is on its way, the next gathers: one round trip for many requests.
        while self._queue:
            batch, self._queue = self._queue, []
            counts, self._counts = self._counts, collections.Counter()
            try:
                entries = [p for p, _ in batch]
                args = [JOURNAL_SIZE, len(entries), *entries, *redis_coverage.fields(counts)]
                await self._append(keys=[JOURNAL, JOURNAL_IDS, redis_coverage.COVERAGE], args=args)
            except FAILURES as exc:
                now = asyncio.get_running_loop().time()
                if now - self._lost_logged > LOSS_LOG_EVERY:  # once in a while, not once per request
                    logger.warning(
                        "journal: entries lost (%d so far), the shared state is unavailable (%s)",
                        self.lost + len(batch),
                        exc,
                    )
                    self._lost_logged = now
                self.lost += len(batch)
            for _, written in batch:
                if not written.done():
                    written.set_result(None)

    def covered(self, namespace: str | None, keys: tuple[str, ...]) -> None:
        self._counts[(namespace, keys)] += 1  # written with the entry `closed` is given next

    async def coverage(self, namespace: str | None) -> dict[str, int]:
        return await self._or_unavailable(redis_coverage.read(self._commands, namespace), "the coverage cannot be read")

    async def forget_coverage(self, namespace: str | None) -> None:
        await self._or_unavailable(redis_coverage.forget(self._commands, namespace), "the coverage cannot be reset")

    async def _or_unavailable(self, command: Awaitable[T], action: str) -> T:
        try:
            return await command
        except FAILURES as exc:
            raise self.unavailable(action, exc) from None

    async def entries(self, namespace: str | None) -> list[dict[str, Any]]:
        raw = await self._or_unavailable(self._commands.lrange(JOURNAL, 0, -1), "the journal cannot be read")
        entries = [orjson.loads(r) for r in raw]
        for entry in entries:
            if isinstance(entry["body"], str):  # raw, as written: the journal parses bytes when read
                entry["body"] = entry["body"].encode("latin-1")
        return [e for e in entries if namespace is None or e["namespace"] == namespace]

    async def forget(self, namespace: str | None) -> None:
        command = (
            self._commands.delete(JOURNAL) if namespace is None else self._forget(keys=[JOURNAL], args=[namespace])
        )
        await self._or_unavailable(command, "the journal cannot be cleared")

    async def cached(self, key: str) -> bytes | None:
        try:
            entry = await self._commands.get(CACHED + key)
        except FAILURES as exc:
            logger.warning("response cache unavailable (%s): a miss", exc)
            metrics.STATE_ERRORS.inc()
            return None
        return entry.encode() if isinstance(entry, str) else entry

    async def cache(self, key: str, entry: bytes, max_age: float) -> None:
        try:
            args: list[bytes | int | float] = [entry, max(1, round(max_age * 1000)), time.time(), CACHE_SIZE]
            await self._cache(keys=[CACHED + key, CACHE_INDEX], args=args)
        except FAILURES as exc:
            logger.warning("response cache unavailable (%s): an answer not kept", exc)
            metrics.STATE_ERRORS.inc()


def check(url: str) -> str | None:
    """Why Redis at `url` cannot be used, or None: for the CLI to refuse at start, not at the first request."""
    import redis as sync_redis

    try:
        sync_redis.Redis.from_url(url, socket_timeout=COMMAND_TIMEOUT, socket_connect_timeout=CONNECT_TIMEOUT).ping()
    except (RedisError, OSError, ValueError) as exc:
        return f"{shown(url)}: cannot reach Redis ({exc})"
    return None
