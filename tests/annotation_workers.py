"""Processes that write labels through the annotation service, for the reliability tests.

Workers are forked (``multiprocessing`` "fork" context) so they start without re-importing
anything; each opens its own store connection after the fork. A writer reports what the store
acknowledged, so the parent can check that the store holds exactly that afterwards.
"""

from __future__ import annotations

import multiprocessing
import os
import random
import traceback
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import orjson
import sqlalchemy as sa

from trace_store import open_store
from trace_store.annotation import (
    Identity,
    LabelConflict,
    next_trace,
    record_label,
    update_label_by_id,
)
from trace_store.orm import label_history, labels
from trace_store.store import Store

FORK = multiprocessing.get_context("fork")


def run_processes(
    target: Callable[..., None], args_list: Sequence[tuple], timeout: float = 300
) -> list[int | None]:
    """Return the exit codes of one forked process per args tuple, after all of them ended."""
    procs = [FORK.Process(target=target, args=args) for args in args_list]
    for proc in procs:
        proc.start()
    for proc in procs:
        proc.join(timeout)
    for proc in procs:
        if proc.is_alive():
            proc.kill()
            proc.join()
    return [proc.exitcode for proc in procs]


def write_labels(
    url: str,
    annotator: str,
    trace_ids: list[str],
    n_steps: int,
    n_writes: int,
    seed: int,
    out: str,
) -> None:
    """Write ``n_writes`` labels as ``annotator`` and dump what was acknowledged to ``out``.

    The mix: first saves as drafts or submitted, later saves through record_label or
    update_label_by_id (edits), drafts turned into submitted labels and back, and about one in
    twenty saves from a stale version, which must raise LabelConflict and change nothing.
    """
    result: dict[str, Any] = {"labels": {}, "stale_refused": 0, "stale_accepted": 0, "errors": []}
    try:
        with open_store(url) as store:
            who = Identity(annotator)
            rng = random.Random(seed)
            state: dict[str, dict[str, Any]] = {}
            for _ in range(n_writes):
                trace_id = rng.choice(trace_ids)
                current = state.get(trace_id)
                mistake = rng.randrange(-1, n_steps)
                draft = rng.random() < 0.4
                if current is not None and current["version"] > 1 and rng.random() < 0.05:
                    try:
                        record_label(
                            store, who, trace_id, first_mistake=mistake,
                            expected_version=current["version"] - 1,
                        )  # fmt: skip
                        result["stale_accepted"] += 1
                    except LabelConflict:
                        result["stale_refused"] += 1
                    continue
                if current is not None and rng.random() < 0.3:
                    saved = update_label_by_id(
                        store, who, current["id"], expected_version=current["version"],
                        first_mistake=mistake, draft=draft,
                    )  # fmt: skip
                else:
                    saved = record_label(
                        store, who, trace_id, first_mistake=mistake, draft=draft,
                        expected_version=None if current is None else current["version"],
                    )  # fmt: skip
                state[trace_id] = {
                    "id": saved.id,
                    "version": saved.version,
                    "status": saved.status,
                    "first_mistake": saved.first_mistake,
                }
            result["labels"] = state
    except Exception:  # noqa: BLE001 - reported to the parent, which fails the test
        result["errors"].append(traceback.format_exc())
    Path(out).write_bytes(orjson.dumps(result))


def stored_labels(store: Store) -> dict[tuple[str, str], dict[str, Any]]:
    """Return every human label as {(annotator, trace_id): {id, version, status, first_mistake}}."""
    query = sa.select(
        labels.c.id,
        labels.c.annotator,
        labels.c.trace_id,
        labels.c.version,
        labels.c.status,
        labels.c.first_mistake,
    ).where(labels.c.source == "human")
    with store.engine.connect() as conn:
        rows = conn.execute(query).mappings().all()
    found: dict[tuple[str, str], dict[str, Any]] = {}
    for row in rows:
        key = (row["annotator"], row["trace_id"])
        assert key not in found, f"duplicate label for {key}"
        found[key] = {k: row[k] for k in ("id", "version", "status", "first_mistake")}
    return found


def history_problems(store: Store) -> list[str]:
    """Return breaks in label history: each label must have versions 1..n, chained old -> new."""
    query = sa.select(
        label_history.c.label_id,
        label_history.c.annotator,
        label_history.c.old,
        label_history.c.new,
    ).order_by(label_history.c.label_id, label_history.c.id)
    with store.engine.connect() as conn:
        entries = conn.execute(query).all()
        # Labels a dataset shipped are imported, not saved, so only people's labels have history.
        versions = dict(
            conn.execute(
                sa.select(labels.c.id, labels.c.version).where(labels.c.source != "dataset")
            ).all()
        )
    chains: dict[int, list[tuple[str, Any, Any]]] = {}
    for label_id, actor, old, new in entries:
        chains.setdefault(label_id, []).append(
            (actor, None if old is None else orjson.loads(old), orjson.loads(new))
        )
    problems = []
    for label_id, version in versions.items():
        chain = chains.get(label_id, [])
        if [new["version"] for _, _, new in chain] != list(range(1, version + 1)):
            problems.append(f"label {label_id}: history versions do not run 1..{version}")
            continue
        previous = None
        for actor, old, new in chain:
            if old != previous:
                problems.append(f"label {label_id} v{new['version']}: old is not the last new")
            if actor != new["annotator"]:
                problems.append(f"label {label_id} v{new['version']}: saved by {actor!r}")
            previous = new
    return problems


def read_results(folder: Path) -> dict[str, dict[str, Any]]:
    """Return each worker's result by annotator (file stem)."""
    return {p.stem: orjson.loads(p.read_bytes()) for p in sorted(folder.glob("*.json"))}


def writes_per_process(default: int) -> int:
    """Return $THOUGHTSCOPE_LABEL_WRITES (a quick local run) or ``default``."""
    return int(os.environ.get("THOUGHTSCOPE_LABEL_WRITES", default))


def crash_writer(url: str, annotator: str, trace_ids: list[str], seed: int, log: str) -> None:
    """Write labels forever, logging each save's intent before it and its ack after it.

    Meant to be killed (SIGKILL) at a random moment: the log then says which saves the store
    acknowledged and which one, at most, was in flight. Lines are JSON objects written with one
    os.write each, so a kill never leaves half a line.
    """
    fd = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    rng = random.Random(seed)
    with open_store(url) as store:
        who = Identity(annotator)
        versions = {}
        for trace_id in trace_ids:
            mine = store.labels_for(trace_id, annotator=annotator)
            versions[trace_id] = mine[0].version if mine else None
        while True:
            if rng.random() < 0.25:
                trace_id = next_trace(store, who, "demo") or rng.choice(trace_ids)
            else:
                trace_id = rng.choice(trace_ids)
            expected = versions[trace_id]
            change = {"first_mistake": rng.randrange(-1, 2), "draft": rng.random() < 0.4}
            intent = {"trace_id": trace_id, "expected": expected, **change}
            os.write(fd, orjson.dumps({"intent": intent}) + b"\n")
            saved = record_label(store, who, trace_id, expected_version=expected, **change)
            versions[trace_id] = saved.version
            ack = {"trace_id": trace_id, "version": saved.version, "status": saved.status,
                   "first_mistake": saved.first_mistake}  # fmt: skip
            os.write(fd, orjson.dumps({"ack": ack}) + b"\n")


def tab_saves(url: str, annotator: str, tab: str, trace_ids: list[str], out: str) -> None:
    """Act as one browser tab of ``annotator``: a first save, then an edit from version 1.

    Two of these run at once for the same annotator; for each trace the outcome of each save
    ('saved' or 'conflict') is dumped to ``out``.
    """
    outcomes: dict[str, list[str]] = {}
    with open_store(url) as store:
        who = Identity(annotator)
        for trace_id in trace_ids:
            results = []
            for expected in (None, 1):
                try:
                    record_label(
                        store, who, trace_id, first_mistake=0, note=tab, expected_version=expected
                    )
                    results.append("saved")
                except LabelConflict:
                    results.append("conflict")
            outcomes[trace_id] = results
    Path(out).write_bytes(orjson.dumps(outcomes))
