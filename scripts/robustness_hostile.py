"""`make robustness`'s hostile-input section: bodies, headers, configs and hosts meant to hurt, and slow uploads."""

from __future__ import annotations

import json
import random
import socket
import threading
import time
from collections.abc import Callable
from typing import Any

from robustkit import BODY, BODY_TIMEOUT, COMPLETIONS, KEY, VK, Row, post, refused

# -- hostile input ----------------------------------------------------------------------------------


def hostile_inputs(url: str, upstream: str, n: int, rng: random.Random) -> list[Row]:
    """Categories of hostile input, n of each (drawn), each refused with its exact status."""
    custom = {**KEY, "authorization": "Bearer sk", "x-portkey-provider": "openai"}
    valid = json.dumps(BODY).encode()

    def deep(depth: int) -> bytes:
        field = rng.choice(["prompt", "stop", "logit_bias", "metadata", None])
        opening, closing = (b'{"a":', b"}") if field == "logit_bias" else (b"[", b"]")
        nested = opening * depth + (b"1" if opening == b'{"a":' else b"") + closing * depth
        return nested if field is None else valid[:-1] + f', "{field}": '.encode() + nested + b"}"

    def bad_utf8() -> bytes:
        junk = rng.choice([b"\xff", b"\xfe\xff", b"\xc3\x28", b"\xed\xa0\x80", b"\xf8\x88\x80\x80\x80", b"\xc0\xaf"])
        return valid.replace(b"Say this", b"Say " + junk * rng.randint(1, 5))

    def malformed() -> bytes:
        """A valid body with bytes dropped or changed until it is no longer JSON."""
        mutated = bytearray(valid)
        while True:
            if rng.random() < 0.5:
                del mutated[rng.randrange(len(mutated))]
            else:
                mutated[rng.randrange(len(mutated))] = rng.choice(b'{}[],:"\\')
            try:
                json.loads(mutated)
            except ValueError:
                return bytes(mutated)

    def config() -> str:
        kind = rng.randrange(5)
        if kind == 0:
            depth = rng.randint(2000, 9_000)  # headers stay under 64 KiB
            return '{"a":' * depth + "1" + "}" * depth
        if kind == 1:
            return json.dumps(
                {"strategy": {"mode": "fallback"}, "targets": [{"provider": "stub"}] * rng.randint(100, 2000)}
            )
        if kind == 2:
            node: dict[str, Any] = {"provider": "stub"}
            for _ in range(rng.randint(9, 60)):
                node = {"strategy": {"mode": "single"}, "targets": [node]}
            return json.dumps(node)
        if kind == 3:
            return json.dumps({"provider": "stub", "weight": rng.choice([10**400, -1, 1e300])})
        return '{"provider": "stub", ' + rng.choice(['"retry": {"attempts": 1e9}}', '"request_timeout": 1e999}', "}"])

    ssrf = [
        "http://169.254.169.254/latest/meta-data", "http://0x7f000001/v1", "http://2130706433/v1", "http://127.1/v1",
        "http://[::ffff:10.0.0.1]/v1", "http://user@example.com/v1", "http://10.0.0.1/v1", "http://192.168.1.1/v1",
        "http://[fe80::1]/v1", "http://metadata.google.internal/x", "ftp://example.com/v1", "http://0.0.0.0/v1",
        "http://[::]/v1", "http://224.0.0.1/v1", "http://100.64.0.1/v1", "http://a..b.example/v1",
        "http://b\u00fccher.example/v1", "http://0177.0.0.1/v1", "http://[::1]:1/v1".replace("::1", "0:0:0:0:0:0:0:1"),
    ]  # fmt: skip

    # (category, expected status, expected code, draw one request -> (content, headers))
    categories: list[tuple[str, int, str | None, Callable[[], tuple[bytes, dict[str, Any]]]]] = [
        ("oversized bodies", 413, "request_too_large",
         lambda: (valid[:-1] + b', "user": "' + b"a" * rng.randint(1 << 20, 3 << 20) + b'"}', VK)),
        ("oversized headers", 431, None, lambda: (valid, {**VK, "x-filler": "a" * rng.randint(65_600, 200_000)})),
        ("deeply nested JSON", 400, None, lambda: (deep(rng.randint(1000, 100_000)), VK)),  # under 1 MiB
        ("n x best_of x max_tokens", 400, "request_too_large", lambda: (json.dumps(
            {**BODY, "model": "babbage-002", "n": rng.randint(9, 20), "best_of": 20,
             "max_tokens": rng.randint(6600, 16000), "prompt": ["a"] * rng.randint(1, 4)}).encode(), VK)),
        ("invalid UTF-8 in bodies", 400, None, lambda: (bad_utf8(), VK)),
        ("invalid UTF-8 in headers", 400, "invalid_header", lambda: (valid, {**VK, rng.choice(
            ["x-portkey-api-key", "x-portkey-config", "x-portkey-virtual-key", "authorization"]): b"v\xff" + bytes(
            [rng.randint(0x80, 0xFF)])})),
        ("malformed JSON", 400, None, lambda: (malformed(), VK)),
        ("hostile Portkey configs", 400, "invalid_config", lambda: (valid, {**KEY, "x-portkey-config": config()})),
        ("SSRF custom hosts", 400, "custom_host_refused",
         lambda: (valid, {**custom, "x-portkey-custom-host": rng.choice(ssrf).encode()})),
    ]  # fmt: skip
    rows = []
    for name, status, code, draw in categories:
        tried = ok = server_errors = 0
        first_miss = ""
        for _ in range(n):
            content, headers = draw()
            response = post(url, content, headers)
            tried += 1
            if refused(response, status, code):
                ok += 1
            elif not first_miss:
                first_miss = f"; first miss: {content[:80]!r} -> {response.status_code} {response.text[:150]}"
            server_errors += response.status_code >= 500
        figure = (
            f"{tried} tried, {ok} refused with {status}{f' {code}' if code else ''}, {server_errors} 5xx{first_miss}"
        )
        rows.append(Row("hostile input", name, figure, ok == tried))
    rows.append(slow_uploads(url, max(3, n // 2)))
    alive = post(url, valid, VK).status_code == 200
    rows.append(Row("hostile input", "server still answers", "200" if alive else "no", alive))
    return rows


def slow_uploads(url: str, n: int) -> Row:
    """Slowloris: n connections send headers and half a body, then nothing. Each gets a 408."""
    host, port = url.removeprefix("http://").split(":")
    payload = json.dumps(BODY).encode()
    head = "".join(f"{k}: {v}\r\n" for k, v in {**VK, "content-type": "application/json"}.items())
    statuses: list[int] = []

    def one() -> None:
        with socket.create_connection((host, int(port)), timeout=BODY_TIMEOUT + 10) as sock:
            start = f"POST {COMPLETIONS} HTTP/1.1\r\nhost: {host}\r\n{head}content-length: {len(payload)}\r\n\r\n"
            sock.sendall(start.encode() + payload[: len(payload) // 2])
            answer = sock.recv(65536).decode("latin-1")
            statuses.append(int(answer.split(" ", 2)[1]) if answer.startswith("HTTP/") else 0)

    started = time.monotonic()
    threads = [threading.Thread(target=one) for _ in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    took = time.monotonic() - started
    ok = statuses.count(408)
    figure = f"{n} held open, {ok} answered 408 after {took:.1f} s (body timeout {BODY_TIMEOUT:g} s)"
    return Row("hostile input", "slow uploads (slowloris)", figure, ok == n and took < BODY_TIMEOUT + 5)
