"""The connexion AsyncApp serving the effective spec, with this package's behaviour bound in."""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import Any

import yaml
from connexion import AsyncApp
from connexion.exceptions import ProblemException, Unauthorized
from connexion.lifecycle import ConnexionRequest, ConnexionResponse
from connexion.middleware import MiddlewarePosition
from connexion.options import SwaggerUIOptions
from connexion.resolver import Resolver
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse

from portkey_completions_spec import SPEC_PATH

from . import __version__, handler
from .auth import SECURITY_MAP, Alternatives
from .catalog import DEFAULT_MODELS, ModelCard
from .engine import Engine
from .errors import handle_error
from .limits import DEFAULT_MAX_BODY_BYTES, BodyLimitMiddleware
from .validation import VALIDATORS


@functools.cache
def load_spec() -> dict[str, Any]:
    with open(SPEC_PATH, encoding="utf-8") as f:
        spec: dict[str, Any] = yaml.safe_load(f)
    return spec


def create_app(
    *,
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
    validate_responses: bool = False,
    swagger_ui: bool = True,
    models: Mapping[str, ModelCard] = DEFAULT_MODELS,
) -> AsyncApp:
    """Build the server.

    Args:
        max_body_bytes: Bodies over this many bytes get 413.
        validate_responses: Check every response against the spec (on in tests).
        swagger_ui: Serve the Swagger UI of the effective spec at /v1/ui/.
        models: The model table: which `model` names exist, their context windows, suffix support.

    Returns:
        The ASGI app, ready for uvicorn.
    """
    spec = load_spec()
    alternatives = Alternatives.from_spec(spec, "/completions", "post")
    # operationId -> handler: the published spec names operations, not Python paths.
    operations = handler.operations(Engine(models))

    app = AsyncApp(__name__, security_map=SECURITY_MAP, validator_map=VALIDATORS)
    app.add_middleware(BodyLimitMiddleware, MiddlewarePosition.BEFORE_ROUTING, max_body_bytes=max_body_bytes)
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
    return app
