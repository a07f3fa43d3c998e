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
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import pytest

from portkey_completions.core import renamed

from . import coverage_plugin
from .namespace import ServerNamespace

if TYPE_CHECKING:  # the heavy imports wait for a test that uses the fixture
    import httpx

    from portkey_completions.app import CompletionsApp

_tests = itertools.count(1)


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
