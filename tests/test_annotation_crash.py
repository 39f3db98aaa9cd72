"""kill -9 a label writer at random moments, 50 times: no submitted label is ever lost.

The writer logs each save's intent before it and the store's acknowledgement after it. After
each kill the store must hold exactly the acknowledged state of every label, except that the
one save in flight may have landed whole (never half); at the end the store passes its
integrity check and every label's history is complete.
"""

from __future__ import annotations

import os
import random
import signal
import time
from pathlib import Path
from typing import Any

import orjson

from tests.annotation_workers import FORK, crash_writer, history_problems
from tests.store_samples import numbered
from trace_store import open_store

KILLS = 50
TRACES = 8
WRITER = "crash"


def _state(label: Any) -> dict[str, Any] | None:
    if label is None:
        return None
    return {"version": label.version, "status": label.status, "first_mistake": label.first_mistake}


def _landed(intent: dict[str, Any]) -> dict[str, Any]:
    """Return the state a label has if the in-flight save ``intent`` committed."""
    return {
        "version": (intent["expected"] or 0) + 1,
        "status": "draft" if intent["draft"] else "submitted",
        "first_mistake": intent["first_mistake"],
    }


def _replay(log: Path, acked: dict[str, dict[str, Any]]) -> tuple[dict[str, Any] | None, int]:
    """Return (the save in flight when the writer died or None, acks read); update ``acked``."""
    pending = None
    lines = log.read_bytes().splitlines() if log.exists() else []
    for line in lines:
        entry = orjson.loads(line)
        if "intent" in entry:
            pending = entry["intent"]
        else:
            ack = entry["ack"]
            acked[ack.pop("trace_id")] = ack
            pending = None
    return pending, sum(1 for line in lines if line.startswith(b'{"ack"'))


def test_killed_writers_lose_no_acknowledged_label(store_url: str, tmp_path: Path):
    with open_store(store_url) as store:
        store.add_traces(numbered(TRACES))
    trace_ids = [f"t{i:04d}" for i in range(TRACES)]
    rng = random.Random(20250105)
    acked: dict[str, dict[str, Any]] = {}
    saves = landed_in_flight = 0
    for kill in range(KILLS):
        log = tmp_path / f"kill{kill:02d}.jsonl"
        proc = FORK.Process(
            target=crash_writer, args=(store_url, WRITER, trace_ids, kill, str(log))
        )
        proc.start()
        time.sleep(rng.uniform(0.05, 0.4))
        os.kill(proc.pid, signal.SIGKILL)
        proc.join()
        assert proc.exitcode == -signal.SIGKILL, "the writer stopped before it was killed"
        before = len(acked)
        pending, n_acks = _replay(log, acked)
        saves += n_acks
        with open_store(store_url) as store:
            stored = {t: _state(next(iter(store.labels_for(t, annotator=WRITER)), None))
                      for t in trace_ids}  # fmt: skip
        for trace_id in trace_ids:
            if (
                pending
                and pending["trace_id"] == trace_id
                and stored[trace_id] != acked.get(trace_id)
            ):
                assert stored[trace_id] == _landed(pending), f"kill {kill}: half a save"
                acked[trace_id] = stored[trace_id]
                landed_in_flight += 1
            assert stored[trace_id] == acked.get(trace_id), f"kill {kill}: {trace_id} differs"
        assert len(acked) >= before

    assert saves > KILLS  # the writers got real work done between kills
    submitted = [t for t, s in acked.items() if s["status"] == "submitted"]
    assert submitted
    with open_store(store_url) as store:
        assert store.integrity_errors() == []
        assert history_problems(store) == []
        for trace_id in submitted:
            (label,) = store.labels_for(trace_id, annotator=WRITER)
            assert label.status == "submitted"
    print(f"{saves} acknowledged saves, {landed_in_flight} in-flight saves landed whole")
