"""Time migration 0003 (recompute label_disagreement) on a big SQLite store.

Usage:
    .venv/bin/python bench/disagreement_migration_bench.py [DIR] [--traces N] [--overlap F]

Builds ``DIR/bench.db`` (default: a temp folder) with N trace rows made in bulk SQL: 40% carry
one person's label, a fraction F carry two people's step-rated labels (every other such trace
disagrees on one step's rating only), the rest none. Every flag is set to 0 (what a store of
revision 0002 holds), the store is put back at 0002, and the upgrade to head is timed. Prints the
traces read, the flags set and the seconds taken.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import sqlalchemy as sa  # noqa: E402
from alembic import command  # noqa: E402

from trace_store import TraceFilter, open_store  # noqa: E402
from trace_store.db import alembic_config, current_revision, upgrade_to_head  # noqa: E402


def build(url: str, n_traces: int, overlap: float) -> None:
    """Fill the store at ``url`` with ``n_traces`` rows and their labels (see the docstring)."""
    every = max(1, round(1 / overlap))
    with open_store(url) as store, store.engine.begin() as conn:
        sql = conn.exec_driver_sql
        sql(
            "WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM c WHERE i < ?) "
            "INSERT INTO traces (rid, id, dataset, n_steps, content_hash, preview, n_labels, "
            "label_disagreement, format_version, added_at) "
            "SELECT i, printf('t%08d', i), 'bench', 4, printf('%064d', i), '', "
            f"CASE WHEN i % {every} = 0 THEN 2 WHEN i % 5 < 2 THEN 1 ELSE 0 END, 0, 1, "
            "'2025-01-01 00:00:00' FROM c",
            (n_traces,),
        )
        label = (
            "INSERT INTO labels (trace_id, annotator, source, first_mistake, step_ratings, "
            "note, status, created_at, updated_at, version, format_version) "
            "SELECT id, ?, 'human', NULL, ?, '', 'submitted', added_at, added_at, 1, 1 "
            "FROM traces WHERE {where}"
        )
        sql(label.format(where="n_labels >= 1"), ("ann1", "[1,1,-1,null]"))
        second = f"n_labels = 2 AND (rid / {every}) % 2 = {{half}}"
        sql(label.format(where=second.format(half=1)), ("ann2", "[1,-1,-1,0]"))
        sql(label.format(where=second.format(half=0)), ("ann2", "[1,1,null,0]"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dir", nargs="?", type=Path)
    parser.add_argument("--traces", type=int, default=500_000)
    parser.add_argument("--overlap", type=float, default=0.05)
    args = parser.parse_args()
    folder = args.dir or Path(tempfile.mkdtemp(prefix="disagree-bench-"))
    folder.mkdir(parents=True, exist_ok=True)
    db = folder / "bench.db"
    db.unlink(missing_ok=True)
    url = f"sqlite:///{db}"
    t0 = time.perf_counter()
    build(url, args.traces, args.overlap)
    print(f"built {args.traces:,} traces in {time.perf_counter() - t0:.1f}s ({db})")
    with open_store(url) as store:
        with store.engine.begin() as conn:
            command.downgrade(alembic_config(conn), "0002")
            n_labels = conn.scalar(sa.text("SELECT count(*) FROM labels"))
            pairs = conn.scalar(sa.text("SELECT count(*) FROM traces WHERE n_labels = 2"))
        assert current_revision(store.engine) == "0002"
        t0 = time.perf_counter()
        upgrade_to_head(store.engine)
        took = time.perf_counter() - t0
        flagged = store.count_traces(TraceFilter(label_state="disagreement"))
    print(
        f"upgrade 0002 -> head: {took:.2f}s for {n_labels:,} labels; {pairs:,} traces with two "
        f"labels read, {flagged:,} flagged (expected {pairs // 2 + pairs % 2:,})"
    )


if __name__ == "__main__":
    main()
