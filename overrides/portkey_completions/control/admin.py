"""The admin API under /__admin (outside /v1): scenario rules, the journal, contract coverage, health, the journal page.

Its contract is `admin.yaml` beside this file (served at /__admin/openapi.yaml). It answers
loopback callers, and any caller with the admin token (`--admin-token`, sent as x-admin-token or
Authorization: Bearer); everyone else gets a 403.
"""

from __future__ import annotations

import asyncio
import hmac
import importlib.resources
from collections.abc import Awaitable, Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response

from portkey_completions.call.errors import ServerAPIError
from portkey_completions.call.record import NAMESPACE
from portkey_completions.core import untrusted

from . import coverage_report
from .coverage import Collector
from .journal import Journal
from .rules import RuleError
from .scenarios import Scenarios
from .state import StateUnavailable, unavailable

PREFIX = "/__admin"
TOKEN_HEADER = "x-admin-token"  # or Authorization: Bearer <token>
LOOPBACK = frozenset({"127.0.0.1", "::1", "localhost"})

Endpoint = Callable[[Request], Awaitable[Response]]


def _resource(name: str) -> str:
    return importlib.resources.files(__package__).joinpath(name).read_text(encoding="utf-8")


class Admin:
    def __init__(
        self,
        rules: Scenarios,
        journal: Journal,
        token: str | None = None,
        state_shown: str = "memory",
        coverage: Collector | None = None,
        spec_href: str = "",
    ) -> None:
        self.rules = rules
        self.journal = journal
        self.coverage = coverage  # contract coverage: its items and their counts
        self.spec_href = spec_href  # where the served spec is, for the coverage page's links ("": not served)
        self.token = token
        self.state_shown = state_shown  # the state's URL as it may be shown (no password)

    def allowed(self, request: Request) -> bool:
        if request.client is not None and request.client.host in LOOPBACK:
            return True
        if not self.token:
            return False
        given = request.headers.get(TOKEN_HEADER) or request.headers.get("authorization", "").partition(" ")[2]
        return hmac.compare_digest(given.encode(), self.token.encode())

    def guarded(self, endpoint: Endpoint) -> Endpoint:
        async def call(request: Request) -> Response:
            if not self.allowed(request):
                return ServerAPIError(
                    403,
                    "The admin API answers loopback callers, or callers with the admin token "
                    "(portkey-stub serve --admin-token; send it as x-admin-token).",
                    code="admin_forbidden",
                ).response()
            try:
                return await endpoint(request)
            except ServerAPIError as error:
                return error.response()
            except StateUnavailable as exc:
                return unavailable(exc).response()

        return call

    def routes(self) -> list[tuple[str, str, Endpoint, list[str]]]:
        """(path, name, endpoint, methods) for the app to add."""
        return [
            (f"{PREFIX}/", "admin_page", self.guarded(self.page), ["GET"]),
            (f"{PREFIX}/openapi.yaml", "admin_spec", self.guarded(self.spec), ["GET"]),
            (f"{PREFIX}/health", "admin_health", self.guarded(self.health), ["GET"]),
            (f"{PREFIX}/rules", "admin_rules", self.guarded(self.rules_endpoint), ["GET", "POST", "DELETE"]),
            (f"{PREFIX}/rules/{{rule_id}}", "admin_rule", self.guarded(self.remove_rule), ["DELETE"]),
            (f"{PREFIX}/journal", "admin_journal", self.guarded(self.journal_endpoint), ["GET", "DELETE"]),
            (f"{PREFIX}/coverage", "admin_coverage", self.guarded(self.coverage_endpoint), ["GET", "DELETE"]),
        ]

    async def page(self, request: Request) -> Response:
        return HTMLResponse(_resource("journal.html"))

    async def spec(self, request: Request) -> Response:
        return Response(_resource("admin.yaml"), media_type="application/yaml")

    async def health(self, request: Request) -> Response:
        return JSONResponse(
            {
                "status": "ok",
                "rules": len(await self.rules.rules(_namespace(request))),
                "journal": len(await self.journal.state.entries(None)),
                "tasks": len(asyncio.all_tasks()),  # a leak of abandoned streams shows as growth
                "state": self.state_shown,
                "worker": self.journal.state.worker,
            }
        )

    async def rules_endpoint(self, request: Request) -> Response:
        if request.method == "GET":
            return JSONResponse({"rules": [r.describe() for r in await self.rules.rules(_namespace(request))]})
        if request.method == "DELETE":
            await self.rules.clear(_namespace(request))
            return Response(status_code=204)
        try:
            spec: Any = untrusted.loads(await request.body())
        except ValueError as exc:
            raise ServerAPIError(400, f"The body is not valid JSON: {exc}.") from None
        try:  # checked against admin.yaml's RuleSpec, as file and Prefer rules are
            rule = await self.rules.add(spec, _namespace(request))
        except RuleError as exc:
            raise ServerAPIError(400, f"Invalid rule: {exc}.", code="invalid_rule") from None
        return JSONResponse(rule.describe(), status_code=201)

    async def remove_rule(self, request: Request) -> Response:
        rule_id = request.path_params["rule_id"]
        if not await self.rules.remove(rule_id, _namespace(request)):
            raise ServerAPIError(404, f"No run-time rule {rule_id!r}.", code="rule_not_found")
        return Response(status_code=204)

    async def journal_endpoint(self, request: Request) -> Response:
        if request.method == "DELETE":
            await self.journal.clear(_namespace(request))
            return Response(status_code=204)
        since = _query_int(request, "since", 0, None) or 0
        limit = _query_int(request, "limit", 1, 1000) or 1000
        entries = [e for e in await self.journal.read(_namespace(request)) if e["id"] > since][-limit:]
        return JSONResponse({"entries": entries})

    async def coverage_endpoint(self, request: Request) -> Response:
        """Contract coverage: the whole server's at /__admin, a namespace's under /ns/<name>/__admin."""
        if self.coverage is None:
            raise ServerAPIError(404, "This server does not collect contract coverage.", code="coverage_off")
        counts, namespace = self.coverage.counts, _namespace(request)
        if request.method == "DELETE":
            await counts.forget_coverage(namespace)
            return Response(status_code=204)
        form = request.query_params.get("format", "json")
        if form not in ("json", "html", "markdown", "term", "term-missing"):
            raise ServerAPIError(
                400, "Query parameter 'format' is one of json, html, markdown, term, term-missing.", param="format"
            )
        report = coverage_report.assemble(self.coverage.coverage, await counts.coverage(namespace), namespace)
        if form == "json":
            return JSONResponse(report)
        if form == "html":
            return HTMLResponse(coverage_report.page(report, self.spec_href))
        return Response(coverage_report.rendered(report, form), media_type="text/plain; charset=utf-8")


def _query_int(request: Request, name: str, low: int, high: int | None) -> int | None:
    raw = request.query_params.get(name)
    if raw is None:
        return None
    try:
        value = int(raw)
    except ValueError:
        raise ServerAPIError(400, f"Query parameter {name!r} must be an integer.", param=name) from None
    if value < low or (high is not None and value > high):
        raise ServerAPIError(400, f"Query parameter {name!r} is out of range.", param=name)
    return value


def _namespace(request: Request) -> str | None:
    """The `/ns/<name>/` the admin request came under (the edge names it in the scope), or None."""
    name: str | None = request.scope.get(NAMESPACE)
    return name
