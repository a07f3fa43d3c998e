"""`portkey-stub`: run the completions server, record an upstream, report contract coverage."""

from __future__ import annotations

import argparse
import gc
import logging
import logging.config
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

from . import __version__, reports, verify
from .options import ENV_PREFIX, LEVELS, Flag, OptionError, ServerOptions, default, flags, from_environment

if TYPE_CHECKING:  # the app (connexion) is imported only when a server is built
    from portkey_completions.app import CompletionsApp
    from portkey_completions.call.security import Scheme

logger = logging.getLogger("portkey_completions.cli")  # by name: `python -m` runs this as __main__
COMMANDS = ("serve", "record", "coverage", "spec-diff", "verify")


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
    reports.coverage_parser(commands)
    reports.spec_diff_parser(commands)
    verify.add_parser(commands)
    return parser


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
    if options.state.startswith(REDIS_SCHEMES) and options.state_wait == 0:  # else serve() waits for it
        from portkey_completions.control import redis_state

        problem = redis_state.check(options.state)
        if problem:
            parser.error(f"--state {problem}")


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parse(parser, argv)
    if args.command == "coverage":
        return reports.coverage(args)
    if args.command == "spec-diff":
        return reports.spec_diff(args)
    if args.command == "verify":
        return verify.main(args)
    options = options_of(args, (n for n, _ in flags()) if args.command == "serve" else RECORD_OPTIONS)
    ensure_free(args.subparser, options.host, options.port)
    if args.command == "serve":
        check_state(args.subparser, options)
    if args.command == "record":
        return record(args, options)
    return serve(args, options)


def record(args: argparse.Namespace, options: ServerOptions) -> int:
    """`portkey-stub record`: a proxy to the upstream that keeps every answer in the cassette."""
    import uvicorn

    from portkey_completions.control.cassette import Cassette, recorder

    try:
        cassette = Cassette(args.cassette)
    except (OSError, ValueError) as exc:
        args.subparser.error(f"--cassette {args.cassette}: {exc}")
    uvicorn.run(recorder(args.upstream, cassette), host=options.host, port=options.port, log_level=options.log_level)
    return 0


def serve(args: argparse.Namespace, options: ServerOptions) -> int:
    """`portkey-stub serve`: one process, or `--workers N` each building its app from the options."""
    import uvicorn

    options = options.replace(access_log=LEVELS.index(options.log_level) >= LEVELS.index("info"))
    # Logging as the server will run it, from here: the start-up notices and Python's warnings are
    # lines in the chosen form too (every line JSON under --log-format json).
    logging.config.dictConfig(logs.log_config(options.log_level, options.log_format))
    logging.captureWarnings(True)
    app = build_app(args.subparser, options)
    shared = options.state.startswith(REDIS_SCHEMES)
    waiting = lifecycle.StateWait.begin(options.state, options.state_wait) if shared else None
    # The access log is the app's own (ServerOptions.access_log): uvicorn's, which costs a quarter
    # of the throughput, is always off.
    # server_header=False below: answers do not name the software behind them (Portkey's do not),
    # and uvicorn checks every header of every answer with two regexes.
    configured = logs.log_config(options.log_level, options.log_format)
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
            log_config=configured,
            access_log=False,
            server_header=False,
        )
        if figures is not None:
            figures.cleanup()
    else:
        config = uvicorn.Config(
            app, host=options.host, port=options.port, log_config=configured, access_log=False, server_header=False
        )
        lifecycle.Server(config, reload=app.reload).run()
    return 2 if waiting is not None and waiting.gave_up else 0


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
        logger.error("%s", exc)
        sys.exit(2)
    notice = None if quiet else _admission(app.alternatives.key_scheme, options.store is not None)
    if notice:  # said once every option has been checked; open to any key: a warning
        logger.warning("%s", notice)
    # The tokenizer and the model are a few hundred thousand objects that live as long as the
    # process: out of the collector's sight, so that a full collection does not stall requests.
    gc.collect()
    gc.freeze()
    return app


def _admission(key: Scheme | None, store_given: bool) -> str | None:
    """What the server admits, where it admits more than a store's keys: the start-up notice."""
    stub = "every request without a custom host is answered by the built-in stub engine"
    if key is None:
        store = "; the store's api_keys are asked of no one" if store_given else f", and {stub}"
        return f"the spec asks for no key: every request is accepted{store}"
    if not store_given:
        return f"no --store: any non-empty {key.label} is accepted, and {stub}"
    return None


def _flag(name: str) -> str:
    """The flag of an option, by its field's name (errors name what the user typed)."""
    declared = dict(flags())
    return declared[name].flag if name in declared else name


if __name__ == "__main__":
    sys.exit(main())
