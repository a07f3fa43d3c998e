"""The route table: the auth alternative a call matched, to the config tree it runs.

    virtual key      -> the store's virtual key (provider, upstream key, base URL)
    provider         -> the store's provider registry; the bearer is the upstream key
    config           -> a Portkey config (JSON, or a saved config's id): strategy over targets
    custom host      -> that base URL, after the SSRF checks
    (none: a saved prompt's call) -> the prompt's virtual key, or the stub (`saved`)

An alternative the spec has and this table does not (the spec gained one) is still served: by
the stub without a store, and refused with what it adds with one. One that adds nothing to the key
a store admits (a spec whose one requirement is that key: bearer only, or Portkey's key alone)
names no upstream, so the stub answers it, with a store or without.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from portkey_completions.call.errors import ServerAPIError
from portkey_completions.call.security import Requirement
from portkey_completions.core import headers as portkey
from portkey_completions.core.alternatives import Alternative
from portkey_completions.core.headers import STUB

from . import config as configs
from .store import Store, Stores

Build = Callable[[Mapping[str, str]], configs.Node]


class Routes:
    def __init__(self, stores: Stores) -> None:
        self.stores = stores
        self._trees: tuple[Store, dict[str, configs.Node]] | None = None  # the saved configs' trees, by id
        self.table: dict[str, Build] = {
            Alternative.VIRTUAL_KEY: _virtual_key,
            Alternative.PROVIDER: _provider,
            Alternative.CONFIG: self._config,
            Alternative.CUSTOM_HOST: _custom_host,
        }

    def tree(self, requirement: Requirement, headers: Mapping[str, str]) -> configs.Node:
        """The config tree a call that matched `requirement` runs; a ServerAPIError if it has none."""
        build = self.table.get(requirement.name)
        if build is not None:
            return build(headers)
        if not requirement.added or not self.stores.current().given:  # nothing names an upstream: the stub
            return configs.Node("config", provider=STUB)
        raise ServerAPIError(
            400,
            f"This gateway has no route for the auth alternative {requirement.name}: with a store it routes "
            f"{', '.join(Alternative)} only. Send one of those, or run it without --store to answer with the stub.",
            param=requirement.name,
            code="unsupported_alternative",
        )

    def saved(self, via: str) -> configs.Node:
        """The tree of a saved prompt that runs where it says (`Call.via`): its virtual key, or the stub."""
        if via == STUB:
            return configs.Node("config", provider=STUB)
        return configs.Node("virtual_key", virtual_key=via)

    def _config(self, headers: Mapping[str, str]) -> configs.Node:
        try:
            header = headers[portkey.CONFIG]
            if header.lstrip().startswith("{"):
                return configs.parsed(header)
            decoded = configs.decode(header)
            if isinstance(decoded, str):
                store = self.stores.current()
                saved = store.configs.get(decoded)
                if saved is None:
                    if not configs.is_config_id(decoded):
                        raise configs.ConfigError(
                            f"Invalid config passed: x-portkey-config is neither a JSON object nor a config id "
                            f"(pc-…): {decoded[:40]!r}."
                        )
                    if not store.given:  # no store: any config id is the stub
                        return configs.Node("config", provider=STUB)
                    raise configs.ConfigError(f"Invalid config id passed: {decoded!r} is not a saved config.")
                return self._saved(store, decoded, saved)
            return configs.parse(decoded)
        except configs.ConfigError as exc:
            raise ServerAPIError(400, str(exc), param=portkey.CONFIG, code="invalid_config") from None

    def _saved(self, store: Store, name: str, config: Mapping[str, Any]) -> configs.Node:
        """A saved config's tree, parsed once per store in service (a reloaded store starts afresh)."""
        if self._trees is None or self._trees[0] is not store:
            self._trees = (store, {})
        trees = self._trees[1]
        tree = trees.get(name)
        if tree is None:  # a config that does not parse raises, and is read again next time
            tree = trees[name] = configs.parse(config)
        return tree


def _virtual_key(headers: Mapping[str, str]) -> configs.Node:
    return configs.Node("virtual_key", virtual_key=headers[portkey.VIRTUAL_KEY].strip())


def _provider(headers: Mapping[str, str]) -> configs.Node:
    return configs.Node("provider", provider=headers[portkey.PROVIDER].strip(), api_key=_bearer(headers))


def _custom_host(headers: Mapping[str, str]) -> configs.Node:
    return configs.Node(
        "custom_host",
        provider=headers[portkey.PROVIDER].strip(),
        api_key=_bearer(headers),
        custom_host=headers[portkey.CUSTOM_HOST].strip(),
    )


def _bearer(headers: Mapping[str, str]) -> str:
    return portkey.bearer(headers.get(portkey.AUTHORIZATION)) or ""
