"""`portkey-stub`: run the completions server."""

from __future__ import annotations

import argparse
import gc
import json
import os
import sys
import tempfile
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from portkey_completions.control.state import MEMORY, PER_PROCESS, REDIS_SCHEMES
from portkey_completions.observe.metrics import MULTIPROCESS
from portkey_completions.server import lifecycle, logs

from . import __version__
from .options import DEFAULT_PORT, ENV_PREFIX, LEVELS, Flag, OptionError, ServerOptions, default, flags

if TYPE_CHECKING:  # the app (connexion) is imported only when a server is built
    from portkey_completions.app import CompletionsApp

LOG_LEVEL_HELP = f"how much to log: {', '.join(LEVELS)}, any case (default: %(default)s)"
_TRUE, _FALSE = ("1", "true", "yes", "on"), ("0", "false", "no", "off")


def _typed(flag: Flag) -> Callable[[str], Any]:
    """A flag's text to its value (checked with the others, once all are parsed: `serve_options`)."""

    def typed(text: str) -> Any:
        try:
            return flag.parse(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"invalid value: {text!r}") from None

    return typed


def _from_environment(flag: Flag, text: str) -> Any:
    """A variable's text to its option's value; ValueError saying what is wrong."""
    if flag.switch:
        if text.strip().lower() in _TRUE:
            return True
        if text.strip().lower() in _FALSE:
            return False
        raise ValueError(f"give true or false, not {text!r}")
    try:
        value = flag.parse(text)
    except ValueError:
        raise ValueError(f"invalid value: {text!r}") from None
    if flag.choices is not None and value not in flag.choices:
        raise ValueError(f"give {' or '.join(flag.choices)}, not {text!r}")
    problem = flag.check(value) if flag.check is not None else None
    if problem is not None:
        raise ValueError(problem)
    return value


def build_parser(environ: Mapping[str, str] | None = None) -> argparse.ArgumentParser:
    """`portkey-stub`'s parser; `serve`'s options are `ServerOptions`' declarations, defaults read from `environ`."""
    environ = os.environ if environ is None else environ
    parser = argparse.ArgumentParser(
        prog="portkey-stub",
        description="A spec-first server for the Portkey POST /v1/completions API.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser(
        "serve",
        help="serve /v1/completions (Swagger UI at /v1/ui/)",
        description="Serve POST /v1/completions from the effective spec, with the Swagger UI at /v1/ui/. "
        f"Every option can also be given by its environment variable ({ENV_PREFIX}<OPTION>); a flag wins "
        "over its variable.",
    )
    serve.set_defaults(subparser=serve, environment_errors=[])
    problems: list[str] = []
    for name, flag in flags():
        value = default(name)
        text = environ.get(flag.env)
        if text is not None:
            try:
                value = _from_environment(flag, text)
            except ValueError as exc:
                problems.append(f"{flag.env}: {exc}")
        shown = flag.shown(default(name)).replace("%", "%%")
        help = f"{flag.help} (default: {shown}; env: {flag.env})".replace("%%(", "%(")
        if flag.switch:
            serve.add_argument(flag.flag, dest=name, action=argparse.BooleanOptionalAction, default=value, help=help)
        else:
            serve.add_argument(
                flag.flag,
                dest=name,
                type=_typed(flag),
                default=value,
                metavar=flag.metavar,
                choices=flag.choices,
                help=help,
            )
    serve.set_defaults(environment_errors=problems)
    record = commands.add_parser(
        "record",
        help="proxy to an upstream and record its answers into a cassette",
        description="Proxy POST /v1/completions to an upstream and record every answer (streams with their "
        "timings) into a cassette that `serve --replay` answers from.",
    )
    record.set_defaults(subparser=record, environment_errors=[])
    record.add_argument("--upstream", required=True, help="the upstream's base URL, e.g. https://api.portkey.ai/v1")
    record.add_argument("--cassette", required=True, metavar="FILE", help="the cassette to write (JSON); appended to")
    record.add_argument("--host", default="127.0.0.1", help="address to listen on (default: %(default)s)")
    record.add_argument("--port", type=int, default=DEFAULT_PORT, help="port to listen on (default: %(default)s)")
    record.add_argument("--log-level", default="info", type=str.lower, choices=LEVELS, help=LOG_LEVEL_HELP)
    return parser


def parse(parser: argparse.ArgumentParser, argv: Sequence[str] | None) -> argparse.Namespace:
    """The arguments; an unknown one is refused with the subcommand's usage, not the top level's."""
    args, unknown = parser.parse_known_args(argv)
    if unknown:
        args.subparser.error(f"unrecognized arguments: {' '.join(unknown)}")
    if args.environment_errors:
        args.subparser.error("; ".join(args.environment_errors))
    return args


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


def check_state(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """Refuse, before anything starts, workers that would silently disagree, and a Redis that cannot be reached."""
    if args.state == MEMORY and args.workers > 1:
        parser.error(
            f"--workers {args.workers}: each worker would keep its own rules, counters and journal. Share them "
            f"with --state redis://HOST:PORT/DB, or accept that with --state {PER_PROCESS}"
        )
    if args.state == PER_PROCESS and args.workers > 1:
        print(
            f"portkey-stub: warning: --state {PER_PROCESS}: each of the {args.workers} workers has its own "
            "run-time rules, counters and journal; a rule added through the admin API reaches one of them",
            file=sys.stderr,
        )
    if args.state.startswith(REDIS_SCHEMES):  # any other URL is create_app's to refuse
        from portkey_completions.control import redis_state

        problem = redis_state.check(args.state)
        if problem:
            parser.error(f"--state {problem}")


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parse(parser, argv)
    options = serve_options(args) if args.command == "serve" else None
    ensure_free(args.subparser, args.host, args.port)
    if args.command == "serve":
        check_state(args.subparser, args)
    import uvicorn

    if args.command == "record":
        from portkey_completions.control.cassette import Cassette, recorder

        try:
            cassette = Cassette(args.cassette)
        except (OSError, ValueError) as exc:
            args.subparser.error(f"--cassette {args.cassette}: {exc}")
        uvicorn.run(recorder(args.upstream, cassette), host=args.host, port=args.port, log_level=args.log_level)
        return 0

    assert options is not None
    app = build_app(args.subparser, options)
    # The access log is the app's own (ServerOptions.access_log): uvicorn's, which costs a quarter
    # of the throughput, is always off.
    # server_header=False below: answers do not name the software behind them (Portkey's do not),
    # and uvicorn checks every header of every answer with two regexes.
    logging = logs.log_config(options.log_level, options.log_format)
    if options.workers > 1:
        # Each worker process builds its own app from the same arguments (checked above, once).
        os.environ[_ARGV_ENV] = json.dumps(list(argv if argv is not None else sys.argv[1:]))
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


_ARGV_ENV = "PORTKEY_STUB_ARGV"


def worker_app() -> CompletionsApp:
    """The app of one `serve --workers N` process, from the arguments the parent checked."""
    parser = build_parser()
    args = parse(parser, json.loads(os.environ[_ARGV_ENV]))
    lifecycle.drain_on_exit_signals()
    return build_app(args.subparser, serve_options(args), quiet=True)


def serve_options(args: argparse.Namespace) -> ServerOptions:
    """`serve`'s options from its flags and variables, each checked as declared; an error names the flag."""
    given = {name: getattr(args, name) for name, _ in flags()}
    # One line per request at info and debug, as uvicorn's; above info, none.
    access_log = LEVELS.index(given["log_level"]) >= LEVELS.index("info")
    parser: argparse.ArgumentParser = args.subparser
    try:
        return ServerOptions.of(**given, access_log=access_log)
    except OptionError as exc:
        parser.error(f"{_flag(exc.option)}: {exc.message}")


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
