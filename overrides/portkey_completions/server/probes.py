"""Probes for an operator: liveness (`/healthz`), readiness (`/readyz`), `GET /` (the same), and `/metrics`.

Any caller may use them: they hold no secret. Readiness is 503, with the reasons in JSON, while
the shared state is unreachable, while the store file does not load (the last good store still
answers), and while the server drains after SIGTERM; otherwise 200. The access log writes them at
debug only (`access_log.PROBES`). `/metrics` is Prometheus's text format (`observe.metrics` names
what it counts); with `--workers N`, the sum over the workers (prometheus-client's multiprocess
mode), and the process metrics of the worker that answered.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    ProcessCollector,
    generate_latest,
    multiprocess,
)
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from portkey_completions.control.state import State
from portkey_completions.gateway.store import Stores
from portkey_completions.observe.draining import draining
from portkey_completions.observe.metrics import MULTIPROCESS


class Probes:
    def __init__(self, state: State, stores: Stores, about: Mapping[str, object]) -> None:
        self.state = state
        self.stores = stores
        self.about = about  # what `GET /` says of the server: name, version, routes

    async def problems(self) -> list[str]:
        """Why the server should not be sent requests now; empty when it is ready."""
        found = []
        if draining.is_set():
            found.append("the server is draining after a shutdown signal")
        problem = await self.state.problem()
        if problem is not None:
            found.append(problem)
        self.stores.current()  # a changed file is read now, as a request would
        if self.stores.problem is not None:
            found.append(self.stores.problem)
        return found

    async def healthz(self, _request: Request) -> JSONResponse:
        return JSONResponse({"status": "ok"})

    async def readyz(self, _request: Request) -> JSONResponse:
        problems = await self.problems()
        if problems:
            return JSONResponse({"status": "unready", "reasons": problems}, status_code=503)
        return JSONResponse({"status": "ready"})

    async def root(self, _request: Request) -> JSONResponse:
        problems = await self.problems()
        body = {**self.about, "status": "unready" if problems else "ok"}
        if problems:
            body["reasons"] = problems
        return JSONResponse(body, status_code=503 if problems else 200)

    async def metrics(self, _request: Request) -> Response:
        return Response(exposition(), media_type=CONTENT_TYPE_LATEST)

    def routes(self) -> list[tuple[str, str, object]]:
        return [
            ("/healthz", "healthz", self.healthz),
            ("/readyz", "readyz", self.readyz),
            ("/metrics", "metrics", self.metrics),
            ("/", "root", self.root),
        ]


def exposition() -> bytes:
    """Every metric in Prometheus's text format: this process's, or the sum over the workers."""
    if MULTIPROCESS not in os.environ:
        return generate_latest(REGISTRY)
    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
    ProcessCollector(registry=registry)
    return generate_latest(registry)
