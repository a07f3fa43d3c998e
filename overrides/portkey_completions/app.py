"""The connexion AsyncApp serving the effective spec, with this package's behaviour bound in."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from connexion import AsyncApp
from connexion.exceptions import ProblemException, Unauthorized
from connexion.lifecycle import ConnexionRequest, ConnexionResponse
from connexion.middleware import ConnexionMiddleware, MiddlewarePosition
from connexion.middleware.server_error import ServerErrorMiddleware as ConnexionServerError
from connexion.options import SwaggerUIOptions
from connexion.resolver import Resolver
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from portkey_completions.core.spec import load
from portkey_completions.engine.catalog import DEFAULT_MODELS, ModelCard
from portkey_completions.engine.engine import Engine
from portkey_completions.gateway.hosts import DEFAULT_TRUSTED
from portkey_completions.gateway.openai_compatible import OpenAICompatible
from portkey_completions.gateway.router import DEFAULT_UPSTREAM_TIMEOUT, Router
from portkey_completions.gateway.store import Store
from portkey_completions.server import handler
from portkey_completions.server.auth import SECURITY_MAP, Alternatives
from portkey_completions.server.errors import ServerErrorMiddleware, handle_error
from portkey_completions.server.fastpath import FastPath
from portkey_completions.server.limits import (
    DEFAULT_BODY_TIMEOUT,
    DEFAULT_MAX_BODY_BYTES,
    BodyLimitMiddleware,
    PaceMiddleware,
)
from portkey_completions.server.validation import VALIDATORS
from portkey_completions.testing.admin import PREFIX as ADMIN_PREFIX
from portkey_completions.testing.admin import Admin
from portkey_completions.testing.cassette import Cassette
from portkey_completions.testing.faults import DisconnectMiddleware
from portkey_completions.testing.front import Front
from portkey_completions.testing.journal import Journal, JournalMiddleware
from portkey_completions.testing.scenarios import Scenarios

from . import __version__


def create_app(
    *,
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
    validate_responses: bool = False,
    swagger_ui: bool = True,
    models: Mapping[str, ModelCard] = DEFAULT_MODELS,
    store: Store | None = None,
    trusted_hosts: tuple[str, ...] = DEFAULT_TRUSTED,
    validate_upstream: bool = False,
    upstream_timeout: float = DEFAULT_UPSTREAM_TIMEOUT,
    openai_compatible: bool = False,
    scenarios_path: str | Path | None = None,
    replay_path: str | Path | None = None,
    replay_speed: float = 1.0,
    admin_token: str | None = None,
    fast_path: bool = True,
    body_timeout: float = DEFAULT_BODY_TIMEOUT,
) -> AsyncApp:
    """Build the server.

    Args:
        max_body_bytes: Bodies over this many bytes get 413.
        validate_responses: Check every response against the spec (on in tests).
        swagger_ui: Serve the Swagger UI of the effective spec at /v1/ui/.
        models: The model table: which `model` names exist, their context windows, suffix support.
        store: The gateway's keys, virtual keys, configs and providers; None: any key, everything to the stub.
        trusted_hosts: Custom hosts allowed although loopback or private (matched literally).
        validate_upstream: Check upstream responses and stream chunks against the spec.
        upstream_timeout: Seconds an upstream may keep the gateway waiting: to connect (at most
            10), for its answer to start, and between the chunks of a stream.
        openai_compatible: Also answer plain OpenAI requests (bearer only) with the engine.
        scenarios_path: A YAML file of scenario rules, reloaded when it changes.
        replay_path: A cassette to answer from (`portkey-stub record` writes them).
        replay_speed: How much faster than recorded a cassette replays (0: no waiting).
        admin_token: Lets non-loopback callers use the admin API and page.
        body_timeout: Seconds a request body may stall before a 408 (slow uploads).
        fast_path: Answer valid completion requests without connexion's per-request layers
            (fastpath.py); invalid ones still go through connexion for its errors.

    Returns:
        The ASGI app, ready for uvicorn.
    """
    spec = load()
    alternatives = Alternatives.from_spec(spec, "/completions", "post")
    engine = Engine(models)

    async def stub(body: dict[str, Any]) -> Response:
        return await handler.answer(body, engine)

    router = Router(
        alternatives,
        store or Store(),
        stub,
        trusted_hosts=trusted_hosts,
        validate_upstream=validate_upstream,
        timeout=upstream_timeout,
    )
    rules = Scenarios(scenarios_path)
    journal = Journal()
    cassette = Cassette(replay_path) if replay_path else None
    front = Front(router, rules, engine.tokenizer, cassette, replay_speed)
    # operationId -> handler: the published spec names operations, not Python paths.
    operations = handler.operations(front.handle)

    defaults = ConnexionMiddleware.default_middlewares
    layers = [ServerErrorMiddleware if m is ConnexionServerError else m for m in defaults]
    app = AsyncApp(__name__, security_map=SECURITY_MAP, validator_map=VALIDATORS, middlewares=layers)
    # Outermost of ours: the journal sees every answer, errors included, as it leaves.
    app.add_middleware(JournalMiddleware, MiddlewarePosition.BEFORE_EXCEPTION, journal=journal)
    app.add_middleware(PaceMiddleware, MiddlewarePosition.BEFORE_EXCEPTION, body_timeout=body_timeout)
    app.add_middleware(DisconnectMiddleware, MiddlewarePosition.BEFORE_EXCEPTION)
    if fast_path:
        app.add_middleware(
            FastPath,
            MiddlewarePosition.BEFORE_EXCEPTION,
            handle=front.handle,
            alternatives=alternatives,
            max_body_bytes=max_body_bytes,
            openai_compatible=openai_compatible,
        )
    app.add_middleware(BodyLimitMiddleware, MiddlewarePosition.BEFORE_ROUTING, max_body_bytes=max_body_bytes)
    if openai_compatible:
        app.add_middleware(OpenAICompatible, MiddlewarePosition.BEFORE_SECURITY)
    app.add_api(
        spec,
        resolver=Resolver(function_resolver=operations.__getitem__),
        validate_responses=validate_responses,
        swagger_ui_options=SwaggerUIOptions(swagger_ui=swagger_ui),
    )

    async def refuse(request: ConnexionRequest, exc: Exception) -> ConnexionResponse:
        return alternatives.refusal(request.headers).to_response()

    app.add_error_handler(Unauthorized, refuse)
    for exc_class in (ProblemException, HTTPException, Exception):
        app.add_error_handler(exc_class, handle_error)

    routes = {"POST /v1/completions": "createCompletion"}
    if swagger_ui:
        routes["GET /v1/ui/"] = "Swagger UI of the effective spec"
        routes["GET /v1/openapi.json"] = "the effective spec"

    async def health(_request: Request) -> JSONResponse:
        return JSONResponse({"name": "portkey-completions", "version": __version__, "status": "ok", "routes": routes})

    app.add_url_rule("/", "health", health, methods=["GET"])
    admin = Admin(rules, journal, admin_token)
    for path, name, endpoint, methods in admin.routes():
        app.add_url_rule(path, name, endpoint, methods=methods)
    routes[f"GET {ADMIN_PREFIX}/"] = "the journal page (admin API: /__admin/openapi.yaml)"
    # For in-process users (the pytest plugin): the same journal and rules the admin API serves.
    app.stub = SimpleNamespace(journal=journal, rules=rules)
    return app
