"""The gateway's store: api keys, virtual keys, saved configs, providers and saved prompts, from one file.

api_keys: [pk-team-a, pk-team-b]
providers:                      # name -> OpenAI-compatible base URL; `stub` is the built-in engine
  local-vllm: http://127.0.0.1:8000/v1
virtual_keys:
  vk-prod: {provider: local-vllm, api_key: sk-upstream, base_url: http://127.0.0.1:8001/v1}
configs:
  pc-fallback: {strategy: {mode: fallback}, targets: [{virtual_key: vk-prod}, {provider: stub}]}
prompts:                        # id -> a saved prompt (POST /prompts/{promptId}/completions; gateway.prompts)
  pp-haiku: {template: "Write a haiku about {{topic}}.", virtual_key: vk-prod, hyperparameters: {max_tokens: 40}}

Any string may be written `${NAME}`: it is read from the environment when the store loads, so the
file can be committed without its keys.
"""

from __future__ import annotations

import hmac
import logging
import os
import re
import time
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import yaml

from portkey_completions.call.errors import ServerAPIError
from portkey_completions.core.headers import STUB

from .prompts import Prompt

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class VirtualKey:
    provider: str
    api_key: str | None = None
    base_url: str | None = None


@dataclass(frozen=True)
class Store:
    """`api_keys` None means no store was given: any non-empty key passes and every provider is the stub."""

    api_keys: tuple[str, ...] | None = None
    providers: Mapping[str, str] = field(default_factory=dict)
    virtual_keys: Mapping[str, VirtualKey] = field(default_factory=dict)
    configs: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    prompts: Mapping[str, Prompt] = field(default_factory=dict)

    @property
    def open(self) -> bool:
        return self.api_keys is None

    def accepts(self, api_key: str) -> bool:
        if self.api_keys is None:
            return bool(api_key.strip())
        # Compare with every key, in constant time each, so timing tells nothing about which is close.
        found = False
        for key in self.api_keys:
            found |= hmac.compare_digest(key.encode(), api_key.encode())
        return found

    def admit(self, api_key: str) -> None:
        """Nothing for one of the store's keys; a 401 for any other, before anything else is said."""
        if not self.accepts(api_key):
            raise ServerAPIError(
                401, "Invalid API key: x-portkey-api-key is not one of this gateway's keys.", code="invalid_api_key"
            )

    def base_url(self, provider: str) -> str | None:
        """The provider's base URL; None for the stub. Raises KeyError for an unknown provider."""
        if provider == STUB or self.open:
            return None
        return self.providers[provider]

    @classmethod
    def load(cls, path: str | Path) -> Store:
        """Read a store file (.toml, or YAML otherwise).

        Raises:
            ValueError: the file is not a store.
        """
        path = Path(path)
        text = path.read_text(encoding="utf-8")
        try:
            data = tomllib.loads(text) if path.suffix == ".toml" else yaml.safe_load(text)
        except (tomllib.TOMLDecodeError, yaml.YAMLError) as exc:
            raise ValueError(f"{path}: {exc}") from None
        data = _expanded(data, path, "")
        if not isinstance(data, dict):
            raise ValueError(f"{path}: expected a mapping with api_keys, providers, virtual_keys, configs, prompts")
        unknown = set(data) - {"api_keys", "providers", "virtual_keys", "configs", "prompts"}
        if unknown:
            raise ValueError(f"{path}: unknown section {sorted(unknown)[0]!r}")
        keys = data.get("api_keys") or []
        if not isinstance(keys, list) or not keys or not all(isinstance(k, str) and k for k in keys):
            raise ValueError(f"{path}: api_keys must be a non-empty list of keys")
        providers = _mapping(data, "providers", path)
        for name, url in providers.items():
            if not _base_url(url):
                raise ValueError(f"{path}: providers.{name} must be an http(s) base URL, in ASCII")
            if name == STUB:
                raise ValueError(f"{path}: `{STUB}` is the built-in engine and cannot be redefined")
        virtual_keys = _virtual_keys(data, providers, path)
        configs = _mapping(data, "configs", path)
        prompts = {}
        for name, entry in _mapping(data, "prompts", path).items():
            try:
                prompts[str(name)] = Prompt.of(entry)
            except ValueError as exc:
                raise ValueError(f"{path}: prompts.{name}: {exc}") from None
            virtual_key = prompts[str(name)].virtual_key
            if virtual_key is not None and virtual_key not in virtual_keys:
                raise ValueError(f"{path}: prompts.{name}: virtual_key {virtual_key!r} is not in virtual_keys")
        providers = {str(k): str(v) for k, v in providers.items()}
        return cls(tuple(keys), providers, virtual_keys, configs, prompts)


_VARIABLE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


def _expanded(value: Any, path: Path, where: str) -> Any:
    """The store with each `${NAME}` in its strings read from the environment; an unset one is a ValueError."""
    if isinstance(value, str):

        def variable(match: re.Match[str]) -> str:
            name = match.group(1)
            if name not in os.environ:
                raise ValueError(
                    f"{path}: {where.lstrip('.') or 'the store'}: the environment variable {name} is not set"
                )
            return os.environ[name]

        return _VARIABLE.sub(variable, value)
    if isinstance(value, dict):
        return {k: _expanded(v, path, f"{where}.{k}") for k, v in value.items()}
    if isinstance(value, list):
        return [_expanded(v, path, f"{where}[{i}]") for i, v in enumerate(value)]
    return value


class Stores(Protocol):
    """Where the gateway finds the store in service: a file read again when it changes, or a fixed one."""

    problem: str | None  # why the last reading failed (the last good store stays in service)

    def current(self) -> Store: ...

    def reload(self) -> None: ...


class StoreFile:
    """A store file, read again when it changes (checked at most once a second) or when asked (SIGHUP).

    A file that cannot be used keeps the last good store in service, logs why, and says so to
    readiness (`problem`) until a good one is read.
    """

    CHECK_EVERY = 1.0  # seconds between looks at the file: a change takes effect within 2 s

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.store = Store.load(self.path)  # a store that cannot be used at start-up stops the start
        self.problem: str | None = None
        self._stamp = self._stat()
        self._next = time.monotonic() + self.CHECK_EVERY

    def current(self) -> Store:
        """The store in service, read again if its file changed."""
        now = time.monotonic()
        if now >= self._next:
            self._next = now + self.CHECK_EVERY
            if self._stat() != self._stamp:
                self.reload()
        return self.store

    def reload(self) -> None:
        """Read the file now; a file that cannot be used keeps the last good store."""
        stamp = self._stat()
        try:
            store = Store.load(self.path)
        except (OSError, ValueError) as exc:
            if self.problem is None or stamp != self._stamp:
                logger.warning("store %s not reloaded, the last good one stays in service: %s", self.path, exc)
            self.problem = f"the store file does not load: {exc}"
        else:
            if store != self.store or self.problem is not None:
                logger.info("store %s reloaded", self.path)
            self.store, self.problem = store, None
        self._stamp = stamp

    def _stat(self) -> tuple[int, int] | None:
        try:
            found = self.path.stat()
        except OSError:
            return None
        return found.st_mtime_ns, found.st_size


class FixedStore:
    """A store given as an object (or none: any key, everything to the stub), never reloaded."""

    problem: str | None = None

    def __init__(self, store: Store | None = None) -> None:
        self.store = store or Store()

    def current(self) -> Store:
        return self.store

    def reload(self) -> None:
        pass


def _virtual_keys(data: Mapping[str, Any], providers: Mapping[str, Any], path: Path) -> dict[str, VirtualKey]:
    virtual_keys = {}
    for name, entry in _mapping(data, "virtual_keys", path).items():
        if not isinstance(entry, dict) or not isinstance(entry.get("provider"), str):
            raise ValueError(f"{path}: virtual_keys.{name} needs a provider")
        if set(entry) - {"provider", "api_key", "base_url"}:
            raise ValueError(f"{path}: virtual_keys.{name}: keys are provider, api_key, base_url")
        if "base_url" in entry and not _base_url(entry["base_url"]):
            raise ValueError(f"{path}: virtual_keys.{name}.base_url must be an http(s) base URL, in ASCII")
        if entry["provider"] not in providers and entry["provider"] != STUB and "base_url" not in entry:
            raise ValueError(f"{path}: virtual_keys.{name}: provider {entry['provider']!r} has no base URL")
        virtual_keys[str(name)] = VirtualKey(entry["provider"], entry.get("api_key"), entry.get("base_url"))
    return virtual_keys


def _mapping(data: Mapping[str, Any], name: str, path: Path) -> dict[str, Any]:
    value = data.get(name) or {}
    if not isinstance(value, dict):
        raise ValueError(f"{path}: {name} must be a mapping")
    return value


def _base_url(value: Any) -> bool:
    return isinstance(value, str) and value.isascii() and value.startswith(("http://", "https://"))
