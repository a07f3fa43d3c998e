"""Benchmark the completion engine in-process: tokens per second and the time of a 16-token completion.

Every figure is a median of --repeats runs, next to a baseline measured in the same run: the
cheapest sampler Python can have (one uniform draw and one list index per token). A sampling
setting's first run is shown on its own: its sampler meets each context for the first time. The ratio
says what the engine costs over that floor, which a noisy machine moves far less than the
absolute rates.

    python scripts/bench_engine.py [--tokens N] [--completions N] [--repeats N]
"""

from __future__ import annotations

import argparse
import random
import statistics
import time

from portkey_completions.engine.completion import Candidate, Run
from portkey_completions.engine.engine import Engine
from portkey_completions.engine.lm import Copying
from portkey_completions.engine.sampler import Sampler, Sampling

PROMPT = "Once upon a time there was a small server that lived on a quiet port of a busy machine."
NO_END = {100257: -100.0}  # <|endoftext|> banned: as the bench's requests, which run to max_tokens
# A row per sampling setting: the kinds of request `make bench`'s realistic mix sends, and more.
SETTINGS: dict[str, tuple[Sampling, int | None]] = {
    "sampling, default parameters": (Sampling(), None),
    "sampling, <|endoftext|> banned + penalties": (
        Sampling(presence_penalty=0.5, frequency_penalty=0.5, logit_bias=NO_END),
        None,
    ),
    "greedy (temperature 0)": (Sampling(temperature=0.0), None),
    "temperature 0.7": (Sampling(temperature=0.7), None),
    "temperature 0.7, top_p 0.9": (Sampling(temperature=0.7, top_p=0.9), None),
    "logprobs 5, <|endoftext|> banned": (Sampling(logit_bias=NO_END), 5),
    "presence_penalty 0.6": (Sampling(presence_penalty=0.6), None),
    "penalties + logit_bias +1": (Sampling(presence_penalty=0.5, frequency_penalty=0.5, logit_bias={13: 1.0}), None),
}


def baseline(engine: Engine, tokens: int) -> float:
    """Tokens per second of a uniform pick from the training tokens: no model at all."""
    pool = engine.model.unigrams.tokens
    rng = random.Random(0).random
    n = len(pool)
    start = time.perf_counter()
    for _ in range(tokens):
        pool[int(rng() * n)]
    return tokens / (time.perf_counter() - start)


def sampling_rate(engine: Engine, sampler: Sampler, tokens: int, top: int | None = None) -> float:
    """Tokens per second of the sampler alone, walking its own output (past ends of text)."""
    prompt = engine.tokenizer.encode(PROMPT)
    copying = Copying(prompt)
    step = sampler.step
    rng = random.Random(1).random
    a, b = prompt[-2], prompt[-1]
    counts: dict[int, int] = {}
    start = time.perf_counter()
    for _ in range(tokens):
        w = step(a, b, copying, counts, rng, top=top).token
        a, b = b, w
    return tokens / (time.perf_counter() - start)


def completion_times(engine: Engine, completions: int) -> list[float]:
    """Seconds per 16-token completion (prompt ids in, pieces of text out), default sampling.

    Choices that end early (an end of text) are not 16 tokens long and are left out.
    """
    prompt = tuple(engine.tokenizer.encode(PROMPT))
    sampler = Sampler(engine.model, Sampling())
    times = []
    seed = 0
    while len(times) < completions:
        seed += 1
        run = Run(engine, sampler, Candidate(prompt=prompt, max_tokens=16, seed=str(seed)))
        start = time.perf_counter()
        for _ in run.pieces():
            pass
        elapsed = time.perf_counter() - start
        if run.sampled == 16:
            times.append(elapsed)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--tokens", type=int, default=200_000, help="tokens per rate measurement (default: %(default)s)"
    )
    parser.add_argument(
        "--completions", type=int, default=2_000, help="16-token completions timed per repeat (default: %(default)s)"
    )
    parser.add_argument("--repeats", type=int, default=5, help="repeats; medians are reported (default: %(default)s)")
    args = parser.parse_args()

    start = time.perf_counter()
    engine = Engine()
    print(f"engine load (tokenizer + training): {time.perf_counter() - start:.2f} s")

    floor = statistics.median(baseline(engine, args.tokens) for _ in range(args.repeats))
    # One sampler per setting for all its runs, as a server keeps one per set of parameters
    # (server/plan.py): the first run meets each context first, as a fresh server does; the
    # later ones, as a server that has answered for a while (a step is prepared once per context).
    print(f"\n{'tokens per second':<44}{'first run':>12}{'later runs':>12}{'x baseline':>12}")
    print(f"{'baseline: uniform pick, no model':<44}{'':>12}{floor:>12,.0f}{1:>12.3f}")
    for name, (sampling, top) in SETTINGS.items():
        sampler = Sampler(engine.model, sampling)
        runs = [sampling_rate(engine, sampler, args.tokens, top=top) for _ in range(args.repeats)]
        later = statistics.median(runs[1:]) if len(runs) > 1 else runs[0]
        print(f"{name:<44}{runs[0]:>12,.0f}{later:>12,.0f}{later / floor:>12.3f}")
    if args.repeats > 1:
        print(f"(later runs: the median of {args.repeats - 1}; each run {args.tokens:,} tokens)")

    p50s, p90s = [], []
    for _ in range(args.repeats):
        times = sorted(completion_times(engine, args.completions))
        p50s.append(times[len(times) // 2])
        p90s.append(times[int(len(times) * 0.9)])
    p50, p90 = statistics.median(p50s), statistics.median(p90s)
    print(f"\n16-token completion, in-process (median of {args.repeats} x {args.completions}):")
    print(f"  p50 {p50 * 1e3:.3f} ms   p90 {p90 * 1e3:.3f} ms   = {16 / p50 / floor:.3f} x baseline per token")


if __name__ == "__main__":
    main()
