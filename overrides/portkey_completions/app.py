"""The connexion AsyncApp serving the effective spec, with this package's behaviour bound in."""

from __future__ import annotations

import contextlib
import functools
import logging
import warnings
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import yaml
from connexion import AsyncApp
from connexion.exceptions import ProblemException, Unauthorized
from connexion.middleware import ConnexionMiddleware, MiddlewarePosition
from connexion.middleware.server_error import ServerErrorMiddleware as ConnexionServerError
from connexion.options import SwaggerUIOptions
from connexion.resolver import Resolution, Resolver
from starlette.exceptions import HTTPException

from portkey_completions.call.security import Alternatives
from portkey_completions.control.admin import PREFIX as ADMIN_PREFIX
from portkey_completions.control.admin import Admin
from portkey_completions.control.cassette import Cassette
from portkey_completions.control.coverage import Collector, Coverage
from portkey_completions.control.front import Front
from portkey_completions.control.journal import Journal
from portkey_completions.control.scenarios import Scenarios
from portkey_completions.control.state import MEMORY, PER_PROCESS, Memory, State, state_problem
from portkey_completions.core import renamed
from portkey_completions.core.headers import OPENAI_COMPATIBLE, STUB
from portkey_completions.core.spec import base_path, load
from portkey_completions.engine import catalog
from portkey_completions.engine.engine import Engine
from portkey_completions.gateway.gateway import Gateway
from portkey_completions.gateway.leaf import Leaves
from portkey_completions.gateway.runner import Runner
from portkey_completions.gateway.store import FixedStore, StoreFile, Stores
from portkey_completions.observe import draining, metrics, telemetry
from portkey_completions.server import conformance, handler, spec_check, synthesis
from portkey_completions.server.access_log import AccessLog
from portkey_completions.server.auth import SECURITY_MAP, refusing
from portkey_completions.server.door import Door
from portkey_completions.server.errors import ServerErrorMiddleware, handle_error
from portkey_completions.server.fastpath import FastPath, Handle
from portkey_completions.server.limits import BodyLimitMiddleware, RequestGuard
from portkey_completions.server.namespaces import NamespaceMiddleware, Namespaces
from portkey_completions.server.probes import Probes
from portkey_completions.server.validation import VALIDATORS
from portkey_completions.stub.answer import Stub

from . import __version__
from .options import OptionError, ServerOptions

logger = logging.getLogger(__name__)
_T = TypeVar("_T")


class CompletionsApp(AsyncApp):
    """The connexion app, with typed handles on what in-process users share with the admin API.

    Attributes:
        options: What the app was built with.
        journal: Every /v1 request (the admin API's `journal`).
        scenarios: Where the scenario rules come from and which one a request meets (the admin
            API's `rules`); `scenarios.state` keeps them and the journal.
        namespaces: The requests running in each namespace (`/ns/<name>/`), to end them.
        stores: The gateway's store in service (`reload()` reads its file again: SIGHUP).
        alternatives: The spec's auth alternatives, read as a table (`call.security`).
    """

    options: ServerOptions
    journal: Journal
    scenarios: Scenarios
    namespaces: Namespaces
    stores: Stores
    alternatives: Alternatives

    @property
    def rules(self) -> Scenarios:
        """Deprecated: `scenarios` (until the next release)."""
        warnings.warn("CompletionsApp.rules is deprecated: use .scenarios", DeprecationWarning, stacklevel=2)
        return self.scenarios

    def reload(self) -> None:
        """Read the store file and the scenario file again now (SIGHUP); a broken one keeps the last good."""
        self.stores.reload()
        self.scenarios.reload()


# "Stub" is the built-in provider only: the app's name before this release, kept for one.
__getattr__ = renamed.module_getattr(__name__, {"StubApp": ("CompletionsApp", CompletionsApp)})


class _Operations(Resolver):
    """Each operation of the spec to its handler: the hand-written one, or one synthesized from the spec."""

    def __init__(self, handlers: Mapping[str, Any], spec: Mapping[str, Any]) -> None:
        super().__init__()
        self.handlers = dict(handlers)
        self.names: dict[tuple[str, str], str] = {}
        self.synthesized: dict[tuple[str, str], Any] = {}
        for method, path, operation in synthesis.operations(spec):
            name = operation.get("operationId") or f"{method.upper()} {path}"
            self.names[method, path] = name
            if name not in self.handlers:
                self.synthesized[method, path] = synthesis.handler(operation, spec)
        if self.synthesized:
            answered = ", ".join(f"{m.upper()} {p} ({self.names[m, p]})" for m, p in self.synthesized)
            logger.warning("no handler, answered from the spec (%s: true): %s", synthesis.SYNTHESIZED_HEADER, answered)

    def resolve(self, operation: Any) -> Resolution:
        key = (operation.method.lower(), operation.path)
        name = self.names.get(key, operation.operation_id)
        function = self.handlers.get(name) or self.synthesized[key]
        return Resolution(function, name)


def _loaded(option: str, path: str | Path | None, load: Callable[[Path], _T], must_exist: bool = False) -> _T | None:
    """What a file option names, loaded; an OptionError naming the option and the file if it cannot be."""
    if path is None:
        return None
    path = Path(path)
    if must_exist and not path.is_file():
        raise OptionError(option, f"{path}: no such file")
    try:
        return load(path)
    except (OSError, ValueError, yaml.YAMLError) as exc:
        message = str(exc)
        raise OptionError(option, message if str(path) in message else f"{path}: {message}") from None


def open_state(url: str) -> State:
    """The state a URL names: `memory`, `per-process` or a Redis URL; ValueError for anything else."""
    problem = state_problem(url)
    if problem is not None:
        raise ValueError(problem)
    if url in (MEMORY, PER_PROCESS):
        return Memory(url)
    # redis (and hiredis) are imported only by servers that share state: start-up stays light.
    from portkey_completions.control.redis_state import RedisState

    return RedisState(url)


@dataclass(frozen=True)
class Services:
    """What one server is made of below the HTTP edge, each made once (`services`) and handed to its users."""

    alternatives: Alternatives  # the spec's security requirements, read as a table
    engine: Engine
    stores: Stores
    state: State  # opened once: the rules, the journal and the cache each get the interface they need
    gateway: Gateway
    rules: Scenarios
    journal: Journal
    front: Front
    handle: Handle  # front.handle, every answer checked against the spec with --validate-responses
    tracer: Any  # OpenTelemetry's, when tracing is on (`observe.telemetry.start`); None: off
    coverage: Collector  # contract coverage: its items, read from the spec, counted by the state


def services(options: ServerOptions) -> Services:
    """The services the options describe; an OptionError naming the option that cannot be used."""
    try:
        alternatives = Alternatives.from_spec("/completions", "post")
    except ValueError as exc:  # a security the spec declares but a header cannot carry
        raise spec_check.InvalidSpec([f"security: {exc}"]) from None
    models = options.models
    if isinstance(models, str | Path):
        models = _loaded("models", models, catalog.load) or {}
    stores: Stores
    if isinstance(options.store, str | Path):
        stores = _loaded("store", options.store, StoreFile) or FixedStore()
    else:
        stores = FixedStore(options.store)
    engine = Engine(models)
    try:
        tracer = telemetry.start(options.otlp_endpoint)  # only when an endpoint is given or in the environment
    except ValueError as exc:
        raise OptionError("otlp_endpoint", str(exc)) from None
    try:
        state = open_state(options.state)
    except ValueError as exc:
        raise OptionError("state", str(exc)) from None
    # The process's draining event (set by server.lifecycle on a shutdown signal) and the token
    # counter reach the streams and counters as arguments: no room below reads a global for them.
    stub = Stub(engine, tokens=metrics.Tokens(engine.models), draining=draining.draining)
    leaves = Leaves(
        stores,
        stub,
        trusted_hosts=options.trusted_hosts,
        validate_upstream=options.validate_upstream,
        timeout=options.upstream_timeout,
        tracer=tracer,
    )
    gateway = Gateway(alternatives, stores, Runner(leaves, cache=state, retry_backoff=options.retry_backoff))
    rules = _loaded("scenarios_path", options.scenarios_path, functools.partial(Scenarios, state)) or Scenarios(state)
    cassette = _loaded("replay_path", options.replay_path, Cassette, must_exist=True)
    front = Front(gateway, rules, engine.tokenizer, cassette, options.replay_speed)
    # --validate-responses checks every answer here, where the fast path and connexion's path meet.
    handle = conformance.checked(front.handle, "/completions", "post") if options.validate_responses else front.handle
    names = [a.name for a in alternatives.alternatives] + ([OPENAI_COMPATIBLE] if options.openai_compatible else [])
    coverage = Collector(Coverage(names, gateway=stores.current().given, providers=lambda: _providers(stores)), state)
    return Services(
        alternatives, engine, stores, state, gateway, rules, Journal(state), front, handle, tracer, coverage
    )


def _providers(stores: Stores) -> list[str]:
    """The providers a request may be routed to: the stub, the store's own, its virtual keys'."""
    store = stores.current()
    return sorted({STUB, *store.providers, *(key.provider for key in store.virtual_keys.values())})


def create_app(options: ServerOptions | None = None, **fields: Any) -> CompletionsApp:
    """Build the server: its services, the middleware stack around them, and its routes.

    Args:
        options: How to set it up (`ServerOptions`); None: the defaults.
        **fields: `ServerOptions` fields to set, on top of `options` (an unknown name is a ValueError).

    Returns:
        The ASGI app, ready for uvicorn.
    """
    options = (options or ServerOptions()).replace(**fields)
    spec = load()
    # Refused here in a few lines naming where, before connexion would dump the whole schema.
    spec_check.check(spec)
    built = services(options)
    defaults = ConnexionMiddleware.default_middlewares
    layers = [ServerErrorMiddleware if m is ConnexionServerError else m for m in defaults]
    app = CompletionsApp(
        __name__,
        lifespan=functools.partial(_lifespan, built.state),
        security_map=SECURITY_MAP,
        validator_map=VALIDATORS,
        middlewares=layers,
    )
    namespaces = _middlewares(app, options, built)
    # operationId -> handler: the published spec names operations, not Python paths. An
    # operation without one is answered from the spec (server/synthesis.py), never a 500.
    resolver = _Operations(handler.operations(built.handle, built.stores), spec)
    app.add_api(
        spec,
        resolver=resolver,
        validate_responses=options.validate_responses,
        swagger_ui_options=SwaggerUIOptions(swagger_ui=options.swagger_ui),
    )
    app.add_error_handler(Unauthorized, refusing(built.alternatives))
    for exc_class in (ProblemException, HTTPException, Exception):
        app.add_error_handler(exc_class, handle_error)
    _routes(app, options, built, resolver)
    app.options, app.journal, app.scenarios, app.namespaces, app.stores, app.alternatives = (
        options, built.journal, built.rules, namespaces, built.stores, built.alternatives
    )  # fmt: skip
    return app


@contextlib.asynccontextmanager
async def _lifespan(state: State, _app: Any) -> AsyncIterator[None]:
    await state.start()  # Redis: connected, and a first copy of the rules, before the first request
    try:
        yield
    finally:
        await state.close()


def _middlewares(app: CompletionsApp, options: ServerOptions, built: Services) -> Namespaces:
    """Ours, outermost first, around connexion's; the namespaces the middleware keeps."""
    if options.access_log:  # outermost of ours: it logs the path as the caller sent it
        app.add_middleware(
            AccessLog,
            MiddlewarePosition.BEFORE_EXCEPTION,
            json_lines=options.log_format == "json",
            probes=options.log_level == "debug",
        )
    # Next: /ns/<name>/ comes off the path before anything reads it.
    namespaces = Namespaces()
    app.add_middleware(NamespaceMiddleware, MiddlewarePosition.BEFORE_EXCEPTION, namespaces=namespaces)
    # Next: the door makes each /v1 request's call record, journals it, and writes Portkey's
    # headers on every answer, errors included, as it leaves.
    app.add_middleware(
        Door,
        MiddlewarePosition.BEFORE_EXCEPTION,
        alternatives=built.alternatives,
        journal=built.journal,
        openai_compatible=options.openai_compatible,
        gateway=built.stores.current().given,
        tracer=built.tracer,
        coverage=built.coverage,
    )
    if options.fast_path:
        # Outside the layer below, whose work it does itself for the requests it answers.
        app.add_middleware(
            FastPath,
            MiddlewarePosition.BEFORE_EXCEPTION,
            handle=built.handle,
            max_body_bytes=options.max_body_bytes,
            body_timeout=options.body_timeout,
        )
    app.add_middleware(RequestGuard, MiddlewarePosition.BEFORE_EXCEPTION, body_timeout=options.body_timeout)
    app.add_middleware(BodyLimitMiddleware, MiddlewarePosition.BEFORE_ROUTING, max_body_bytes=options.max_body_bytes)
    app.add_middleware(handler.ExchangeArgument, MiddlewarePosition.BEFORE_CONTEXT)  # the handlers' `exchange`
    return namespaces


def _routes(app: CompletionsApp, options: ServerOptions, built: Services, resolver: _Operations) -> None:
    """The routes beside the spec's: probes, the admin API and page; `GET /` lists every route."""
    base = base_path()
    routes = {f"{m.upper()} {base}{p}": name for (m, p), name in resolver.names.items()}
    if options.swagger_ui:
        routes[f"GET {base}/ui/"] = "Swagger UI of the effective spec"
        routes[f"GET {base}/openapi.json"] = "the effective spec"
    probes = Probes(
        built.state, built.stores, {"name": "portkey-completions", "version": __version__, "routes": routes}
    )
    for path, name, endpoint in probes.routes():
        app.add_url_rule(path, name, endpoint, methods=["GET"])
    spec_href = f"{base}/openapi.json" if options.swagger_ui else ""
    admin = Admin(built.rules, built.journal, _admin_token(options), built.state.shown, built.coverage, spec_href)
    for path, name, endpoint, methods in admin.routes():
        app.add_url_rule(path, name, endpoint, methods=methods)
    routes[f"GET {ADMIN_PREFIX}/"] = "the journal page (admin API: /__admin/openapi.yaml)"
    routes["GET /healthz"] = "liveness"
    routes["GET /readyz"] = "readiness: 503 with the reasons while the server should not be sent requests"
    routes["GET /metrics"] = "Prometheus metrics (docs/observability.md)"


def _admin_token(options: ServerOptions) -> str | None:
    """The admin token: given, or read from --admin-token-file (so that it never shows in `ps`)."""
    if options.admin_token_file is None:
        return options.admin_token
    token = _loaded("admin_token_file", options.admin_token_file, lambda p: p.read_text(encoding="utf-8").strip())
    if not token:
        raise OptionError("admin_token_file", f"{options.admin_token_file}: the file is empty")
    return token
