"""Coverage-guided fuzzing (atheris, libFuzzer) of the parsers that read what others send.

    python scripts/fuzz_atheris.py [--runs N] [--seconds S] [TARGET ...]

Targets, each with the property it holds on every input:

  sse      the client's SSE decoder (client/streaming.py) and the gateway's stream relay
           (gateway/relay.py): the same outcome however the bytes are split into reads; only the
           client's own error types escape; the relay passes bytes on unchanged (its output, less a
           final error event, is a prefix of its input) and never raises.
  config   Portkey configs (gateway/config.py), raw text and JSON trees built from the config's own
           vocabulary: decode and parse end in a Node or a ConfigError, nothing else; an accepted
           conditional config's queries evaluate against any request (gateway/conditions.py).
  request  the request validator: the fast path's compiled validator (fastpath.py) gives the same
           verdict as connexion's on the overlay-applied spec's request schema, for JSON bodies built
           from the schema's own field names; untrusted.loads raises nothing but ValueError.

Each target runs in its own process (libFuzzer ends the process when it is done). A property that
fails is a crash: libFuzzer saves the input as crash-*, and the table says so.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import subprocess
import sys
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

TARGETS = ("sse", "config", "request")


# -- building inputs ----------------------------------------------------------------------------


def _tree(fdp: Any, keys: list[str], depth: int = 0) -> Any:
    """A JSON value drawn from the bytes, with object keys from a vocabulary (structure-aware)."""
    kind = fdp.ConsumeIntInRange(0, 9 if depth < 4 else 5)
    if kind == 0:
        return None
    if kind == 1:
        return fdp.ConsumeBool()
    if kind == 2:
        return fdp.ConsumeIntInRange(-(2**40), 2**40) if fdp.ConsumeBool() else fdp.ConsumeIntInRange(-3, 600)
    if kind == 3:
        return fdp.ConsumeRegularFloat()
    if kind in (4, 5):
        return fdp.ConsumeUnicodeNoSurrogates(fdp.ConsumeIntInRange(0, 12))
    if kind in (6, 7):
        return [_tree(fdp, keys, depth + 1) for _ in range(fdp.ConsumeIntInRange(0, 4))]
    return {fdp.PickValueInList(keys): _tree(fdp, keys, depth + 1) for _ in range(fdp.ConsumeIntInRange(0, 5))}


def _split(payload: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({min(c, len(payload)) for c in cuts})
    return [payload[a:b] for a, b in zip([0, *points], [*points, len(payload)], strict=True) if b > a]


# -- targets ------------------------------------------------------------------------------------


def sse_target() -> Callable[[bytes], None]:
    import atheris

    with atheris.instrument_imports(include=["httpx_sse", "portkey_completions"]):
        import httpcore
        import httpx

        from portkey_completions.client import errors as client_errors
        from portkey_completions.client.streaming import Stream
        from portkey_completions.gateway.relay import relay
        from portkey_completions.observe.metrics import Tokens

    loop = asyncio.new_event_loop()

    class Reads(httpx.SyncByteStream):
        def __init__(self, pieces: list[bytes]) -> None:
            self.pieces = pieces

        def __iter__(self) -> Iterator[bytes]:
            yield from self.pieces

    def client_outcome(pieces: list[bytes]) -> list[Any]:
        request = httpx.Request("POST", "http://fuzz/completions")
        response = httpx.Response(
            200, headers={"content-type": "text/event-stream"}, stream=Reads(pieces), request=request
        )
        seen: list[Any] = []
        try:
            for chunk in Stream(response):
                seen.append(chunk.to_dict())
        except client_errors.PortkeyError as exc:  # the client's own errors are outcomes too
            seen.append((type(exc).__name__, str(exc)))
        return seen

    tokens = Tokens(())  # the usage of a fuzzed stream, counted as `other`

    async def relayed(pieces: list[bytes]) -> bytes:
        async def content() -> AsyncIterator[bytes]:
            for piece in pieces:
                yield piece

        response = httpcore.Response(200, content=content())
        events = relay(response, "fuzz", validate=True, tokens=tokens, draining=threading.Event())
        return b"".join([event async for event in events])

    error_event = re.compile(rb'data: \{"error":\{"message":"The upstream fuzz [^\n]*\n\n\Z')

    def one_input(payload: bytes) -> None:
        # The input is the stream itself (so seeds are plain streams); where it is split into
        # reads follows from its bytes, and changes as they are mutated.
        step = 1 + sum(payload[:8]) % 97
        pieces = _split(payload, list(range(step, len(payload), step)))
        whole = client_outcome([payload] if payload else [])
        assert client_outcome(pieces) == whole, (pieces, whole)
        out = loop.run_until_complete(relayed(pieces))
        assert out == loop.run_until_complete(relayed([payload] if payload else [])), pieces
        passed = error_event.sub(b"", out) if error_event.search(out) else out
        assert payload.startswith(passed), (payload, out)

    return one_input


CONFIG_KEYS = [
    "strategy", "mode", "on_status_codes", "targets", "provider", "api_key", "virtual_key", "custom_host",
    "weight", "retry", "attempts", "request_timeout", "override_params", "max_tokens", "single", "fallback",
    "loadbalance", "conditional", "conditions", "query", "then", "default", "name", "cache", "max_age",
    "simple", "forward_headers", "openai_organization", "strict_open_ai_compliance", "metadata.plan",
    "params.max_tokens", "$eq", "$ne", "$gt", "$lte", "$in", "$nin", "$regex", "$length", "$and", "$or",
]  # fmt: skip


def config_target() -> Callable[[bytes], None]:
    import atheris

    with atheris.instrument_imports():
        from portkey_completions.gateway import conditions
        from portkey_completions.gateway import config as configs

    def one_input(data: bytes) -> None:
        fdp = atheris.FuzzedDataProvider(data)
        if fdp.ConsumeBool():
            text = fdp.ConsumeUnicodeNoSurrogates(fdp.remaining_bytes())
        else:
            tree = _tree(fdp, CONFIG_KEYS)
            if isinstance(tree, dict) and fdp.ConsumeBool():
                tree.setdefault("strategy", {"mode": fdp.PickValueInList(["single", "fallback", "loadbalance"])})
            text = json.dumps(tree)
        try:
            decoded = configs.decode(text)
            tree = None if isinstance(decoded, str) else configs.parse(decoded)
        except configs.ConfigError:
            return
        # A conditional config that was accepted is evaluated against any request: never an exception.
        context = {"metadata": {"plan": _tree(fdp, CONFIG_KEYS)}, "params": {"max_tokens": _tree(fdp, CONFIG_KEYS)}}
        pending = [tree] if tree is not None else []
        while pending:
            node = pending.pop()
            pending.extend(node.targets)
            for condition in node.conditions:
                conditions.holds(condition.query, context)

    return one_input


def request_target() -> Callable[[bytes], None]:
    import atheris

    # Only the validators are instrumented: connexion and starlette would take half a minute.
    with atheris.instrument_imports(include=["jsonschema", "portkey_completions"]):
        from connexion.json_schema import Draft4RequestValidator, resolve_refs
        from jsonschema import Draft4Validator

        from portkey_completions.core import spec, untrusted
        from portkey_completions.core.spec import load as load_spec
        from portkey_completions.server.fastpath import compile_request_validator

    resolved = resolve_refs(load_spec())
    schema = resolved["paths"]["/completions"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    connexion_validator = Draft4RequestValidator(schema, format_checker=Draft4Validator.FORMAT_CHECKER)
    fast = compile_request_validator()
    fields = [*sorted(spec.schema("CreateCompletionRequest")["properties"]), "50256", "x"]

    def one_input(data: bytes) -> None:
        fdp = atheris.FuzzedDataProvider(data)
        if fdp.ConsumeIntInRange(0, 3) == 0:
            try:
                untrusted.loads(fdp.ConsumeBytes(fdp.remaining_bytes()))
            except ValueError:
                pass
            return
        body = _tree(fdp, fields)
        if fdp.ConsumeBool():
            body = {"model": "gpt-3.5-turbo-instruct", "prompt": "x", **(body if isinstance(body, dict) else {})}
        verdict = connexion_validator.is_valid(body)
        assert fast(body) == verdict, (body, verdict)

    return one_input


BUILDERS = {"sse": sse_target, "config": config_target, "request": request_target}


# -- driver -------------------------------------------------------------------------------------


# Where the search starts: a few well-formed inputs, so that mutation begins near valid structure.
SEEDS = {
    "sse": [
        b'data: {"id":"c","object":"text_completion","created":0,"model":"m","choices":[{"text":"a","index":0,'
        b'"logprobs":null,"finish_reason":null}]}\n\ndata: [DONE]\n\n',
        b': keep-alive\r\n\r\nid: 7\r\nretry: 10\r\n\r\ndata: {"error": {"message": "x"}}\r\n\r\n',
        b"event: x\rdata: [DO\rdata: NE]\r\rdata: {}\n\n",
    ],
}


def run_one(target: str, runs: int, seconds: float, workdir: Path) -> dict[str, Any]:
    corpus = workdir / f"corpus-{target}"
    corpus.mkdir(exist_ok=True)
    for i, seed in enumerate(SEEDS.get(target, [])):
        (corpus / f"seed-{i}").write_bytes(seed)
    argv = [sys.executable, __file__, "--child", target, f"-runs={runs}", f"-max_total_time={int(seconds)}"]
    argv += ["-print_final_stats=1", f"-artifact_prefix={workdir}/{target}-", str(corpus)]
    started = time.monotonic()
    done = subprocess.run(argv, capture_output=True, text=True, cwd=workdir)
    log = done.stdout + done.stderr
    execs = re.findall(r"stat::number_of_executed_units:\s*(\d+)", log)
    cov = re.findall(r"cov: (\d+)", log)
    crashes = sorted(p.name for p in workdir.glob(f"{target}-crash-*"))
    return {
        "target": target,
        "execs": int(execs[-1]) if execs else 0,
        "coverage": int(cov[-1]) if cov else 0,
        "seconds": time.monotonic() - started,
        "crashes": crashes,
        "ok": done.returncode == 0 and not crashes,
        "log": log,
    }


def main() -> int:
    if len(sys.argv) > 2 and sys.argv[1] == "--child":
        import atheris

        one_input = BUILDERS[sys.argv[2]]()
        atheris.Setup([sys.argv[0], *sys.argv[3:]], one_input)
        atheris.Fuzz()
        return 0
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("targets", nargs="*", metavar="TARGET", help=f"some of {', '.join(TARGETS)} (default: all)")
    parser.add_argument("--runs", type=int, default=-1, help="inputs per target, at most (default: no limit)")
    parser.add_argument("--seconds", type=float, default=60, help="seconds per target, at most (default %(default)s)")
    parser.add_argument("--workdir", default="fuzz-artifacts", help="where crash inputs are saved")
    args = parser.parse_args()
    unknown = set(args.targets) - set(TARGETS)
    if unknown:
        parser.error(f"unknown target {sorted(unknown)[0]!r}: choose from {', '.join(TARGETS)}")
    workdir = Path(args.workdir).resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    failed = False
    print(f"{'target':<10}{'inputs':>10}{'coverage':>10}{'seconds':>9}  crashes")
    for target in args.targets or TARGETS:
        result = run_one(target, args.runs, args.seconds, workdir)
        crashes = ", ".join(result["crashes"]) or "0"
        print(f"{target:<10}{result['execs']:>10,}{result['coverage']:>10}{result['seconds']:>9.1f}  {crashes}")
        if not result["ok"]:
            failed = True
            print(result["log"][-3000:], file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
