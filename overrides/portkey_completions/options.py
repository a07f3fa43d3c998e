"""How a server is set up: one object for `create_app`, `portkey-stub serve` and the `portkey_stub` marker."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from portkey_completions.control.state import MEMORY
from portkey_completions.core import names
from portkey_completions.engine.catalog import DEFAULT_MODELS, ModelCard
from portkey_completions.gateway import backoff
from portkey_completions.gateway.hosts import DEFAULT_TRUSTED
from portkey_completions.gateway.leaf import DEFAULT_UPSTREAM_TIMEOUT
from portkey_completions.gateway.store import Store
from portkey_completions.server.limits import DEFAULT_BODY_TIMEOUT, DEFAULT_MAX_BODY_BYTES


class OptionError(ValueError):
    """An option that cannot be used, with the option's field name (the CLI names its flag)."""

    def __init__(self, option: str, message: str) -> None:
        super().__init__(f"{option}: {message}")
        self.option = option
        self.message = message


@dataclass(frozen=True, kw_only=True)
class ServerOptions:
    """Everything a server can be told; each default is the one place that default is written.

    Attributes:
        max_body_bytes: Bodies over this many bytes get 413.
        validate_responses: Check every response connexion sends against the spec (on in tests).
        swagger_ui: Serve the Swagger UI of the effective spec at /v1/ui/.
        models: The model table: which `model` names exist, their context windows, suffix support;
            or the path of a YAML or JSON file of it.
        store: The gateway's keys, virtual keys, configs and providers, or the path of a store
            file; None: any key, everything to the stub.
        trusted_hosts: Custom hosts allowed although loopback or private (matched literally).
        validate_upstream: Check upstream responses and stream chunks against the spec.
        upstream_timeout: Seconds an upstream may keep the gateway waiting: to connect (at most
            10), for its answer to start, and between the chunks of a stream.
        retry_backoff: The wait between a config's retries when the answer names none (a
            Retry-After is honoured first): `portkey`, Portkey's 1 s, 2 s, 4 s…; `fast`, 0.1 s
            doubling up to 2 s, for test suites.
        openai_compatible: Also answer plain OpenAI requests (bearer only) with the engine.
        scenarios_path: A YAML file of scenario rules, reloaded when it changes.
        replay_path: A cassette to answer from (`portkey-stub record` writes them).
        replay_speed: How much faster than recorded a cassette replays (0: no waiting).
        admin_token: Lets non-loopback callers use the admin API and page.
        fast_path: Answer valid completion requests without connexion's per-request layers
            (server/fastpath.py); invalid ones still go through connexion for its errors.
        body_timeout: Seconds a request body may stall before a 408 (slow uploads).
        access_log: One line per request on stderr, as uvicorn's access log writes it, at a
            fraction of its cost (server/access_log.py); `serve` turns it on at --log-level info.
        state: Where run-time rules, their counters and the journal live: `memory` (this process),
            `per-process` (memory, accepted for --workers N), or `redis://HOST:PORT/DB`, shared by
            every process given the same URL.
    """

    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES
    validate_responses: bool = False
    swagger_ui: bool = True
    models: Mapping[str, ModelCard] | str | Path = dataclasses.field(default_factory=lambda: DEFAULT_MODELS)
    store: Store | str | Path | None = None
    trusted_hosts: tuple[str, ...] = DEFAULT_TRUSTED
    validate_upstream: bool = False
    upstream_timeout: float = DEFAULT_UPSTREAM_TIMEOUT
    retry_backoff: str = backoff.DEFAULT
    openai_compatible: bool = False
    scenarios_path: str | Path | None = None
    replay_path: str | Path | None = None
    replay_speed: float = 1.0
    admin_token: str | None = None
    fast_path: bool = True
    body_timeout: float = DEFAULT_BODY_TIMEOUT
    state: str = MEMORY
    access_log: bool = False

    @classmethod
    def of(cls, **fields: Any) -> ServerOptions:
        """The options named; an unknown name is a ValueError that lists the known ones."""
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(fields) - known)
        if unknown:
            raise ValueError(names.unknown("server option", unknown[0], known))
        return cls(**fields)

    def replace(self, **fields: Any) -> ServerOptions:
        """These options with some changed (checked as `of` checks them)."""
        return ServerOptions.of(**{**{f.name: getattr(self, f.name) for f in dataclasses.fields(self)}, **fields})
