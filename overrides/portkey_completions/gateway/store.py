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
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Protocol

import pydantic

from portkey_completions.call.errors import ServerAPIError
from portkey_completions.core import formats
from portkey_completions.core import headers as portkey
from portkey_completions.core.headers import STUB

from .prompts import Prompt, SavedPrompt

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
    def given(self) -> bool:
        """Whether a store was given at all: without one any non-empty key passes and every provider is the stub."""
        return self.api_keys is not None

    @property
    def open(self) -> bool:
        """Deprecated: `not store.given` (until the next release)."""
        warnings.warn("Store.open is deprecated: use `not Store.given`", DeprecationWarning, stacklevel=2)
        return not self.given

    def accepts(self, api_key: str) -> bool:
        if self.api_keys is None:
            return bool(api_key.strip())
        # Compare with every key, in constant time each, so timing tells nothing about which is close.
        found = False
        for key in self.api_keys:
            found |= hmac.compare_digest(key.encode(), api_key.encode())
        return found

    def admit(self, api_key: str, sent_as: str = portkey.API_KEY) -> None:
        """Nothing for one of the store's keys; a 401 for any other, before anything else is said.

        `sent_as` names where the key came from: the spec's key scheme (`x-portkey-api-key`, or
        `Authorization: Bearer` for a bearer-only spec).
        """
        if not self.accepts(api_key):
            raise ServerAPIError(
                401, f"Invalid API key: {sent_as} is not one of this gateway's keys.", code="invalid_api_key"
            )

    def base_url(self, provider: str) -> str | None:
        """The provider's base URL; None for the stub. Raises KeyError for an unknown provider."""
        if provider == STUB or not self.given:
            return None
        return self.providers[provider]

    @classmethod
    def load(cls, path: str | Path) -> Store:
        """Read a store file (.toml, or YAML otherwise).

        Raises:
            ValueError: the file is not a store, said in one line: where, and what is wrong.
        """
        path = Path(path)
        data = _expanded(formats.loaded(path), path, "")
        try:
            found = StoreFileFormat.model_validate({} if data is None else data)
        except pydantic.ValidationError as exc:
            raise ValueError(f"{path}: {formats.problem(exc, StoreFileFormat)}") from None
        virtual_keys = {n: VirtualKey(k.provider, k.api_key, k.base_url) for n, k in found.virtual_keys.items()}
        prompts = {n: Prompt(p.template, p.virtual_key, p.hyperparameters) for n, p in found.prompts.items()}
        return cls(tuple(found.api_keys), found.providers, virtual_keys, found.configs, prompts)


def _base_url(value: str) -> str:
    if not (value.isascii() and value.startswith(("http://", "https://"))):
        raise ValueError("must be an http(s) base URL, in ASCII")
    return value


BaseUrl = Annotated[str, pydantic.AfterValidator(_base_url)]


class _Format(pydantic.BaseModel):
    # Built when the first store file is read: a server without one does not pay for it at start-up.
    model_config = pydantic.ConfigDict(extra="forbid", frozen=True, strict=True, defer_build=True)


class VirtualKeyFormat(_Format):
    """A store file's `virtual_keys.<name>`: a provider, the upstream's key, and where it is."""

    provider: str
    api_key: str | None = None
    base_url: BaseUrl | None = None  # else the provider's, from `providers`


class StoreFileFormat(_Format):
    """A store file, as declared; what crosses sections (a provider's base URL, a prompt's key) is checked after."""

    api_keys: list[Annotated[str, pydantic.Field(min_length=1)]] = pydantic.Field(min_length=1)
    providers: dict[str, BaseUrl] = pydantic.Field(default_factory=dict)
    virtual_keys: dict[str, VirtualKeyFormat] = pydantic.Field(default_factory=dict)
    configs: dict[str, dict[str, Any]] = pydantic.Field(default_factory=dict)  # read per request (gateway.config)
    prompts: dict[str, SavedPrompt] = pydantic.Field(default_factory=dict)

    @pydantic.model_validator(mode="before")
    @classmethod
    def _empty_sections(cls, data: Any) -> Any:
        # `providers:` with every line under it commented out is YAML's null: an empty section.
        return {k: v for k, v in data.items() if v is not None or k == "api_keys"} if isinstance(data, dict) else data

    @pydantic.model_validator(mode="after")
    def _across_sections(self) -> StoreFileFormat:
        if STUB in self.providers:
            raise ValueError(f"providers.{STUB}: `{STUB}` is the built-in engine and cannot be redefined")
        for name, key in self.virtual_keys.items():
            if key.provider not in self.providers and key.provider != STUB and key.base_url is None:
                raise ValueError(
                    f"virtual_keys.{name}: provider {key.provider!r} has no base URL: "
                    "name it in providers, or give this virtual key a base_url"
                )
        for name, prompt in self.prompts.items():
            if prompt.virtual_key is not None and prompt.virtual_key not in self.virtual_keys:
                raise ValueError(f"prompts.{name}: virtual_key {prompt.virtual_key!r} is not in virtual_keys")
        return self


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
