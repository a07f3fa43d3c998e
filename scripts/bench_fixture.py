"""`make bench-fixture`: what a contract test costs with the `portkey_stub` fixture, beside respx.

Files of 1, 20 and 100 tests, one request each, run by pytest in a fresh process: the per-test
cost is the slope between the sizes (start-up, the same for every size, drops out). Each file
runs three times and the median is taken. respx mocks httpx in-process, so its row is the
floor a real server on loopback is measured against, in the same run.

    python scripts/bench_fixture.py [--quick]     # --quick: 1 and 5 tests, once (the smoke test)
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BODY = '{"model": "gpt-3.5-turbo-instruct", "prompt": "Say this is a test", "max_tokens": 16}'
MODES = {
    "portkey_stub (the fixture)": f"""
import json
# -- a test --
def test_{{i}}(portkey_stub):
    with portkey_stub.httpx() as client:
        answer = client.post("/completions", json=json.loads({BODY!r}))
    assert answer.status_code == 200 and answer.json()["choices"]
""",
    "respx (in-process mock)": f"""
import json

import httpx
import respx

ANSWER = {{"id": "cmpl-1", "object": "text_completion", "created": 0, "model": "gpt-3.5-turbo-instruct",
          "choices": [{{"text": " a test", "index": 0, "logprobs": None, "finish_reason": "length"}}]}}
# -- a test --
@respx.mock
def test_{{i}}():
    respx.post("http://api.test/v1/completions").mock(return_value=httpx.Response(200, json=ANSWER))
    with httpx.Client(base_url="http://api.test/v1") as client:
        answer = client.post("/completions", json=json.loads({BODY!r}))
    assert answer.status_code == 200 and answer.json()["choices"]
""",
}


def run(directory: Path, template: str, tests: int) -> float:
    header, _, test = template.partition("# -- a test --\n")
    path = directory / f"test_bench_{tests}.py"
    path.write_text(header + "".join(test.replace("{i}", str(i)) for i in range(tests)))
    started = time.perf_counter()
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(path)],
        cwd=directory, capture_output=True, text=True,
    )  # fmt: skip
    took = time.perf_counter() - started
    if result.returncode != 0 or f"{tests} passed" not in result.stdout:
        raise SystemExit(f"{path.name} failed:\n{result.stdout[-3000:]}{result.stderr[-2000:]}")
    return took


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="1 and 5 tests, one run each (the smoke test)")
    args = parser.parse_args()
    sizes, repeats = ((1, 5), 1) if args.quick else ((1, 20, 100), 3)
    print(f"per-test cost of a contract test (medians of {repeats}; slope from {sizes[0]} to {sizes[-1]} tests)")
    print(f"{'mode':<30}" + "".join(f"{f'{n} tests':>11}" for n in sizes) + f"{'per test':>12}")
    costs = {}
    with tempfile.TemporaryDirectory() as tmp:
        for mode, template in MODES.items():
            times = [statistics.median(run(Path(tmp), template, n) for _ in range(repeats)) for n in sizes]
            costs[mode] = (times[-1] - times[0]) / (sizes[-1] - sizes[0]) * 1000
            cells = "".join(f"{t:>10.2f}s" for t in times)
            print(f"{mode:<30}{cells}{costs[mode]:>9.1f} ms")
    fixture, respx = costs.values()
    print(f"{'fixture - respx':<30}{'':>{11 * len(sizes)}}{fixture - respx:>9.1f} ms   (target: at most 10 ms)")


if __name__ == "__main__":
    main()
