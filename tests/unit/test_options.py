"""`ServerOptions` declares every `serve` option once: flag, variable, default, help and check."""

from __future__ import annotations

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
    text = cli.build_parser({})._subparsers._group_actions[0].choices["serve"].format_help()  # type: ignore[union-attr]
    for _, flag in flags():
        assert flag.env in text.replace("\n", " ").replace("  ", " "), flag.env


def _serve(argv: list[str], environ: dict[str, str]) -> ServerOptions:
    args = cli.parse(cli.build_parser(environ), ["serve", *argv])
    return cli.serve_options(args)


def test_a_variable_sets_an_option_and_a_flag_wins():
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
def test_a_variable_that_cannot_be_used_is_named(capsys, environ, says):
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
def test_a_flag_that_cannot_be_used_is_named(capsys, argv, says):
    with pytest.raises(SystemExit):
        _serve(argv, {})
    assert says in capsys.readouterr().err


def test_the_checks_hold_for_create_app_and_the_marker_too():
    with pytest.raises(OptionError, match="retry_backoff: give portkey or fast"):
        ServerOptions.of(retry_backoff="slow")
    with pytest.raises(OptionError, match="upstream_timeout: must be a positive number"):
        ServerOptions().replace(upstream_timeout=-1)
