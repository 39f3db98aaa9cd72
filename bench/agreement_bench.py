"""Benchmark: how long the agreement report of a labelled dataset takes (store read + figures).

Run: ``.venv/bin/python bench/agreement_bench.py [--traces N] [--annotators K] [--repeat R]``.
Builds a temporary SQLite store of N twelve-step traces, each labelled by K annotators (first
mistakes near a hidden truth, a third with step ratings) plus the dataset's own label, then
prints the best of R timings of ``load_report`` (what the Agreement page and ``cli.py
agreement`` run on every view) and of ``agreement_report`` alone on labels already in memory.
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from analyzers.agreement import agreement_report, load_report  # noqa: E402
from trace_store import open_store  # noqa: E402
from trace_store.schema import ImportedTrace, Label, Step, Trace  # noqa: E402

STEPS = 12


def build_store(url: str, n_traces: int, n_annotators: int, seed: int = 5) -> int:
    """Fill the store at ``url``; return how many human labels it holds."""
    rng = random.Random(seed)
    items = []
    truth: dict[str, int] = {}
    for i in range(n_traces):
        tid = f"b{i:06d}"
        truth[tid] = rng.choice([-1, *range(STEPS)])
        trace = Trace(
            id=tid,
            dataset="bench",
            question=f"question {i}",
            steps=[Step(index=k, text=f"step {k} of {i}") for k in range(STEPS)],
        )
        shipped = Label(
            trace_id=tid, annotator="dataset:bench", source="dataset", first_mistake=truth[tid]
        )
        items.append(ImportedTrace(trace=trace, labels=[shipped]))
    with open_store(url) as store:
        store.add_traces(items)
        written = 0
        for tid, mistake in truth.items():
            for a in range(n_annotators):
                given = mistake if rng.random() < 0.7 else rng.choice([-1, *range(STEPS)])
                ratings = None
                if a % 3 == 2 and given != -1:
                    ratings = [1] * given + [-1] + [rng.choice([None, 0, -1])] * (STEPS - given - 1)
                store.save_label(
                    Label(
                        trace_id=tid,
                        annotator=f"ann{a}",
                        first_mistake=given,
                        step_ratings=ratings,
                    )
                )
                written += 1
    return written


def best_of(repeat: int, func) -> float:
    """Return the fastest of ``repeat`` wall-clock timings of ``func()`` in seconds."""
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        func()
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--traces", type=int, default=2000)
    parser.add_argument("--annotators", type=int, default=3)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{Path(tmp) / 'bench.db'}"
        start = time.perf_counter()
        n_labels = build_store(url, args.traces, args.annotators)
        print(f"built {args.traces} traces, {n_labels} human labels in "
              f"{time.perf_counter() - start:.1f} s")  # fmt: skip
        with open_store(url) as store:
            load_report(store, "bench")  # warm: imports sklearn and krippendorff once
            full = best_of(args.repeat, lambda: load_report(store, "bench"))
            labels = list(store.iter_labels(dataset="bench"))
            n_steps = {tid: STEPS for tid in {lb.trace_id for lb in labels}}
            report = agreement_report(labels, n_steps, dataset="bench")
            figures = best_of(args.repeat, lambda: agreement_report(labels, n_steps))
    print(f"load_report (store read + figures): {full * 1000:.0f} ms")
    print(f"agreement_report (figures only):    {figures * 1000:.0f} ms")
    print(f"alpha nominal {report.alpha_nominal.value:.3f} over {report.alpha_nominal.n} "
          f"judgements; {len(report.disagreements)} disagreeing traces")  # fmt: skip


if __name__ == "__main__":
    main()
