"""`make bench` keeps working: the script runs on tiny counts and prints every row (no timing is asserted)."""

from __future__ import annotations

import subprocess
import sys

from support import ROOT

SCRIPT = ROOT / "scripts" / "bench_engine.py"


def test_bench_engine_runs_and_reports_every_figure():
    out = subprocess.run(
        [sys.executable, str(SCRIPT), "--tokens", "2000", "--completions", "5", "--repeats", "1"],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    ).stdout
    for row in (
        "baseline: uniform pick",
        "sampling, default parameters",
        "greedy",
        "top_p 0.9",
        "logprobs 5",
        "16-token",
    ):
        assert row in out, out
    assert "p50" in out and "x baseline" in out


def test_bench_quick_runs_and_reports_every_row():
    """`make bench`'s harness in its quick mode, with one-second runs: every row, zero errors."""
    out = subprocess.run(
        [sys.executable, str(SCRIPT.with_name("bench.py")), "--quick", "--seconds", "1"],
        capture_output=True, text=True, check=True, timeout=300,
    ).stdout  # fmt: skip
    rows = ("bare Starlette (baseline)", "stub / bare (req/s), as started", "realistic mix", "no access log")
    rows += ("redis state / memory state", "SSE events/s", "RSS after")
    for row in (*rows, "start-up: launch to first answer", "gateway added", "tokens/s"):
        assert row in out, out
    loaded = [line for line in out.splitlines() if "non-2xx" in line]
    assert len(loaded) >= 6 and all("non-2xx 0, socket errors 0" in line for line in loaded), out


def test_bench_gateway_runs_and_reports_added_latency():
    script = SCRIPT.with_name("bench_gateway.py")
    out = subprocess.run(
        [sys.executable, str(script), "--requests", "5"], capture_output=True, text=True, check=True, timeout=120
    ).stdout
    for row in ("direct to the upstream (baseline)", "through the gateway", "added by the gateway"):
        assert row in out, out


def test_bench_fixture_runs_and_reports_both_modes():
    out = subprocess.run(
        [sys.executable, str(SCRIPT.with_name("bench_fixture.py")), "--quick"],
        capture_output=True, text=True, check=True, timeout=300,
    ).stdout  # fmt: skip
    for row in ("portkey_stub (the fixture)", "respx (in-process mock)", "fixture - respx"):
        assert row in out, out


def test_bench_asgi_runs_and_reports_both_apps():
    out = subprocess.run(
        [sys.executable, str(SCRIPT.with_name("bench_asgi.py")), "--requests", "50"],
        capture_output=True, text=True, check=True, timeout=120,
    ).stdout  # fmt: skip
    for row in ("bare Starlette (baseline)", "portkey-stub", "stub - bare"):
        assert row in out, out


def test_bench_instructions_counts_a_request():
    """Under valgrind (CI installs it): a count for the default request. One kind only: each kind is two
    runs under valgrind of 20 s each, most of it the imports; `make bench-instructions` has them all."""
    out = subprocess.run(
        [sys.executable, str(SCRIPT.with_name("bench_instructions.py")), "--requests", "40", "--warm-up", "20",
         "--only", "default request"],
        capture_output=True, text=True, check=True, timeout=300,
    ).stdout  # fmt: skip
    counts = {}
    for line in out.splitlines()[1:]:
        kind, _, rest = line.partition("  ")
        counts[kind.strip()] = float(rest.split()[0].replace(",", ""))
    assert set(counts) == {"default request"}, out
    # A request runs the door, validation, the engine and the answer: hundreds of thousands of
    # instructions (641,471 measured here), nowhere near none or a whole start-up's hundreds of millions.
    assert 100_000 < counts["default request"] < 10_000_000, out
