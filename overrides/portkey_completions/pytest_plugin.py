"""The `portkey_stub` pytest fixture: a real stub server per test, its journal, scenarios and a client.

Installed with the package (entry point `pytest11`), so a test only names the fixture:

    def test_my_code(portkey_stub):
        with portkey_stub.scenario(prompt="^Summarize", text="Short."):
            assert my_summary(portkey_stub.client()) == "Short."
        portkey_stub.journal.assert_called_with(model="gpt-3.5-turbo-instruct")

`@pytest.mark.portkey_stub(in_process=True)` answers through an in-process transport instead of
a server thread; any other keyword is a `ServerOptions` field (store=, scenarios_path=, models=, …).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any

import pytest

from portkey_completions.core.alternatives import Alternative

if TYPE_CHECKING:  # the heavy imports wait for a test that uses the fixture
    from portkey_completions.app import StubApp
    from portkey_completions.client import Completions
    from portkey_completions.testing import journal as journals
    from portkey_completions.testing import scenarios

ALTERNATIVE_ARGS: Mapping[Alternative, Mapping[str, Any]] = {
    Alternative.VIRTUAL_KEY: {"virtual_key": "vk-test"},
    Alternative.PROVIDER: {"provider": "openai", "authorization": "sk-test"},
    Alternative.CONFIG: {"config": {"provider": "openai", "api_key": "sk-test"}},
}


class Journal:
    """What the code under test sent: `entries` (newest last) and assertion helpers."""

    def __init__(self, journal: journals.Journal) -> None:
        self._journal = journal

    @property
    def entries(self) -> list[dict[str, Any]]:
        return list(self._journal)

    @property
    def bodies(self) -> list[Any]:
        return [e["body"] for e in self.entries]

    def clear(self) -> None:
        self._journal.clear()

    def assert_called_with(self, **fields: Any) -> dict[str, Any]:
        """Some request's body had all these fields (e.g. prompt=…, max_tokens=…); returns its entry."""
        entry: dict[str, Any]
        for entry in reversed(self.entries):
            body = entry["body"]
            if isinstance(body, dict) and all(k in body and body[k] == v for k, v in fields.items()):
                return entry
        sent = "\n".join(f"  {e['method']} {e['path']} -> {e['status']}: {e['body']!r}" for e in self.entries)
        raise AssertionError(f"no request had {fields!r}; the requests were:\n{sent or '  (none)'}")

    def assert_count(self, n: int) -> None:
        assert len(self.entries) == n, f"expected {n} requests, the journal has {len(self.entries)}"


class PortkeyStub:
    def __init__(self, app: StubApp, base_url: str, in_process: bool) -> None:
        self.app = app
        self.base_url = base_url
        self.in_process = in_process
        self.journal = Journal(app.journal)

    @contextlib.contextmanager
    def scenario(self, match: Mapping[str, Any] | None = None, **respond: Any) -> Iterator[scenarios.Rule]:
        """A scenario rule for the block: `match` as a dict, or `prompt=`/`model=` shortcuts; the rest is `respond`."""
        match = dict(match or {})
        for key in ("model", "prompt", "headers", "alternative"):
            if key in respond:
                match[key] = respond.pop(key)
        rule = self.app.rules.add({"match": match, "respond": respond})
        try:
            yield rule
        finally:
            self.app.rules.remove(rule.id)

    def client(self, alternative: str = "virtual_key", **kwargs: Any) -> Completions:
        """The project's client, set up for one auth alternative (virtual_key, provider, config, custom_host)."""
        from portkey_completions.client import Completions

        if alternative not in set(Alternative):
            raise ValueError(f"alternative is one of {', '.join(Alternative)}, not {alternative!r}")
        if alternative == Alternative.CUSTOM_HOST:
            if self.in_process:
                raise ValueError("custom_host needs a real server (the stub is its own upstream): drop in_process")
            args: Mapping[str, Any] = {"provider": "openai", "authorization": "sk-test", "custom_host": self.base_url}
        else:
            args = ALTERNATIVE_ARGS[Alternative(alternative)]
        client = Completions(api_key="pk-test", base_url=self.base_url, **{**args, **kwargs})
        if self.in_process:
            client.client.set_httpx_client(self.app.test_client(base_url=self.base_url, headers=client.headers))
        return client


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "portkey_stub(in_process=False, **server_options): configure the portkey_stub fixture"
    )


@pytest.fixture
def portkey_stub(request: pytest.FixtureRequest) -> Iterator[PortkeyStub]:
    """A portkey-stub server for one test: `.base_url`, `.journal`, `.scenario(...)`, `.client(...)`."""
    from portkey_completions.app import create_app
    from portkey_completions.options import ServerOptions

    marker = request.node.get_closest_marker("portkey_stub")
    options = dict(marker.kwargs) if marker else {}
    in_process = bool(options.pop("in_process", False))
    options.setdefault("openai_compatible", True)
    app = create_app(ServerOptions.of(**options))
    if in_process:
        yield PortkeyStub(app, "http://portkey-stub.test/v1", in_process=True)
        return
    from portkey_completions.testing import serving

    with serving.thread(app) as url:
        yield PortkeyStub(app, f"{url}/v1", in_process=False)
