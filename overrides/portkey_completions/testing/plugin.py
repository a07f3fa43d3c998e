"""The `portkey_stub` pytest fixture: a stub server shared by the session, a namespace of it per test.

Installed with the package (entry point `pytest11`), so a test only names the fixture:

    def test_my_code(portkey_stub):
        with portkey_stub.scenario(prompt="^Summarize", text="Short."):
            assert my_summary(portkey_stub.client()) == "Short."
        portkey_stub.journal.assert_called_with(model="gpt-3.5-turbo-instruct")

One real server (uvicorn, in a thread) is started per session and set of options; each test gets
its own namespace of it (`base_url` is `http://127.0.0.1:PORT/ns/<test>/v1`), so its scenario
rules, their counters and its journal are its own, for any client pointed at `base_url`. With
pytest-xdist each worker process has its own server. `@pytest.mark.portkey_stub(**options)` takes
`ServerOptions` fields (store=, scenarios_path=, models=, …): tests with the same options share a
server.

`--portkey-coverage` reports what the session exercised of the contract (`coverage_plugin`).
"""

from __future__ import annotations

import contextlib
import itertools
import re
import warnings
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any

import pytest

from portkey_completions.core import renamed
from portkey_completions.core.alternatives import Alternative

from . import coverage_plugin, credentials

if TYPE_CHECKING:  # the heavy imports wait for a test that uses the fixture
    import httpx
    import openai

    from portkey_completions.app import CompletionsApp
    from portkey_completions.client import Completions

    from .admin_client import AdminClient

_tests = itertools.count(1)


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


class _Servers:
    """The session's servers, one per set of options, each started when a test first needs it.

    In-process (uvicorn in a thread), or with `--portkey-stub-image=TAG` a container of that image
    (`container.PortkeyStubContainer`), whose app is not in this process (None).
    """

    def __init__(self, image: str | None = None) -> None:
        self.image = image
        self.running: dict[str, tuple[CompletionsApp | None, httpx.Client, str]] = {}
        self._stack = contextlib.ExitStack()

    def get(self, options: dict[str, Any]) -> tuple[CompletionsApp | None, httpx.Client, str]:
        key = repr(sorted(options.items()))
        if key not in self.running and self.image is not None:
            from .container import PortkeyStubContainer

            container = self._stack.enter_context(PortkeyStubContainer(self.image, **options))
            self.running[key] = (None, container.admin, container.url)
        if key not in self.running:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", DeprecationWarning)
                from portkey_completions.app import create_app
            from portkey_completions.options import ServerOptions

            from . import serving

            with warnings.catch_warnings():
                # connexion's imports warn about its own use of jsonschema: not the user's business.
                warnings.simplefilter("ignore", DeprecationWarning)
                app = create_app(ServerOptions.of(**options))
            import httpx

            url = self._stack.enter_context(serving.thread(app))
            admin = self._stack.enter_context(httpx.Client(base_url=url, timeout=10))
            self.running[key] = (app, admin, url)
        return self.running[key]

    def close(self) -> None:
        self._stack.close()


def pytest_addoption(parser: pytest.Parser) -> None:
    coverage_plugin.addoption(parser)
    parser.getgroup("portkey-stub").addoption(
        "--portkey-stub-image",
        metavar="TAG",
        default=None,
        help="run the portkey_stub fixture's server as a container of this image (Testcontainers; needs "
        "portkey-completions[container] and a Docker-compatible socket), not in-process",
    )


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "portkey_stub(**server_options): the ServerOptions of the portkey_stub server")
    if coverage_plugin.forms(config) or config.getoption("portkey_coverage_fail_under") is not None:
        config.pluginmanager.register(coverage_plugin.CoveragePlugin(config), "portkey-coverage")


@pytest.fixture(scope="session")
def portkey_stub_servers(pytestconfig: pytest.Config) -> Iterator[_Servers]:
    """The session's portkey-stub servers (the `portkey_stub` fixture's); started on first use."""
    servers = _Servers(pytestconfig.getoption("portkey_stub_image"))
    try:
        yield servers
    finally:
        reports = pytestconfig.stash.get(coverage_plugin.REPORTS, None)
        if reports is not None:  # --portkey-coverage: each server's counts, read before it stops
            reports += [
                admin.get("/__admin/coverage").raise_for_status().json() for _, admin, _ in servers.running.values()
            ]
        servers.close()


@pytest.fixture
def portkey_stub(request: pytest.FixtureRequest, portkey_stub_servers: _Servers) -> Iterator[ServerNamespace]:
    """This test's namespace of the session's stub server: `.base_url`, `.journal`, `.scenario(...)`, clients."""
    marker = request.node.get_closest_marker("portkey_stub")
    options = dict(marker.kwargs) if marker else {}
    if "in_process" in options:
        raise pytest.UsageError("portkey_stub(in_process=…) is retired: the session's shared server is as fast")
    options.setdefault("openai_compatible", True)
    options.setdefault("retry_backoff", "fast")  # a test suite waits 0.1 s for a retry, not Portkey's 1 s
    app, admin, url = portkey_stub_servers.get(options)
    stub = ServerNamespace(
        app, admin, url, f"t{next(_tests)}-{re.sub(r'[^A-Za-z0-9._-]', '-', request.node.name)[:40]}"
    )
    try:
        yield stub
    finally:
        if app is not None:  # what the test left running (a request its client gave up on) ends here
            app.namespaces.end(stub.namespace)
        stub.admin.clear_rules()
        stub.journal.clear()


# "Stub" is the built-in provider only: the namespace's name before this release, kept for one.
__getattr__ = renamed.module_getattr(__name__, {"PortkeyStub": ("ServerNamespace", ServerNamespace)})
