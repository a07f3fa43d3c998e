"""Namespaces: many tests, or CI jobs, share one server, each with its own rules and journal.

A request to `/ns/<name>/…` is the request to `/…`, in namespace `<name>`: any client given a base
URL of `http://host:port/ns/<name>/v1` (an official SDK, this package's client, plain httpx, a
test suite in another language) is isolated with no other setup. The scenario rules added
under a namespace match only its requests, their counters are its own, and its journal entries
are its own; the admin API under `/ns/<name>/__admin/` sees only that namespace. File rules apply
to every namespace. A request outside any namespace is in none (`None`), as before.
"""

from __future__ import annotations

import asyncio
import re
import threading
import weakref

from starlette.types import ASGIApp, Receive, Scope, Send

from portkey_completions.call.errors import ServerAPIError
from portkey_completions.call.record import NAMESPACE

PREFIX = "/ns/"
NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")


class Namespaces:
    """The requests running in each namespace, so that ending one ends them (the plugin's teardown)."""

    def __init__(self) -> None:
        self._running: dict[str, set[asyncio.Task[object]]] = {}
        self._ended: weakref.WeakSet[asyncio.Task[object]] = weakref.WeakSet()
        self._lock = threading.Lock()

    def enter(self, name: str, task: asyncio.Task[object]) -> None:
        with self._lock:
            self._running.setdefault(name, set()).add(task)

    def leave(self, name: str, task: asyncio.Task[object]) -> None:
        with self._lock:
            tasks = self._running.get(name)
            if tasks is not None:
                tasks.discard(task)
                if not tasks:
                    del self._running[name]

    def ended(self, task: asyncio.Task[object]) -> bool:
        """Whether `end` cancelled this task (and not, say, the server's shutdown)."""
        with self._lock:
            return task in self._ended

    def end(self, name: str) -> int:
        """Cancel the namespace's requests still running (a client that gave up); how many. Thread-safe."""
        with self._lock:
            tasks = list(self._running.pop(name, ()))
            self._ended.update(tasks)
        for task in tasks:
            task.get_loop().call_soon_threadsafe(task.cancel)
        return len(tasks)


class NamespaceMiddleware:
    """Outermost: takes `/ns/<name>` off the path and names it in the scope (`call.record.NAMESPACE`)."""

    def __init__(self, app: ASGIApp, namespaces: Namespaces) -> None:
        self.app = app
        self.namespaces = namespaces

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path: str = scope.get("path", "")
        if scope["type"] != "http" or not path.startswith(PREFIX):
            await self.app(scope, receive, send)
            return
        name, slash, rest = path[len(PREFIX) :].partition("/")
        if not NAME.fullmatch(name) or not slash:
            message = f"Not a namespace: {PREFIX}<name>/… with a name of letters, digits, '.', '_' or '-'."
            await ServerAPIError(404, message, code="unknown_namespace").response()(scope, receive, send)
            return
        inner = {**scope, "path": f"/{rest}", "raw_path": f"/{rest}".encode(), NAMESPACE: name}
        task = asyncio.current_task()
        if task is not None:
            self.namespaces.enter(name, task)
        try:
            await self.app(inner, receive, send)
        except asyncio.CancelledError:
            # Ended by `Namespaces.end`: the caller is gone, nothing is left to answer; the
            # connection is dropped quietly. Any other cancellation goes on.
            if task is None or not self.namespaces.ended(task):
                raise
            task.uncancel()
        finally:
            if task is not None:
                self.namespaces.leave(name, task)
