"""How a server is set up: one object for `create_app`, `portkey-stub serve` and the `portkey_stub` marker.

Every option is declared once, as a field of `ServerOptions`: its default, and (`option(...)`)
its flag, help and check. Its environment variable is its flag's name, `PORTKEY_STUB_<FLAG>`.
`portkey-stub serve`'s parser is built from these declarations (`cli.py`), docs/cli.md is checked
against them (a test), and the checks run wherever options are made: `create_app`, `serve`, the
marker.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from portkey_completions.control.state import MEMORY, PER_PROCESS, state_problem
from portkey_completions.core import names
from portkey_completions.engine.catalog import DEFAULT_MODELS, ModelCard
from portkey_completions.gateway import backoff
from portkey_completions.gateway.hosts import DEFAULT_TRUSTED
from portkey_completions.gateway.leaf import DEFAULT_UPSTREAM_TIMEOUT
from portkey_completions.gateway.store import Store
from portkey_completions.server.limits import DEFAULT_BODY_TIMEOUT, DEFAULT_MAX_BODY_BYTES
from portkey_completions.server.logs import FORMATS

ENV_PREFIX = "PORTKEY_STUB_"
LEVELS = ("critical", "error", "warning", "info", "debug")
# 8787 is the Portkey gateway's own default port, so SDKs pointed at a local gateway reach this server unchanged.
DEFAULT_PORT = 8787


class OptionError(ValueError):
    """An option that cannot be used, with the option's field name (the CLI names its flag)."""

    def __init__(self, option: str, message: str) -> None:
        super().__init__(f"{option}: {message}")
        self.option = option
        self.message = message


@dataclass(frozen=True)
class Flag:
    """How an option is given on the command line and in the environment."""

    flag: str
    help: str
    parse: Callable[[str], Any] = str  # its text (a flag's or a variable's) to the field's value
    check: Callable[[Any], str | None] | None = None  # what is wrong with a value, or None
    metavar: str | None = None
    choices: tuple[str, ...] | None = None
    switch: bool = False  # --flag / --no-flag; its variable takes true or false
    show: Callable[[Any], str] = str  # the default as `--help` and docs/cli.md show it

    @property
    def env(self) -> str:
        return ENV_PREFIX + self.flag.removeprefix("--").upper().replace("-", "_")

    @property
    def usage(self) -> str:
        """The flag as `--help` and docs/cli.md write it."""
        if self.switch:
            return f"{self.flag} / --no-{self.flag.removeprefix('--')}"
        return f"{self.flag} {self.metavar or self.flag.removeprefix('--').upper().replace('-', '_')}"

    def shown(self, value: Any) -> str:
        """A value (the default) as `--help` and docs/cli.md show it."""
        if self.switch:
            return "on" if value else "off"
        return self.show(value)


def option(default: Any = None, *, factory: Callable[[], Any] | None = None, **flag: Any) -> Any:
    """A `ServerOptions` field with its default, and its flag if `flag=` is given."""
    metadata = {"flag": Flag(**flag)} if flag else {}
    if factory is not None:
        return dataclasses.field(default_factory=factory, metadata=metadata)
    return dataclasses.field(default=default, metadata=metadata)


def _positive(value: float) -> str | None:
    return None if isinstance(value, int | float) and 0 < value < math.inf else "must be a positive number"


def _at_least_one(value: int) -> str | None:
    return None if value >= 1 else f"must be at least 1, not {value}"


def _port(value: int) -> str | None:
    return None if 0 <= value <= 65535 else f"must be a port number (0 to 65535), not {value}"


def _not_negative(value: float) -> str | None:
    return None if value >= 0 else f"must be 0 or more, not {value}"


def _hosts(text: str) -> tuple[str, ...]:
    return tuple(h.strip() for h in text.split(",") if h.strip())


def _level(text: str) -> str:
    return text.lower()


def _choice(known: Mapping[str, Any] | tuple[str, ...]) -> Callable[[str], str | None]:
    def check(value: str) -> str | None:
        return None if value in known else f"give {' or '.join(known)}, not {value!r}"

    return check


@dataclass(frozen=True, kw_only=True)
class ServerOptions:
    """Everything a server can be told; each default is the one place that default is written.

    Attributes:
        host, port: Where `serve` listens.
        workers: `serve`'s worker processes; more than 1 needs a shared (or per-process) state.
        log_level: How much `serve` logs; at info and debug, one access line per request.
        log_format: `text` or `json` (one object a line, each with its request's trace id).
        max_body_bytes: Bodies over this many bytes get 413.
        validate_responses: Check every response against the spec (on in tests).
        swagger_ui: Serve the Swagger UI of the effective spec at /v1/ui/.
        models: The model table: which `model` names exist, their context windows, suffix support;
            or the path of a YAML or JSON file of it.
        store: The gateway's keys, virtual keys, configs, providers and saved prompts, or the path of a store
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
        admin_token_file: The admin token, read from this file (it never shows in `ps`).
        otlp_endpoint: Where OpenTelemetry traces go (OTLP/HTTP); None: `OTEL_EXPORTER_OTLP_ENDPOINT`, or off.
        fast_path: Answer valid completion requests without connexion's per-request layers
            (server/fastpath.py); invalid ones still go through connexion for its errors.
        body_timeout: Seconds a request body may stall before a 408 (slow uploads).
        access_log: One line per request on stderr, as uvicorn's access log writes it, at a
            fraction of its cost (server/access_log.py); `serve` turns it on at --log-level info.
        state: Where run-time rules, their counters and the journal live: `memory` (this process),
            `per-process` (memory, accepted for --workers N), or `redis://HOST:PORT/DB`, shared by
            every process given the same URL.
    """

    host: str = option("127.0.0.1", flag="--host", help="address to listen on")
    port: int = option(DEFAULT_PORT, flag="--port", help="port to listen on", parse=int, check=_port)
    workers: int = option(
        1,
        flag="--workers",
        parse=int,
        check=_at_least_one,
        metavar="N",
        help="worker processes (uvicorn's); more than 1 needs --state redis://… (or --state per-process)",
    )
    log_level: str = option(
        "info",
        flag="--log-level",
        parse=_level,
        choices=LEVELS,
        check=_choice(LEVELS),
        help="how much to log: critical, error, warning, info or debug, any case; at info and debug one "
        "line per request",
    )
    log_format: str = option(
        "text",
        flag="--log-format",
        choices=FORMATS,
        check=_choice(FORMATS),
        help="text: `time level logger [trace id] message` (access lines as uvicorn writes them); json: one "
        "object a line, with time, level, logger, message and trace_id",
    )
    max_body_bytes: int = option(
        DEFAULT_MAX_BODY_BYTES,
        flag="--max-body-bytes",
        parse=int,
        check=_at_least_one,
        metavar="N",
        help="answer 413 to bodies larger than this",
    )
    validate_responses: bool = option(
        False,
        flag="--validate-responses",
        switch=True,
        help="check every response against the spec (slower; for contract testing the server itself)",
    )
    swagger_ui: bool = option(
        True,
        flag="--swagger-ui",
        switch=True,
        help="serve the Swagger UI of the effective spec at /v1/ui/",
    )
    models: Mapping[str, ModelCard] | str | Path = option(
        factory=lambda: DEFAULT_MODELS,
        flag="--models",
        metavar="FILE",
        show=lambda _: "gpt-3.5-turbo-instruct 4096 with suffix, davinci-002 and babbage-002 16384",
        help="model table, YAML or JSON: {name: {context_window: N, suffix: true|false}}",
    )
    store: Store | str | Path | None = option(
        None,
        flag="--store",
        metavar="FILE",
        show=lambda _: "none",
        help="the gateway's store (YAML, or TOML by suffix): api_keys, providers, virtual_keys, configs, prompts. "
        "Without one any non-empty x-portkey-api-key passes and every request without a custom host "
        "is answered by the built-in stub engine",
    )
    trusted_hosts: tuple[str, ...] = option(
        DEFAULT_TRUSTED,
        flag="--trusted-hosts",
        parse=_hosts,
        metavar="HOSTS",
        show=",".join,
        help="comma-separated custom hosts allowed although loopback or private, matched literally",
    )
    validate_upstream: bool = option(
        False,
        flag="--validate-upstream",
        switch=True,
        help="check upstream responses and stream chunks against the spec; report violations in the "
        "x-portkey-upstream-violation header (JSON responses) and the log",
    )
    upstream_timeout: float = option(
        DEFAULT_UPSTREAM_TIMEOUT,
        flag="--upstream-timeout",
        parse=float,
        check=_positive,
        metavar="SECONDS",
        help="how long an upstream may keep the gateway waiting for its answer to start, or between the "
        "chunks of a stream, before a 504 or an upstream_timeout error event",
    )
    retry_backoff: str = option(
        backoff.DEFAULT,
        flag="--retry-backoff",
        choices=tuple(backoff.BACKOFFS),
        check=_choice(backoff.BACKOFFS),
        help="the wait between a config's retries when the upstream names none (Retry-After is honoured "
        "first): portkey waits 1 s, 2 s, 4 s… as Portkey's gateway does; fast waits 0.1 s doubling up to "
        "2 s, for test suites",
    )
    openai_compatible: bool = option(
        False,
        flag="--openai-compatible",
        switch=True,
        help="also answer plain OpenAI requests (Authorization: Bearer only) with the engine, so this "
        "server can be the upstream of a gateway",
    )
    scenarios_path: str | Path | None = option(
        None,
        flag="--scenarios",
        metavar="FILE",
        show=lambda _: "none",
        help="scenario rules (YAML `rules: [{match: …, respond: …}]`), reloaded when the file changes",
    )
    replay_path: str | Path | None = option(
        None,
        flag="--replay",
        metavar="CASSETTE",
        show=lambda _: "none",
        help="answer from a cassette written by `portkey-stub record`",
    )
    replay_speed: float = option(
        1.0,
        flag="--replay-speed",
        parse=float,
        check=_not_negative,
        metavar="X",
        help="replay this many times faster than recorded; 0 sends at once",
    )
    admin_token: str | None = option(
        None,
        flag="--admin-token",
        metavar="TOKEN",
        show=lambda _: "none",
        help="let non-loopback callers use the admin API and journal page under /__admin with this token",
    )
    admin_token_file: str | Path | None = option(
        None,
        flag="--admin-token-file",
        metavar="FILE",
        show=lambda _: "none",
        help="read the admin token from this file (a mounted secret), so that it shows in no process list",
    )
    otlp_endpoint: str | None = option(
        None,
        flag="--otlp-endpoint",
        metavar="URL",
        show=lambda _: "OTEL_EXPORTER_OTLP_ENDPOINT, or off",
        help="send OpenTelemetry traces over OTLP/HTTP to this collector (needs portkey-completions[otel]); "
        "the standard OTEL_* variables work too",
    )
    fast_path: bool = True
    body_timeout: float = option(
        DEFAULT_BODY_TIMEOUT,
        flag="--body-timeout",
        parse=float,
        check=_positive,
        metavar="SECONDS",
        help="how long a request body may stall before a 408, against slow uploads",
    )
    state: str = option(
        MEMORY,
        flag="--state",
        check=state_problem,
        metavar="URL",
        help=f"where run-time rules, their counters and the journal live: {MEMORY} (this process), "
        f"{PER_PROCESS} (each of --workers N its own, with a warning), or redis://HOST:PORT/DB, shared "
        "by every worker and replica given the same URL",
    )
    access_log: bool = False

    def __post_init__(self) -> None:
        for name, flag in flags():
            if flag.check is not None:
                problem = flag.check(getattr(self, name))
                if problem is not None:
                    raise OptionError(name, problem)

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


def flags() -> Iterator[tuple[str, Flag]]:
    """Each option given by a flag and a variable: its field's name and its `Flag`, in declaration order."""
    for field in dataclasses.fields(ServerOptions):
        if "flag" in field.metadata:
            yield field.name, field.metadata["flag"]


def default(name: str) -> Any:
    """An option's default, as declared."""
    field = next(f for f in dataclasses.fields(ServerOptions) if f.name == name)
    if field.default_factory is not dataclasses.MISSING:
        return field.default_factory()
    return field.default
