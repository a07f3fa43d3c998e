"""`ServerOptions` declares every `serve` option once: flag, variable, default, help and check."""

from __future__ import annotations

import os
import re

import pytest

from portkey_completions import cli
from portkey_completions.options import OptionError, ServerOptions, default, flags
from support import ROOT


def _documented() -> list[tuple[str, str, str]]:
    rows = re.findall(r"^\| `([^`]+)` \| `([^`]+)` \| ([^|]+) \|$", (ROOT / "docs" / "cli.md").read_text(), re.M)
    return [(usage, env, shown.strip()) for usage, env, shown in rows]


@pytest.mark.skipif(not (ROOT / "docs" / "cli.md").exists(), reason="docs/ is not in this copy of the project")
def test_docs_cli_lists_every_option_as_declared():
    declared = [(flag.usage, flag.env, flag.shown(default(name))) for name, flag in flags()]
    expected = "\n".join(f"| `{u}` | `{e}` | {d} |" for u, e, d in declared)
    assert _documented() == declared, f"docs/cli.md's table should read:\n{expected}"


def test_help_names_each_options_variable():
    text = cli.parse(cli.build_parser(), ["serve"]).subparser.format_help()
    for _, flag in flags():
        assert flag.env in text.replace("\n", " ").replace("  ", " "), flag.env


@pytest.fixture
def _serve(monkeypatch):
    """`serve`'s options from these flags and these variables (the process's environment, for the test)."""

    def serve(argv: list[str], environ: dict[str, str]) -> ServerOptions:
        for name in [n for n in os.environ if n.startswith("PORTKEY_STUB_")]:
            monkeypatch.delenv(name)
        for name, value in environ.items():
            monkeypatch.setenv(name, value)
        args = cli.parse(cli.build_parser(), ["serve", *argv])
        return cli.options_of(args, (name for name, _ in flags()))

    return serve


def test_a_variable_sets_an_option_and_a_flag_wins(_serve):
    options = _serve([], {"PORTKEY_STUB_PORT": "9001", "PORTKEY_STUB_STATE": "per-process"})
    assert (options.port, options.state) == (9001, "per-process")
    assert _serve(["--port", "9002"], {"PORTKEY_STUB_PORT": "9001"}).port == 9002
    assert _serve([], {"PORTKEY_STUB_SWAGGER_UI": "false"}).swagger_ui is False
    assert _serve(["--swagger-ui"], {"PORTKEY_STUB_SWAGGER_UI": "off"}).swagger_ui is True
    assert _serve([], {"PORTKEY_STUB_TRUSTED_HOSTS": "a.internal, b.internal"}).trusted_hosts == (
        "a.internal",
        "b.internal",
    )


@pytest.mark.parametrize(
    ("environ", "says"),
    [
        ({"PORTKEY_STUB_PORT": "eighty"}, "PORTKEY_STUB_PORT: invalid value: 'eighty'"),
        ({"PORTKEY_STUB_WORKERS": "0"}, "PORTKEY_STUB_WORKERS: must be at least 1, not 0"),
        ({"PORTKEY_STUB_OPENAI_COMPATIBLE": "maybe"}, "PORTKEY_STUB_OPENAI_COMPATIBLE: give true or false"),
        ({"PORTKEY_STUB_RETRY_BACKOFF": "slow"}, "PORTKEY_STUB_RETRY_BACKOFF: give portkey or fast"),
    ],
)
def test_a_variable_that_cannot_be_used_is_named(_serve, capsys, environ, says):
    with pytest.raises(SystemExit) as exited:
        _serve([], environ)
    assert exited.value.code == 2
    assert says in capsys.readouterr().err


@pytest.mark.parametrize(
    ("argv", "says"),
    [
        (["--body-timeout", "0"], "--body-timeout: must be a positive number"),
        (["--state", "postgres://db"], "--state: 'postgres://db' is not a state"),
        (["--replay-speed", "-1"], "--replay-speed: must be 0 or more"),
    ],
)
def test_a_flag_that_cannot_be_used_is_named(_serve, capsys, argv, says):
    with pytest.raises(SystemExit):
        _serve(argv, {})
    assert says in capsys.readouterr().err


def test_the_checks_hold_for_create_app_and_the_marker_too():
    with pytest.raises(OptionError, match="retry_backoff: give portkey or fast"):
        ServerOptions.of(retry_backoff="slow")
    with pytest.raises(OptionError, match="upstream_timeout: must be a positive number"):
        ServerOptions().replace(upstream_timeout=-1)


def test_a_scenario_file_variable_is_named_by_its_flag(_serve):
    """A field whose flag is not its name (`scenarios_path`, `--scenarios`) takes the flag's variable."""
    assert _serve([], {"PORTKEY_STUB_SCENARIOS": "rules.yaml"}).scenarios_path == "rules.yaml"
    assert _serve([], {"PORTKEY_STUB_SCENARIOS_PATH": "rules.yaml"}).scenarios_path is None


def test_workers_without_shared_state_are_a_check_across_options():
    with pytest.raises(OptionError, match=r"--workers 2: each worker would keep its own"):
        ServerOptions.of(workers=2)
    assert ServerOptions.of(workers=2, state="per-process").workers == 2


def test_serve_options_travel_to_workers_as_json(tmp_path):
    options = ServerOptions.of(port=9100, store=str(tmp_path / "s.yaml"), trusted_hosts=("a.internal",))
    again = ServerOptions.model_validate_json(options.model_dump_json(exclude_defaults=True))
    assert again == options
