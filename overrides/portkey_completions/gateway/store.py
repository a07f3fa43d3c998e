"""The gateway's store: api keys, virtual keys, saved configs and providers, from one YAML or TOML file.

api_keys: [pk-team-a, pk-team-b]
providers:                      # name -> OpenAI-compatible base URL; `stub` is the built-in engine
  local-vllm: http://127.0.0.1:8000/v1
virtual_keys:
  vk-prod: {provider: local-vllm, api_key: sk-upstream, base_url: http://127.0.0.1:8001/v1}
configs:
  pc-fallback: {strategy: {mode: fallback}, targets: [{virtual_key: vk-prod}, {provider: stub}]}
"""

from __future__ import annotations

import hmac
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from portkey_completions.core.headers import STUB


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
        if not isinstance(data, dict):
            raise ValueError(f"{path}: expected a mapping with api_keys, providers, virtual_keys, configs")
        unknown = set(data) - {"api_keys", "providers", "virtual_keys", "configs"}
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
        configs = _mapping(data, "configs", path)
        return cls(tuple(keys), {str(k): str(v) for k, v in providers.items()}, virtual_keys, configs)


def _mapping(data: Mapping[str, Any], name: str, path: Path) -> dict[str, Any]:
    value = data.get(name) or {}
    if not isinstance(value, dict):
        raise ValueError(f"{path}: {name} must be a mapping")
    return value


def _base_url(value: Any) -> bool:
    return isinstance(value, str) and value.isascii() and value.startswith(("http://", "https://"))
