"""How a server is set up: one object for `create_app`, `portkey-stub serve` and the `portkey_stub` marker.

`ServerOptions` is a pydantic model: every option is declared once, as a field with its default,
its type (`Literal` choices, `Field` bounds) and its help (`description`); a field given by a
flag carries its `Cli` (flag name, metavar, how its default is shown). Its environment variable is
its flag's name, `PORTKEY_STUB_<FLAG>` (`from_environment`, with pydantic-settings, reads them
for `serve`). `portkey-stub serve`'s parser is built from these declarations (`cli.py`), docs/cli.md is
checked against them (a test), and the checks run wherever options are made: `create_app`,
`serve`, the marker. A value that cannot be used is an `OptionError` naming the option.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal, get_args

import pydantic

from portkey_completions.control.state import MEMORY, PER_PROCESS, state_problem
from portkey_completions.core import names
from portkey_completions.engine.catalog import DEFAULT_MODELS, ModelCard
from portkey_completions.gateway import backoff
from portkey_completions.gateway.hosts import DEFAULT_TRUSTED
from portkey_completions.gateway.leaf import DEFAULT_UPSTREAM_TIMEOUT
from portkey_completions.gateway.store import Store
from portkey_completions.server.limits import DEFAULT_BODY_TIMEOUT, DEFAULT_MAX_BODY_BYTES
from portkey_completions.server.logs import Format

if TYPE_CHECKING:
    import pydantic_settings

ENV_PREFIX = "PORTKEY_STUB_"
Level = Literal["critical", "error", "warning", "info", "debug"]
LEVELS: tuple[Level, ...] = get_args(Level)
# 8787 is the Portkey gateway's own default port, so SDKs pointed at a local gateway reach this server unchanged.
DEFAULT_PORT = 8787


class OptionError(ValueError):
    """An option that cannot be used, with the option's field name (the CLI names its flag)."""

    def __init__(self, option: str, message: str) -> None:
        super().__init__(f"{option}: {message}")
        self.option = option
        self.message = message


@dataclass(frozen=True)
class Cli:
    """How a field is given on the command line (and so its variable's name)."""

    flag: str
    metavar: str | None = None
    show: Callable[[Any], str] = str  # the default as `--help` and docs/cli.md show it


@dataclass(frozen=True)
class Flag:
    """An option as the command line and the environment know it, read off its field's declaration."""

    flag: str
    help: str
    metavar: str | None = None
    choices: tuple[str, ...] | None = None  # a `Literal` field's values
    switch: bool = False  # a bool field: --flag / --no-flag; its variable takes true or false
    show: Callable[[Any], str] = str

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


def _port(value: int) -> int:
    if not 0 <= value <= 65535:
        raise ValueError(f"must be a port number (0 to 65535), not {value}")
    return value


def _state(url: str) -> str:
    problem = state_problem(url)
    if problem is not None:
        raise ValueError(problem)
    return url


def _hosts(value: Any) -> Any:
    """A comma-separated list (a flag's or a variable's text) as the hosts it names."""
    return tuple(h.strip() for h in value.split(",") if h.strip()) if isinstance(value, str) else value


def _lower(value: Any) -> Any:
    return value.lower() if isinstance(value, str) else value


Seconds = Annotated[float, pydantic.Field(gt=0, allow_inf_nan=False)]
Count = Annotated[int, pydantic.Field(ge=1)]
# A table or a store given as an object is taken as it is; a path is loaded (and checked) by create_app.
ModelTable = pydantic.SkipValidation[Mapping[str, ModelCard] | str | Path]
StoreOption = pydantic.SkipValidation[Store | str | Path | None]
NONE = "none"


def _none(_: Any) -> str:
    return NONE


class ServerOptions(pydantic.BaseModel):
    """Everything a server can be told; each default is the one place that default is written.

    Attributes:
        fast_path: Answer valid completion requests without connexion's per-request layers
            (server/fastpath.py); invalid ones still go through connexion for its errors.
        access_log: One line per request on stderr, as uvicorn's access log writes it, at a
            fraction of its cost (server/access_log.py); `serve` turns it on at --log-level info.

    Every other field's help is its `description`, which `serve --help` shows.
    """

    model_config = pydantic.ConfigDict(frozen=True, extra="forbid", validate_default=False)

    host: Annotated[str, Cli("--host")] = pydantic.Field("127.0.0.1", description="address to listen on")
    port: Annotated[int, pydantic.AfterValidator(_port), Cli("--port")] = pydantic.Field(
        DEFAULT_PORT, description="port to listen on"
    )
    workers: Annotated[Count, Cli("--workers", "N")] = pydantic.Field(
        1, description="worker processes (uvicorn's); more than 1 needs --state redis://… (or --state per-process)"
    )
    log_level: Annotated[Level, pydantic.BeforeValidator(_lower), Cli("--log-level")] = pydantic.Field(
        "info",
        description="how much to log: critical, error, warning, info or debug, any case; at info and debug one "
        "line per request",
    )
    log_format: Annotated[Format, Cli("--log-format")] = pydantic.Field(
        "text",
        description="text: `time level logger [trace id] message` (access lines as uvicorn writes them); json: "
        "one object a line, with time, level, logger, message and trace_id",
    )
    max_body_bytes: Annotated[Count, Cli("--max-body-bytes", "N")] = pydantic.Field(
        DEFAULT_MAX_BODY_BYTES, description="answer 413 to bodies larger than this"
    )
    validate_responses: Annotated[bool, Cli("--validate-responses")] = pydantic.Field(
        False, description="check every response against the spec (slower; for contract testing the server itself)"
    )
    swagger_ui: Annotated[bool, Cli("--swagger-ui")] = pydantic.Field(
        True, description="serve the Swagger UI of the effective spec at /v1/ui/"
    )
    models: Annotated[
        ModelTable,
        Cli("--models", "FILE", lambda _: "gpt-3.5-turbo-instruct 4096 with suffix, davinci-002 and babbage-002 16384"),
    ] = pydantic.Field(
        default_factory=lambda: DEFAULT_MODELS,
        description="model table, YAML or JSON: {name: {context_window: N, suffix: true|false}}",
    )
    store: Annotated[StoreOption, Cli("--store", "FILE", _none)] = pydantic.Field(
        None,
        description="the gateway's store (YAML, or TOML by suffix): api_keys, providers, virtual_keys, configs, "
        "prompts. Without one any non-empty x-portkey-api-key passes and every request without a custom host "
        "is answered by the built-in stub engine",
    )
    trusted_hosts: Annotated[
        tuple[str, ...], pydantic.BeforeValidator(_hosts), Cli("--trusted-hosts", "HOSTS", ",".join)
    ] = pydantic.Field(
        DEFAULT_TRUSTED,
        description="comma-separated custom hosts allowed although loopback or private, matched literally",
    )
    validate_upstream: Annotated[bool, Cli("--validate-upstream")] = pydantic.Field(
        False,
        description="check upstream responses and stream chunks against the spec; report violations in the "
        "x-portkey-upstream-violation header (JSON responses) and the log",
    )
    upstream_timeout: Annotated[Seconds, Cli("--upstream-timeout", "SECONDS")] = pydantic.Field(
        DEFAULT_UPSTREAM_TIMEOUT,
        description="how long an upstream may keep the gateway waiting for its answer to start, or between the "
        "chunks of a stream, before a 504 or an upstream_timeout error event",
    )
    retry_backoff: Annotated[backoff.Backoff, Cli("--retry-backoff")] = pydantic.Field(
        backoff.DEFAULT,
        description="the wait between a config's retries when the upstream names none (Retry-After is honoured "
        "first): portkey waits 1 s, 2 s, 4 s… as Portkey's gateway does; fast waits 0.1 s doubling up to "
        "2 s, for test suites",
    )
    openai_compatible: Annotated[bool, Cli("--openai-compatible")] = pydantic.Field(
        False,
        description="also answer plain OpenAI requests (Authorization: Bearer only) with the engine, so this "
        "server can be the upstream of a gateway",
    )
    scenarios_path: Annotated[str | Path | None, Cli("--scenarios", "FILE", _none)] = pydantic.Field(
        None, description="scenario rules (YAML `rules: [{match: …, respond: …}]`), reloaded when the file changes"
    )
    replay_path: Annotated[str | Path | None, Cli("--replay", "CASSETTE", _none)] = pydantic.Field(
        None, description="answer from a cassette written by `portkey-stub record`"
    )
    replay_speed: Annotated[float, pydantic.Field(ge=0, allow_inf_nan=False), Cli("--replay-speed", "X")] = (
        pydantic.Field(1.0, description="replay this many times faster than recorded; 0 sends at once")
    )
    admin_token: Annotated[str | None, Cli("--admin-token", "TOKEN", _none)] = pydantic.Field(
        None, description="let non-loopback callers use the admin API and journal page under /__admin with this token"
    )
    admin_token_file: Annotated[str | Path | None, Cli("--admin-token-file", "FILE", _none)] = pydantic.Field(
        None,
        description="read the admin token from this file (a mounted secret), so that it shows in no process list",
    )
    otlp_endpoint: Annotated[
        str | None, Cli("--otlp-endpoint", "URL", lambda _: "OTEL_EXPORTER_OTLP_ENDPOINT, or off")
    ] = pydantic.Field(
        None,
        description="send OpenTelemetry traces over OTLP/HTTP to this collector (needs portkey-completions[otel]); "
        "the standard OTEL_* variables work too",
    )
    fast_path: bool = True
    body_timeout: Annotated[Seconds, Cli("--body-timeout", "SECONDS")] = pydantic.Field(
        DEFAULT_BODY_TIMEOUT, description="how long a request body may stall before a 408, against slow uploads"
    )
    state: Annotated[str, pydantic.AfterValidator(_state), Cli("--state", "URL")] = pydantic.Field(
        MEMORY,
        description=f"where run-time rules, their counters and the journal live: {MEMORY} (this process), "
        f"{PER_PROCESS} (each of --workers N its own, with a warning), or redis://HOST:PORT/DB, shared "
        "by every worker and replica given the same URL",
    )
    state_wait: Annotated[float, pydantic.Field(ge=0, allow_inf_nan=False), Cli("--state-wait", "SECONDS")] = (
        pydantic.Field(
            30.0,
            description="how long a server given a Redis --state that cannot be reached at start waits for it, "
            "answering /readyz 503 meanwhile, before it exits 2; 0 exits at once",
        )
    )
    access_log: bool = False

    @pydantic.model_validator(mode="after")
    def _workers_share_state(self) -> ServerOptions:
        if self.workers > 1 and self.state == MEMORY:
            raise ValueError(
                f"--workers {self.workers}: each worker would keep its own rules, counters and journal. Share "
                f"them with --state redis://HOST:PORT/DB, or accept that with --state {PER_PROCESS}"
            )
        return self

    @classmethod
    def of(cls, **fields: Any) -> ServerOptions:
        """The options named; an unknown name is a ValueError that lists the known ones, a bad value an OptionError."""
        unknown = sorted(set(fields) - set(cls.model_fields))
        if unknown:
            raise ValueError(names.unknown("server option", unknown[0], cls.model_fields))
        try:
            return cls(**fields)
        except pydantic.ValidationError as exc:
            raise option_error(exc) from None

    def replace(self, **fields: Any) -> ServerOptions:
        """These options with some changed (checked as `of` checks them)."""
        return ServerOptions.of(**{**{name: getattr(self, name) for name in type(self).model_fields}, **fields})


def from_environment(**given: Any) -> ServerOptions:
    """`serve`'s options: `given` (the flags), over their variables, over the defaults; an OptionError names one.

    The variables are read by pydantic-settings (`_settings`), imported here only: it costs a tenth
    of a second to import, which `create_app` and the pytest marker, which read no variables, skip.
    """
    settings = _settings()
    try:
        return settings(**given)
    except pydantic.ValidationError as exc:
        raise option_error(exc) from None


@functools.cache
def _settings() -> type[ServerOptions]:
    """ServerOptions with each field also read from its variable, named by its flag (`Flag.env`)."""
    import pydantic_settings

    class Variables(pydantic_settings.EnvSettingsSource):
        """Each option's variable by its flag's name (`--scenarios`: PORTKEY_STUB_SCENARIOS), not its field's."""

        def get_field_value(self, field: Any, field_name: str) -> tuple[Any, str, bool]:
            flag = _flag(field_name)
            if flag is None:
                return None, field_name, False
            return self.env_vars.get(flag.env.lower()), field_name, False

        def prepare_field_value(self, field_name: str, field: Any, value: Any, value_is_complex: bool) -> Any:
            return value  # text as the flag's would be: the field's validators read it

    class ServeSettings(pydantic_settings.BaseSettings, ServerOptions):
        model_config = pydantic_settings.SettingsConfigDict(frozen=True, extra="forbid", validate_default=False)

        @classmethod
        def settings_customise_sources(
            cls,
            settings_cls: type[pydantic_settings.BaseSettings],
            init_settings: pydantic_settings.PydanticBaseSettingsSource,
            env_settings: pydantic_settings.PydanticBaseSettingsSource,
            dotenv_settings: pydantic_settings.PydanticBaseSettingsSource,
            file_secret_settings: pydantic_settings.PydanticBaseSettingsSource,
        ) -> tuple[pydantic_settings.PydanticBaseSettingsSource, ...]:
            # A flag wins over its variable; nothing else (no .env file, no secrets directory) is read.
            return init_settings, Variables(settings_cls)

    return ServeSettings


def flags() -> Iterator[tuple[str, Flag]]:
    """Each option given by a flag and a variable: its field's name and its `Flag`, in declaration order."""
    for name in ServerOptions.model_fields:
        flag = _flag(name)
        if flag is not None:
            yield name, flag


def _flag(name: str) -> Flag | None:
    field = ServerOptions.model_fields[name]
    cli = next((m for m in field.metadata if isinstance(m, Cli)), None)
    if cli is None:
        return None
    kind = field.annotation
    choices = get_args(kind) if getattr(kind, "__origin__", None) is Literal else None
    return Flag(cli.flag, field.description or "", cli.metavar, choices, kind is bool, cli.show)


def default(name: str) -> Any:
    """An option's default, as declared."""
    return ServerOptions.model_fields[name].get_default(call_default_factory=True)


def option_error(error: pydantic.ValidationError) -> OptionError:
    """The first thing wrong with options, as an OptionError naming the option in words a user reads."""
    first = error.errors(include_url=False)[0]
    name = str(first["loc"][0]) if first["loc"] else "workers"  # the only check across options is workers'
    flag = _flag(name) if name in ServerOptions.model_fields else None
    value, kind, context = first.get("input"), first["type"], first.get("ctx", {})
    if kind == "literal_error" and flag is not None and flag.choices:
        return OptionError(name, f"give {' or '.join(flag.choices)}, not {value!r}")
    if kind in ("int_parsing", "float_parsing", "int_from_float"):
        return OptionError(name, f"invalid value: {value!r}")
    if kind == "bool_parsing":
        return OptionError(name, f"give true or false, not {value!r}")
    if kind == "greater_than_equal":
        bound = context.get("ge")
        return OptionError(
            name, f"must be 0 or more, not {value}" if bound == 0 else f"must be at least {bound}, not {value}"
        )
    if kind in ("greater_than", "finite_number"):
        return OptionError(name, "must be a positive number")
    return OptionError(name, str(first["msg"]).removeprefix("Value error, "))
