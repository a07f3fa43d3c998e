"""One test's namespace of a running stub server: its base URL, its admin API, its clients.

The `portkey_stub` fixture hands one to each test (`plugin`); `container.PortkeyStubContainer`
hands them out for a server in a container. Neither needs the other: both need this.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any

from portkey_completions.core.alternatives import Alternative

from . import credentials

if TYPE_CHECKING:  # the heavy imports wait for a test that uses a client
    import httpx
    import openai

    from portkey_completions.app import CompletionsApp
    from portkey_completions.client import Completions

    from .admin_client import AdminClient


class ServerNamespace:
    """One test's namespace of the session's server.

    Attributes:
        base_url: The API root for any client (`…/ns/<test>/v1`): requests there are this test's.
        admin: The admin API in this test's namespace (rules, journal), over HTTP.
        journal: What this test's code sent (`admin.journal`).
        namespace: The namespace's name.
    """

    def __init__(self, app: CompletionsApp | None, admin: httpx.Client, server_url: str, namespace: str) -> None:
        self.app = app
        self.namespace = namespace
        from portkey_completions.core import spec

        self.base_url = f"{server_url}/ns/{namespace}{spec.base_path()}"
        from .admin_client import AdminClient

        self.admin: AdminClient = AdminClient(admin, namespace)
        self.journal = self.admin.journal

    @contextlib.contextmanager
    def scenario(
        self,
        match: Mapping[str, Any] | None = None,
        *,
        match_headers: Mapping[str, str] | None = None,
        response_headers: Mapping[str, str] | None = None,
        **respond: Any,
    ) -> Iterator[dict[str, Any]]:
        """A scenario rule for the block, in this test's namespace; yields it as the admin API lists it.

        Args:
            match: The `match` object; or the shortcuts `model=`, `prompt=` (a regex) and `alternative=`.
            match_headers: Request headers to match, name -> regex.
            response_headers: Headers to set on the answer (e.g. `{"Retry-After": "2"}`).
            **respond: The rest of `respond`: `text=`, `status=`, `fail_first=`, `ttft=`, … (see the docs).
        """
        if "headers" in respond:
            raise TypeError("headers= is ambiguous here: say match_headers= (to match) or response_headers= (to send)")
        match = dict(match or {})
        for key in ("model", "prompt", "alternative"):
            if key in respond:
                match[key] = respond.pop(key)
        if match_headers is not None:
            match["headers"] = dict(match_headers)
        if response_headers is not None:
            respond["headers"] = dict(response_headers)
        rule = self.admin.add_rule({"match": match, "respond": respond})
        try:
            yield rule
        finally:
            self.admin.remove_rule(rule["id"])

    def client(self, alternative: str = "virtual_key", **kwargs: Any) -> Completions:
        """The project's client, set up for one auth alternative (virtual_key, provider, config, custom_host)."""
        from portkey_completions.client import Completions

        if alternative not in set(Alternative):
            raise ValueError(f"alternative is one of {', '.join(Alternative)}, not {alternative!r}")
        args: Mapping[str, Any] = credentials.ARGS[Alternative(alternative)]
        if alternative == Alternative.CUSTOM_HOST:
            # The stub is its own upstream: the custom host is this namespace's base URL.
            args = {**args, "custom_host": self.base_url}
        return Completions(api_key=credentials.API_KEY, base_url=self.base_url, **{**args, **kwargs})

    def httpx(self, **kwargs: Any) -> httpx.Client:
        """A plain httpx client on `base_url`, with the virtual-key alternative's headers."""
        import httpx

        headers = credentials.headers(Alternative.VIRTUAL_KEY)
        return httpx.Client(base_url=self.base_url, headers=headers, **kwargs)

    def openai(self, **kwargs: Any) -> openai.OpenAI:
        """The official openai SDK on `base_url` (a plain OpenAI request: the stub answers it)."""
        import openai

        return openai.OpenAI(base_url=self.base_url, api_key=credentials.BEARER, **kwargs)
