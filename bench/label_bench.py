"""Time label saves (record_label) on a SQLite store that already holds 1M labels.

Usage:
    .venv/bin/python bench/label_bench.py [--labels N] [--saves S] [--db PATH] [--keep]

Builds a store of N/4 traces (3 steps each, imported with add_traces) and N submitted human
labels (4 annotators per trace, each with one history entry), written in bulk with SQL since
building is not what is measured. Then times S record_label calls, the way the labelling page
makes them: a mix of first saves by new annotators, edits of existing labels (with the version
the editor loaded), drafts and submits. Prints p50/p95/p99 in ms per kind and overall (target:
p99 < 50 ms), then next_trace timings with traces still open and with nearly all complete.
--db PATH keeps the store there (--keep reuses one built before with the same N).
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from trace_store import open_store  # noqa: E402
from trace_store.annotation import (  # noqa: E402
    Identity,
    Project,
    next_trace,
    record_label,
    release_lease,
    save_project,
)
from trace_store.schema import ImportedTrace, Step, Trace, utcnow  # noqa: E402
from trace_store.store import Store  # noqa: E402

DATASET = "bench"
ANNOTATORS = ("ann0", "ann1", "ann2", "ann3")
N_STEPS = 3


def trace_items(n: int) -> Iterator[ImportedTrace]:
    """Yield ``n`` small distinct traces (built unvalidated, as an importer hands them over)."""
    for i in range(n):
        steps = [
            Step.model_construct(index=k, text=f"step {k} of problem {i}: {i * 7 + k} = {i + k}")
            for k in range(N_STEPS)
        ]
        trace = Trace.model_construct(
            id=f"b{i:07d}", dataset=DATASET, task="sums", model="m", question=f"Problem {i}?",
            steps=steps, answer=str(i), target=str(i), correct=None, raw_text=None, metadata={},
            format_version=1,
        )  # fmt: skip
        yield ImportedTrace.model_construct(trace=trace, labels=[], location="")


def build(store: Store, n_labels: int) -> None:
    """Fill ``store`` with n_labels / 4 traces and n_labels submitted labels with history."""
    n_traces = n_labels // len(ANNOTATORS)
    started = time.perf_counter()
    store.add_traces(trace_items(n_traces), batch_size=5000)
    print(f"built {n_traces:,} traces in {time.perf_counter() - started:.1f} s", flush=True)
    started = time.perf_counter()
    rng = random.Random(7)
    stamp = utcnow().replace(tzinfo=None).isoformat(" ")
    with store.engine.begin() as conn:
        raw = conn.connection.driver_connection
        rows = (
            (f"b{i:07d}", name, rng.randrange(-1, N_STEPS), stamp)
            for i in range(n_traces)
            for name in ANNOTATORS
        )
        raw.executemany(
            "INSERT INTO labels (trace_id, annotator, source, first_mistake, step_ratings, "
            "behavior_corrections, note, status, created_at, updated_at, version, format_version) "
            "VALUES (?, ?, 'human', ?, NULL, NULL, '', 'submitted', ?4, ?4, 1, 1)",
            rows,
        )
        raw.execute(
            "INSERT INTO label_history (label_id, at, annotator, old, new) "
            "SELECT id, updated_at, annotator, NULL, json_object('format_version', 1, 'id', id, "
            "'trace_id', trace_id, 'annotator', annotator, 'source', source, 'first_mistake', "
            "first_mistake, 'step_ratings', NULL, 'behavior_corrections', NULL, 'note', note, "
            "'status', status, 'created_at', created_at, 'updated_at', updated_at, 'version', "
            "version) FROM labels"
        )
        raw.execute(
            "UPDATE traces SET n_labels = 4, label_disagreement = (SELECT count(DISTINCT "
            "first_mistake) > 1 FROM labels WHERE labels.trace_id = traces.id)"
        )
        raw.execute("ANALYZE")
    print(
        f"built {n_labels:,} labels + history in {time.perf_counter() - started:.1f} s",
        flush=True,
    )


def percentiles(values: list[float]) -> str:
    """Return 'p50 … p95 … p99 … max …' of ``values`` (seconds) in ms."""
    cuts = statistics.quantiles(values, n=100, method="inclusive")
    return (
        f"p50 {cuts[49] * 1000:6.2f}  p95 {cuts[94] * 1000:6.2f}  p99 {cuts[98] * 1000:6.2f}  "
        f"max {max(values) * 1000:6.2f} ms  (n={len(values)})"
    )


def time_saves(store: Store, n_traces: int, n_saves: int) -> None:
    """Time ``n_saves`` record_label calls of mixed kinds and print their percentiles."""
    rng = random.Random(11)
    run = uuid.uuid4().hex[:6]  # new names on every run, so a kept store can be reused
    versions: dict[tuple[str, str], int] = {}
    timings: dict[str, list[float]] = {"insert": [], "update": []}
    for i in range(n_saves):
        trace_id = f"b{rng.randrange(n_traces):07d}"
        draft = rng.random() < 0.5
        if rng.random() < 0.3:
            name = f"new{run}-{i}"  # a first save: the editor loaded no label
            expected = None
        else:
            name = rng.choice(ANNOTATORS)
            expected = versions.get((name, trace_id))
            if expected is None:  # what the editor loaded before the save (not timed)
                expected = store.labels_for(trace_id, annotator=name)[0].version
        kind = "insert" if expected is None else "update"
        started = time.perf_counter()
        saved = record_label(
            store, Identity(name), trace_id, first_mistake=rng.randrange(-1, N_STEPS),
            step_ratings=[rng.choice((1, 0, -1, None)) for _ in range(N_STEPS)],
            draft=draft, expected_version=expected,
        )  # fmt: skip
        timings[kind].append(time.perf_counter() - started)
        versions[(name, trace_id)] = saved.version
    everything = timings["insert"] + timings["update"]
    print(f"record_label, all     {percentiles(everything)}")
    for kind, values in timings.items():
        print(f"record_label, {kind:7s} {percentiles(values)}")


def time_queue(store: Store, calls: int) -> None:
    """Print next_trace timings with open traces, then with only the last traces open."""
    admin = Identity("boss", "admin")
    save_project(store, admin, Project(DATASET, overlap=5))
    values = []
    run = uuid.uuid4().hex[:6]
    for i in range(calls):
        who = Identity(f"q{run}-{i}")
        started = time.perf_counter()
        trace_id = next_trace(store, who, DATASET)
        values.append(time.perf_counter() - started)
        assert trace_id is not None
        release_lease(store, who, trace_id)
    print(f"next_trace, traces open        {percentiles(values)}")
    # Overlap 4: every bulk trace is complete, so the queue walks past all of them to the
    # traces this bench's first saves left with fewer labels, or finds none.
    save_project(store, admin, Project(DATASET, overlap=4))
    values = []
    for i in range(max(calls // 10, 5)):
        started = time.perf_counter()
        next_trace(store, Identity(f"late{run}-{i}"), DATASET, now=utcnow() + timedelta(hours=1))
        values.append(time.perf_counter() - started)
    print(f"next_trace, nearly all complete {percentiles(values)}")


def main() -> None:
    """Build (or reuse) the store, then print the timings."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--labels", type=int, default=1_000_000)
    parser.add_argument("--saves", type=int, default=2000)
    parser.add_argument("--queue-calls", type=int, default=200)
    parser.add_argument("--db", type=Path, default=None, help="Store file (default: a temp dir).")
    parser.add_argument("--keep", action="store_true", help="Reuse --db when already built.")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = args.db or Path(tmp) / "labels.db"
        reuse = args.keep and path.exists()
        if path.exists() and not reuse:
            for suffix in ("", "-wal", "-shm"):
                Path(f"{path}{suffix}").unlink(missing_ok=True)
        with open_store(f"sqlite:///{path}") as store:
            if not reuse:
                build(store, args.labels)
            n_traces = args.labels // len(ANNOTATORS)
            with store.engine.connect() as conn:
                stored = conn.exec_driver_sql("SELECT count(*) FROM labels").scalar()
            print(f"store {path}: {stored:,} labels, {n_traces:,} traces")
            time_saves(store, n_traces, args.saves)
            time_queue(store, args.queue_calls)


if __name__ == "__main__":
    main()
