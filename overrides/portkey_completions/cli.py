"""`portkey-stub`: run the completions server."""

from __future__ import annotations

import argparse
import gc
import json
import os
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING

from portkey_completions.control.state import MEMORY, PER_PROCESS, REDIS_SCHEMES
from portkey_completions.gateway import backoff
from portkey_completions.gateway.hosts import DEFAULT_TRUSTED
from portkey_completions.gateway.leaf import DEFAULT_UPSTREAM_TIMEOUT
from portkey_completions.server import lifecycle
from portkey_completions.server.limits import DEFAULT_BODY_TIMEOUT, DEFAULT_MAX_BODY_BYTES

from . import __version__
from .options import OptionError, ServerOptions

if TYPE_CHECKING:  # the app (connexion) is imported only when a server is built
    from portkey_completions.app import StubApp

# 8787 is the Portkey gateway's own default port, so SDKs pointed at a local
# gateway reach this server unchanged.
DEFAULT_PORT = 8787
LEVELS = ["critical", "error", "warning", "info", "debug"]
LOG_LEVEL_HELP = f"how much to log: {', '.join(LEVELS)}, any case (default: %(default)s)"
# The flag that sets each file option, for errors that name it.
FLAGS = {
    "scenarios_path": "--scenarios",
    "replay_path": "--replay",
    "store": "--store",
    "models": "--models",
    "state": "--state",
}


def _workers(raw: str) -> int:
    value = int(raw)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, not {value}")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="portkey-stub",
        description="A spec-first server for the Portkey POST /v1/completions API.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser(
        "serve",
        help="serve /v1/completions (Swagger UI at /v1/ui/)",
        description="Serve POST /v1/completions from the effective spec, with the Swagger UI at /v1/ui/.",
    )
    serve.set_defaults(subparser=serve)
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on (default: %(default)s)")
    serve.add_argument("--port", type=int, default=DEFAULT_PORT, help="port to listen on (default: %(default)s)")
    serve.add_argument(
        "--max-body-bytes",
        type=int,
        default=DEFAULT_MAX_BODY_BYTES,
        help="answer 413 to bodies larger than this (default: %(default)s)",
    )
    serve.add_argument(
        "--validate-responses",
        action="store_true",
        help="check every response against the spec (slower; for contract testing the server itself)",
    )
    serve.add_argument(
        "--models",
        metavar="FILE",
        help="model table, YAML or JSON: {name: {context_window: N, suffix: true|false}} "
        "(default: gpt-3.5-turbo-instruct 4096 with suffix, davinci-002 and babbage-002 16384)",
    )
    serve.add_argument(
        "--store",
        metavar="FILE",
        help="the gateway's store (YAML, or TOML by suffix): api_keys, providers, virtual_keys, configs. "
        "Without one any non-empty x-portkey-api-key passes and every request without a custom host "
        "is answered by the built-in stub engine",
    )
    serve.add_argument(
        "--trusted-hosts",
        metavar="HOSTS",
        default=",".join(DEFAULT_TRUSTED),
        help="comma-separated custom hosts allowed although loopback or private, matched literally "
        "(default: %(default)s)",
    )
    serve.add_argument(
        "--validate-upstream",
        action="store_true",
        help="check upstream responses and stream chunks against the spec; report violations in the "
        "x-portkey-upstream-violation header (JSON responses) and the log",
    )
    serve.add_argument(
        "--body-timeout",
        type=float,
        default=DEFAULT_BODY_TIMEOUT,
        metavar="SECONDS",
        help="how long a request body may stall before a 408, against slow uploads (default: %(default)s)",
    )
    serve.add_argument(
        "--upstream-timeout",
        type=float,
        default=DEFAULT_UPSTREAM_TIMEOUT,
        metavar="SECONDS",
        help="how long an upstream may keep the gateway waiting for its answer to start, or between the "
        "chunks of a stream, before a 504 or an upstream_timeout error event (default: %(default)s)",
    )
    serve.add_argument(
        "--retry-backoff",
        choices=list(backoff.BACKOFFS),
        default=backoff.DEFAULT,
        help="the wait between a config's retries when the upstream names none (Retry-After is honoured "
        "first): portkey waits 1 s, 2 s, 4 s… as Portkey's gateway does; fast waits 0.1 s doubling up to "
        "2 s, for test suites (default: %(default)s)",
    )
    serve.add_argument(
        "--openai-compatible",
        action="store_true",
        help="also answer plain OpenAI requests (Authorization: Bearer only) with the engine, so this "
        "server can be the upstream of a gateway",
    )
    serve.add_argument(
        "--scenarios",
        metavar="FILE",
        help="scenario rules (YAML `rules: [{match: …, respond: …}]`), reloaded when the file changes",
    )
    serve.add_argument("--replay", metavar="CASSETTE", help="answer from a cassette written by `portkey-stub record`")
    serve.add_argument(
        "--replay-speed",
        type=float,
        default=1.0,
        help="replay this many times faster than recorded; 0 sends at once (default: %(default)s)",
    )
    serve.add_argument(
        "--admin-token",
        help="let non-loopback callers use the admin API and journal page under /__admin with this token",
    )
    serve.add_argument(
        "--workers",
        type=_workers,
        default=1,
        help="worker processes (uvicorn's); more than 1 needs --state redis://… (or --state per-process) "
        "(default: %(default)s)",
    )
    serve.add_argument(
        "--state",
        metavar="URL",
        default=MEMORY,
        help=f"where run-time rules, their counters and the journal live: {MEMORY} (this process), "
        f"{PER_PROCESS} (each of --workers N its own, with a warning), or redis://HOST:PORT/DB, shared "
        "by every worker and replica given the same URL (default: %(default)s)",
    )
    serve.add_argument("--no-swagger-ui", action="store_true", help="do not serve the Swagger UI")
    serve.add_argument("--log-level", default="info", type=str.lower, choices=LEVELS, help=LOG_LEVEL_HELP)
    record = commands.add_parser(
        "record",
        help="proxy to an upstream and record its answers into a cassette",
        description="Proxy POST /v1/completions to an upstream and record every answer (streams with their "
        "timings) into a cassette that `serve --replay` answers from.",
    )
    record.set_defaults(subparser=record)
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

    app = build_app(args.subparser, args)
    # The access log is the app's own (ServerOptions.access_log): uvicorn's, which costs a quarter
    # of the throughput, is always off.
    # server_header=False below: answers do not name the software behind them (Portkey's do not),
    # and uvicorn checks every header of every answer with two regexes.
    if args.workers > 1:
        # Each worker process builds its own app from the same arguments (checked above, once).
        os.environ[_ARGV_ENV] = json.dumps(list(argv if argv is not None else sys.argv[1:]))
        uvicorn.run(
            "portkey_completions.cli:worker_app",
            factory=True,
            workers=args.workers,
            host=args.host,
            port=args.port,
            log_level=args.log_level,
            access_log=False,
            server_header=False,
        )
        return 0
    config = uvicorn.Config(
        app, host=args.host, port=args.port, log_level=args.log_level, access_log=False, server_header=False
    )
    lifecycle.Server(config).run()
    return 0


_ARGV_ENV = "PORTKEY_STUB_ARGV"


def worker_app() -> StubApp:
    """The app of one `serve --workers N` process, from the arguments the parent checked."""
    parser = build_parser()
    args = parse(parser, json.loads(os.environ[_ARGV_ENV]))
    lifecycle.drain_on_exit_signals()
    return build_app(args.subparser, args, quiet=True)


def build_app(parser: argparse.ArgumentParser, args: argparse.Namespace, *, quiet: bool = False) -> StubApp:
    from portkey_completions.app import create_app

    trusted = tuple(h.strip() for h in args.trusted_hosts.split(",") if h.strip())
    for flag in ("body_timeout", "upstream_timeout"):
        if not getattr(args, flag) > 0:
            parser.error(f"--{flag.replace('_', '-')} must be a positive number of seconds")
    try:
        # File options go as paths: create_app loads them, and names the option in its errors.
        options = ServerOptions(
            store=args.store,
            trusted_hosts=trusted,
            validate_upstream=args.validate_upstream,
            upstream_timeout=args.upstream_timeout,
            retry_backoff=args.retry_backoff,
            body_timeout=args.body_timeout,
            openai_compatible=args.openai_compatible,
            scenarios_path=args.scenarios,
            replay_path=args.replay,
            replay_speed=args.replay_speed,
            admin_token=args.admin_token,
            state=args.state,
            # One line per request at info and debug, as uvicorn's; above info, none.
            access_log=LEVELS.index(args.log_level) >= LEVELS.index("info"),
            **({"models": args.models} if args.models else {}),
            max_body_bytes=args.max_body_bytes,
            validate_responses=args.validate_responses,
            swagger_ui=not args.no_swagger_ui,
        )
        app = create_app(options)
    except OptionError as exc:  # a file that cannot be used
        parser.error(f"{FLAGS.get(exc.option, exc.option)}: {exc.message}")
    if args.store is None and not quiet:  # said once every option has been checked
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


if __name__ == "__main__":
    sys.exit(main())
