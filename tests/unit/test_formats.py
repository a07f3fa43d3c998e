"""A new user's mistakes in a store file or a Portkey config: each refused in one line, naming where and what.

The store file and the prompts in it are pydantic models (`gateway.store.StoreFileFormat`,
`gateway.prompts.SavedPrompt`); `core.formats` says their errors. A config is read by
`gateway.config.parse`. Each mistake below is one a user makes on a first try.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from portkey_completions.gateway import config as configs
from portkey_completions.gateway.store import Store

STORE_MISTAKES = {
    "a section misspelled": (
        "api_keys: [pk]\nvirtual_key:\n  vk: {provider: stub}\n",
        "store.yaml: unknown key 'virtual_key' (did you mean 'virtual_keys'?); "
        "known: api_keys, configs, prompts, providers, virtual_keys",
    ),
    "a virtual key's key misspelled": (
        "api_keys: [pk]\nvirtual_keys:\n  vk: {provider: stub, apikey: sk-1}\n",
        "store.yaml: virtual_keys.vk: unknown key 'apikey' (did you mean 'api_key'?); "
        "known: api_key, base_url, provider",
    ),
    "a YAML indentation error": (
        "api_keys: [pk]\nvirtual_keys:\n  vk:\n    provider: stub\n   api_key: sk-1\n",
        "store.yaml:5:4: expected <block end>, but found '<block mapping start>'",
    ),
    "no api keys": ("api_keys: []\n", "store.yaml: api_keys must not be empty"),
    "an api key that is a number": ("api_keys: [pk, 3]\n", "store.yaml: api_keys[1] must be a string"),
    "a provider that is not a URL": (
        "api_keys: [pk]\nproviders: {local: 127.0.0.1:8000}\n",
        "store.yaml: providers.local: must be an http(s) base URL, in ASCII",
    ),
    "a virtual key whose provider has no URL": (
        "api_keys: [pk]\nvirtual_keys: {vk-prod: {provider: openai, api_key: sk-1}}\n",
        "store.yaml: virtual_keys.vk-prod: provider 'openai' has no base URL: "
        "name it in providers, or give this virtual key a base_url",
    ),
    "the stub redefined": (
        "api_keys: [pk]\nproviders: {stub: 'http://127.0.0.1:1/v1'}\n",
        "store.yaml: providers.stub: `stub` is the built-in engine and cannot be redefined",
    ),
    "a prompt without its template": (
        "api_keys: [pk]\nprompts: {pp-1: {hyperparameters: {max_tokens: 5}}}\n",
        "store.yaml: prompts.pp-1.template is required",
    ),
    "a list, not a store": ("- pk\n", "store.yaml: the file must be a mapping"),
}


@pytest.mark.parametrize("mistake", STORE_MISTAKES)
def test_a_store_mistake_is_one_line_naming_where(tmp_path: Path, mistake: str):
    text, said = STORE_MISTAKES[mistake]
    (tmp_path / "store.yaml").write_text(text, encoding="utf-8")
    with pytest.raises(ValueError) as refused:
        Store.load(tmp_path / "store.yaml")
    message = str(refused.value)
    assert "\n" not in message
    assert message == f"{tmp_path}/{said}"


def test_a_toml_syntax_error_names_the_line_and_column(tmp_path: Path):
    (tmp_path / "store.toml").write_text('api_keys = ["pk"]\n[providers]\nlocal = \n', encoding="utf-8")
    with pytest.raises(ValueError, match=rf"^{tmp_path}/store\.toml:3:9: Invalid value$"):
        Store.load(tmp_path / "store.toml")


def test_an_empty_section_is_an_empty_section(tmp_path: Path):
    """`providers:` with everything under it commented out is YAML's null, not a mistake."""
    (tmp_path / "store.yaml").write_text("api_keys: [pk]\nproviders:\n#  up: http://127.0.0.1:1/v1\n", encoding="utf-8")
    assert Store.load(tmp_path / "store.yaml").providers == {}


CONFIG_MISTAKES = {
    "a weight of -1": (
        {"strategy": {"mode": "loadbalance"}, "targets": [{"provider": "stub", "weight": -1}]},
        "config.targets[0].weight must be a number from 0 to 1000000",
    ),
    "a strategy mode misspelled": (
        {"strategy": {"mode": "fallbak"}, "targets": [{"provider": "stub"}]},
        "config.strategy.mode 'fallbak' is not one of single, fallback, loadbalance, conditional "
        "(did you mean 'fallback'?)",
    ),
    "a key misspelled, deep down": (
        {"strategy": {"mode": "fallback"}, "targets": [{"provider": "stub", "strategy": {"mdoe": "single"}}]},
        "config.targets[0].strategy: unknown key 'mdoe' (did you mean 'mode'?); known: conditions, default, "
        "mode, on_status_codes",
    ),
    "retry attempts out of range": (
        {"provider": "stub", "retry": {"attempts": 9}},
        "config.retry.attempts must be an integer from 0 to 5",
    ),
    "a timeout in seconds, not milliseconds": (
        {"provider": "stub", "request_timeout": 2.5},
        "config.request_timeout must be an integer from 1 to 86400000 (milliseconds)",
    ),
    "a status code that is not one": (
        {"strategy": {"mode": "fallback", "on_status_codes": [429, 5003]}, "targets": [{"provider": "stub"}]},
        "config.strategy.on_status_codes[1] must be an integer from 100 to 599 (an HTTP status code)",
    ),
    "a target that goes nowhere": (
        {"strategy": {"mode": "fallback"}, "targets": [{"provider": "stub"}, {"api_key": "sk-1"}]},
        "config.targets[1]: needs a provider, a virtual_key or targets",
    ),
    "a strategy on a node without targets": (
        {"strategy": {"mode": "loadbalance"}, "provider": "stub"},
        "config: strategy.mode loadbalance needs targets",
    ),
    "a weight as a string": (
        {"strategy": {"mode": "loadbalance"}, "targets": [{"provider": "stub", "weight": "0.5"}]},
        "config.targets[0].weight must be a number from 0 to 1000000",
    ),
}


@pytest.mark.parametrize("mistake", CONFIG_MISTAKES)
def test_a_config_mistake_is_one_line_naming_where(mistake: str):
    config, said = CONFIG_MISTAKES[mistake]
    with pytest.raises(configs.ConfigError) as refused:
        configs.parse(config)
    assert str(refused.value) == f"Invalid config passed: {said}"


def test_a_config_header_is_parsed_once_per_value():
    header = '{"strategy": {"mode": "fallback"}, "targets": [{"provider": "stub"}, {"provider": "stub"}]}'
    assert configs.parsed(header) is configs.parsed(header)
    assert configs.parsed(header) == configs.parse(configs.decode(header))  # type: ignore[arg-type]


def test_a_saved_config_is_parsed_once_per_store_in_service():
    from portkey_completions.gateway.routes import Routes
    from portkey_completions.gateway.store import FixedStore

    saved = {"pc-1": {"strategy": {"mode": "fallback"}, "targets": [{"provider": "stub"}, {"provider": "stub"}]}}
    stores = FixedStore(Store(api_keys=("pk",), configs=saved))
    routes = Routes(stores)
    first = routes._config({"x-portkey-config": "pc-1"})
    assert routes._config({"x-portkey-config": "pc-1"}) is first
    stores.store = Store(api_keys=("pk",), configs=saved)  # what a reload puts in service
    again = routes._config({"x-portkey-config": "pc-1"})
    assert again is not first and again == first
