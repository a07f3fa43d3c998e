"""`portkey-stub`: run the completions server, record an upstream, report contract coverage."""

from __future__ import annotations

import argparse
import gc
import os
import sys
import tempfile
from argparse import SUPPRESS
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, NoReturn

from portkey_completions.control.state import PER_PROCESS, REDIS_SCHEMES
from portkey_completions.core import names
from portkey_completions.observe.metrics import MULTIPROCESS
from portkey_completions.server import lifecycle, logs

from . import __version__
from .options import ENV_PREFIX, LEVELS, Flag, OptionError, ServerOptions, default, flags, from_environment

if TYPE_CHECKING:  # the app (connexion) is imported only when a server is built
    from portkey_completions.app import CompletionsApp

COMMANDS = ("serve", "record", "coverage")


class _Parser(argparse.ArgumentParser):
    """argparse, with a mistake said in one line (a hint in it where there is one), not after the usage block."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message}\n")


def _added(parser: argparse.ArgumentParser, name: str, flag: Flag) -> None:
    """An option's flag, its help naming its default and its variable; what it is given is checked by the model."""
    shown = flag.shown(default(name)).replace("%", "%%")
    help = f"{flag.help} (default: {shown}; env: {flag.env})".replace("%%(", "%(")
    if flag.switch:
        parser.add_argument(flag.flag, dest=name, action=argparse.BooleanOptionalAction, default=SUPPRESS, help=help)
        return
    metavar = flag.metavar or ("{" + ",".join(flag.choices) + "}" if flag.choices else None)
    parser.add_argument(flag.flag, dest=name, default=SUPPRESS, metavar=metavar, help=help)


def build_parser() -> argparse.ArgumentParser:
    """`portkey-stub`'s parser; `serve`'s and `record`'s options are `ServerOptions`' declarations."""
    parser = _Parser(prog="portkey-stub", description="A spec-first server for the Portkey POST /v1/completions API.")
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    serve = commands.add_parser(
        "serve",
        help="serve /v1/completions (Swagger UI at /v1/ui/)",
        description="Serve POST /v1/completions from the effective spec, with the Swagger UI at /v1/ui/. "
        f"Every option can also be given by its environment variable ({ENV_PREFIX}<OPTION>); a flag wins "
        "over its variable.",
    )
    serve.set_defaults(subparser=serve)
    for name, flag in flags():
        _added(serve, name, flag)
    record = commands.add_parser(
        "record",
        help="proxy to an upstream and record its answers into a cassette",
        description="Proxy POST /v1/completions to an upstream and record every answer (streams with their "
        "timings) into a cassette that `serve --replay` answers from.",
    )
    record.set_defaults(subparser=record)
    record.add_argument("--upstream", required=True, help="the upstream's base URL, e.g. https://api.portkey.ai/v1")
    record.add_argument("--cassette", required=True, metavar="FILE", help="the cassette to write (JSON); appended to")
    declared = dict(flags())
    for name in RECORD_OPTIONS:  # the same declarations as serve's, and the same variables
        _added(record, name, declared[name])
    _coverage_parser(commands)
    return parser


def _coverage_parser(commands: argparse._SubParsersAction[_Parser]) -> None:
    coverage = commands.add_parser(
        "coverage",
        help="report a server's contract coverage, or a saved report's",
        description="Print what requests exercised of the spec: a running server's counts (its "
        "/__admin/coverage; a namespace's with --url http://HOST:PORT/ns/NAME), or a report saved by "
        "--portkey-coverage=json:FILE. Exits 1 below --fail-under.",
    )
    coverage.set_defaults(subparser=coverage)
    source = coverage.add_mutually_exclusive_group(required=True)
    source.add_argument("--url", help="a running server's root, e.g. http://127.0.0.1:8787")
    source.add_argument("--from", dest="from_file", metavar="FILE", help="a saved JSON report")
    coverage.add_argument(
        "--report",
        action="append",
        metavar="FORM",
        help="term (the default), term-missing, json:PATH, html:DIR or markdown:PATH; repeatable",
    )
    coverage.add_argument("--fail-under", type=float, metavar="MIN", help="exit 1 if coverage is below MIN percent")
    coverage.add_argument(
        "--admin-token",
        default=os.environ.get("PORTKEY_STUB_ADMIN_TOKEN"),
        help="the server's admin token, for a caller that is not on loopback (env: PORTKEY_STUB_ADMIN_TOKEN)",
    )


def coverage(args: argparse.Namespace) -> int:
    """`portkey-stub coverage`: the report in the forms asked, and whether it reaches --fail-under."""
    from pathlib import Path

    from portkey_completions.control import coverage_report

    parser: argparse.ArgumentParser = args.subparser
    forms = []
    for given in args.report or ["term"]:
        form, _, path = given.partition(":")
        if form not in coverage_report.FORMS or (form.startswith("term") == bool(path)):
            parser.error(f"--report {given}: give term, term-missing, json:PATH, html:DIR or markdown:PATH")
        forms.append((form, path))
    try:
        report = _coverage_report(args)
    except (OSError, ValueError) as exc:
        parser.error(str(exc))
    for form, path in forms:
        out = coverage_report.rendered(report, form)
        if not path:
            sys.stdout.write(out)
            continue
        target = Path(path) / "index.html" if form == "html" else Path(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(out, encoding="utf-8")
    total = coverage_report.percent(report)
    if args.fail_under is not None and total < args.fail_under:
        print(f"portkey-stub: coverage {total:.1f}% is below --fail-under {args.fail_under:g}%", file=sys.stderr)
        return 1
    return 0


def _coverage_report(args: argparse.Namespace) -> dict[str, object]:
    import json

    if args.from_file is not None:
        with open(args.from_file, encoding="utf-8") as saved:
            report: dict[str, object] = json.load(saved)
    else:
        import httpx

        headers = {"x-admin-token": args.admin_token} if args.admin_token else {}
        try:
            answer = httpx.get(args.url.rstrip("/") + "/__admin/coverage", headers=headers, timeout=10)
        except httpx.HTTPError as exc:
            raise ValueError(f"--url {args.url}: {exc}") from None
        if answer.status_code != 200:
            raise ValueError(f"--url {args.url}: /__admin/coverage answered {answer.status_code}: {answer.text[:200]}")
        report = answer.json()
    if not isinstance(report, dict) or report.get("schema_version") != 1:
        raise ValueError("not a contract coverage report of schema version 1")
    return report


RECORD_OPTIONS = ("host", "port", "log_level")  # what `record` shares with `serve`


def parse(parser: argparse.ArgumentParser, argv: Sequence[str] | None) -> argparse.Namespace:
    """The arguments; a mistake is one line: an unknown flag with the closest one, options before the command."""
    argv = list(sys.argv[1:] if argv is None else argv)
    command = next((a for a in argv if a in COMMANDS), None)
    if argv and argv[0].startswith("--") and argv[0] not in ("--help", "--version") and command is not None:
        moved = [command, *(a for a in argv if a is not command)]
        parser.error(f"options follow the command: {parser.prog} {' '.join(moved)}")
    args, unknown = parser.parse_known_args(argv)
    if unknown:
        subparser: argparse.ArgumentParser = args.subparser
        known = [o for a in subparser._actions for o in a.option_strings if o.startswith("--")]
        near = names.closest(unknown[0].partition("=")[0], known) if unknown[0].startswith("--") else None
        hint = f" (did you mean {near}?)" if near else f" ({subparser.prog} --help lists the options)"
        subparser.error(f"unrecognized arguments: {' '.join(unknown)}{hint}")
    return args


def options_of(args: argparse.Namespace, names_: Iterable[str]) -> ServerOptions:
    """The options of a command: its flags, over their variables, over the defaults; an error names what was given."""
    given = {name: getattr(args, name) for name in names_ if hasattr(args, name)}
    parser: argparse.ArgumentParser = args.subparser
    try:
        return from_environment(**given)
    except OptionError as exc:
        declared = dict(flags())
        flag = declared.get(exc.option)
        where = exc.option if flag is None else flag.flag if exc.option in given else flag.env
        if exc.option == "workers" and exc.message.startswith("--workers"):  # the check across options says it all
            parser.error(exc.message)
        parser.error(f"{where}: {exc.message}")


def ensure_free(parser: argparse.ArgumentParser, host: str, port: int) -> None:
    """Refuse a port something already listens on, before anything starts (uvicorn says so only after)."""
    import socket

    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as exc:
            parser.error(f"--port {port}: {host}:{port} cannot be listened on ({exc.strerror or exc})")


def check_state(parser: argparse.ArgumentParser, options: ServerOptions) -> None:
    """Say, before anything starts, that workers keep their own state, and refuse a Redis that cannot be reached."""
    if options.state == PER_PROCESS and options.workers > 1:
        print(
            f"portkey-stub: warning: --state {PER_PROCESS}: each of the {options.workers} workers has its own "
            "run-time rules, counters and journal; a rule added through the admin API reaches one of them",
            file=sys.stderr,
        )
    if options.state.startswith(REDIS_SCHEMES):  # any other URL was refused with the options
        from portkey_completions.control import redis_state

        problem = redis_state.check(options.state)
        if problem:
            parser.error(f"--state {problem}")


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parse(parser, argv)
    if args.command == "coverage":
        return coverage(args)
    options = options_of(args, (n for n, _ in flags()) if args.command == "serve" else RECORD_OPTIONS)
    ensure_free(args.subparser, options.host, options.port)
    if args.command == "serve":
        check_state(args.subparser, options)
    import uvicorn

    if args.command == "record":
        from portkey_completions.control.cassette import Cassette, recorder

        try:
            cassette = Cassette(args.cassette)
        except (OSError, ValueError) as exc:
            args.subparser.error(f"--cassette {args.cassette}: {exc}")
        uvicorn.run(
            recorder(args.upstream, cassette), host=options.host, port=options.port, log_level=options.log_level
        )
        return 0

    options = options.replace(access_log=LEVELS.index(options.log_level) >= LEVELS.index("info"))
    app = build_app(args.subparser, options)
    # The access log is the app's own (ServerOptions.access_log): uvicorn's, which costs a quarter
    # of the throughput, is always off.
    # server_header=False below: answers do not name the software behind them (Portkey's do not),
    # and uvicorn checks every header of every answer with two regexes.
    logging = logs.log_config(options.log_level, options.log_format)
    if options.workers > 1:
        # Each worker process builds its own app from the same options (checked above, once).
        os.environ[_OPTIONS_ENV] = options.model_dump_json(exclude_defaults=True)
        # Each worker writes its metrics into one directory, so that a scrape of any sums them all.
        figures = None
        if MULTIPROCESS not in os.environ:
            figures = tempfile.TemporaryDirectory(prefix="portkey-stub-metrics-")
            os.environ[MULTIPROCESS] = figures.name
        uvicorn.run(
            "portkey_completions.cli:worker_app",
            factory=True,
            workers=options.workers,
            host=options.host,
            port=options.port,
            log_config=logging,
            access_log=False,
            server_header=False,
        )
        if figures is not None:
            figures.cleanup()
        return 0
    config = uvicorn.Config(
        app, host=options.host, port=options.port, log_config=logging, access_log=False, server_header=False
    )
    lifecycle.Server(config, reload=app.reload).run()
    return 0


_OPTIONS_ENV = "PORTKEY_STUB_OPTIONS_JSON"  # not an option's variable: no option is called options-json


def worker_app() -> CompletionsApp:
    """The app of one `serve --workers N` process, from the options the parent checked (as JSON)."""
    options = ServerOptions.model_validate_json(os.environ[_OPTIONS_ENV])
    lifecycle.drain_on_exit_signals()
    serve = parse(build_parser(), ["serve"]).subparser  # for an error's prefix only
    return build_app(serve, options, quiet=True)


def build_app(parser: argparse.ArgumentParser, options: ServerOptions, *, quiet: bool = False) -> CompletionsApp:
    from portkey_completions.app import create_app
    from portkey_completions.server.spec_check import InvalidSpec

    try:
        # File options go as paths: create_app loads them, and names the option in its errors.
        app = create_app(options)
    except OptionError as exc:  # a file that cannot be used
        parser.error(f"{_flag(exc.option)}: {exc.message}")
    except InvalidSpec as exc:  # the spec itself: where it is wrong, in a few lines
        print(f"portkey-stub: {exc}", file=sys.stderr)
        sys.exit(2)
    if options.store is None and not quiet:  # said once every option has been checked
        print(
            "portkey-stub: no --store: any non-empty x-portkey-api-key is accepted, and every request "
            "without a custom host is answered by the built-in stub engine",
            file=sys.stderr,
        )
    # The tokenizer and the model are a few hundred thousand objects that live as long as the
    # process: out of the collector's sight, so that a full collection does not stall requests.
    gc.collect()
    gc.freeze()
    return app


def _flag(name: str) -> str:
    """The flag of an option, by its field's name (errors name what the user typed)."""
    declared = dict(flags())
    return declared[name].flag if name in declared else name


if __name__ == "__main__":
    sys.exit(main())
