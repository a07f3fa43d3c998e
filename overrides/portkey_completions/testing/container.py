"""The portkey-stub image as a Testcontainers module: `pip install "portkey-completions[container]"`.

For a test that wants exactly what it deploys (the image) rather than the in-process server:

    with PortkeyStubContainer("portkey-stub:0.3.0", store="tests/store.yaml") as stub:
        test = stub.namespace("checkout")
        with test.scenario(prompt="^Summarize", text="Short."):
            ...  # code under test, pointed at test.base_url
        test.journal.assert_called_with(model="gpt-3.5-turbo-instruct")

It starts the image, waits until `/readyz` answers 200, and hands out the `portkey_stub` fixture's
`ServerNamespace` (base_url, admin, scenario, journal, clients). `pytest --portkey-stub-image=TAG`
runs the fixture itself on a container of TAG. Options are `ServerOptions` fields, passed as their
`PORTKEY_STUB_*` variables; a file option (store=, scenarios_path=, models=, replay_path=) is a host
path, mounted read-only under /etc/portkey-stub. The server sees the test from outside loopback, so
the module sets an admin token of its own and its admin client sends it.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import httpx
from testcontainers.core.container import DockerContainer
from testcontainers.core.wait_strategies import HttpWaitStrategy

from portkey_completions.control.admin import TOKEN_HEADER
from portkey_completions.options import flags

from .namespace import ServerNamespace

PORT = 8787  # the image's PORTKEY_STUB_PORT
MOUNTS = "/etc/portkey-stub"  # the image's working directory, where its files are mounted
READY_TIMEOUT = 60  # seconds from start to /readyz 200: an image start, a Redis waited for
# What the `portkey_stub` fixture sets, so that a test runs alike in-process and on the image.
FIXTURE_DEFAULTS: Mapping[str, Any] = {"openai_compatible": True, "retry_backoff": "fast"}


class PortkeyStubContainer(DockerContainer):
    """`portkey-stub serve` in its image, reachable from the test at `url`.

    Args:
        image: The image's tag (`make image` builds `portkey-stub:latest` and `:VERSION`).
        publish_on: The host address the server's port is published on (a free port of it).
        **options: `ServerOptions` fields (their variables are set; a file option is mounted).
    """

    def __init__(self, image: str = "portkey-stub:latest", *, publish_on: str = "127.0.0.1", **options: Any) -> None:
        super().__init__(image)
        self.admin_token = secrets.token_urlsafe(16)
        self._admin: httpx.Client | None = None
        # A free port of the host's loopback: a stub under test is no service of the network. A test
        # that runs in a container beside the engine's (Docker in Docker) says publish_on="0.0.0.0".
        # docker-py takes (address,) as "this address, any port"; testcontainers' hint names only a port.
        self.ports[str(PORT)] = (publish_on,)  # type: ignore[assignment]
        declared = dict(flags())
        for name, value in {**FIXTURE_DEFAULTS, "admin_token": self.admin_token, **options}.items():
            if name not in declared:
                raise ValueError(f"{name}: not a server option given by a variable ({', '.join(declared)})")
            flag = declared[name]
            if flag.metavar in ("FILE", "CASSETTE") and value is not None and name != "admin_token":
                if not isinstance(value, str | Path):
                    raise TypeError(f"{name}: give the file's path for the image to read, not {type(value).__name__}")
                host = Path(value).resolve(strict=True)
                value = f"{MOUNTS}/{name}{host.suffix}"
                self.with_volume_mapping(str(host), value, "ro")
            self.with_env(flag.env, _text(value))
        self.waiting_for(HttpWaitStrategy(PORT, "/readyz").for_status_code(200).with_startup_timeout(READY_TIMEOUT))

    @property
    def url(self) -> str:
        """The server's root on the host: `http://HOST:PORT`."""
        return f"http://{self.get_container_host_ip()}:{self.get_exposed_port(PORT)}"

    @property
    def admin(self) -> httpx.Client:
        """An HTTP client of the server's root that sends the admin token (one, closed by `stop`)."""
        if self._admin is None:
            self._admin = httpx.Client(base_url=self.url, headers={TOKEN_HEADER: self.admin_token}, timeout=10)
        return self._admin

    def namespace(self, name: str) -> ServerNamespace:
        """A namespace of this server: its own rules, counters and journal, as the fixture gives each test."""
        return ServerNamespace(None, self.admin, self.url, name)

    def stop(self, force: bool = True, delete_volume: bool = True) -> None:
        if self._admin is not None:
            self._admin.close()
            self._admin = None
        super().stop(force, delete_volume)


def _text(value: Any) -> str:
    """A value as its variable takes it: booleans as true/false, lists comma-separated."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list | tuple):
        return ",".join(map(str, value))
    return str(value)
