"""The labelling queue on SQLite and PostgreSQL: leases, overlap, expiry, progress, races."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import orjson
import pytest

from tests.annotation_workers import run_processes
from tests.store_samples import numbered
from trace_store import open_store
from trace_store.annotation import (
    Identity,
    NotAllowed,
    Project,
    adjudicate,
    next_trace,
    progress,
    record_label,
    release_lease,
    save_project,
)
from trace_store.annotation_queue import leases_of
from trace_store.schema import utcnow

ADMIN = Identity("boss", "admin")
ANN, BOB, CY = Identity("ann"), Identity("bob"), Identity("cy")


@pytest.fixture
def queue(store):
    """Return a store with traces t0000..t0004 in dataset 'demo' and 2 in 'other'."""
    store.add_traces(numbered(5))
    store.add_traces(numbered(2, dataset="other", prefix="o"))
    return store


def test_overlap_one_gives_each_annotator_a_different_trace_in_import_order(queue):
    assert next_trace(queue, ANN, "demo") == "t0000"
    assert next_trace(queue, BOB, "demo") == "t0001"
    assert next_trace(queue, CY, "demo") == "t0002"
    # Asking again gives back the trace one holds, not a new one.
    assert next_trace(queue, ANN, "demo") == "t0000"
    assert [(x["trace_id"], x["annotator"]) for x in leases_of(queue, "demo")] == [
        ("t0000", "ann"), ("t0001", "bob"), ("t0002", "cy"),
    ]  # fmt: skip
    assert next_trace(queue, ANN, "other") == "o0000"


def test_submitting_releases_the_lease_and_moves_on(queue):
    trace = next_trace(queue, ANN, "demo")
    record_label(queue, ANN, trace, first_mistake=0, draft=True)
    assert next_trace(queue, ANN, "demo") == trace  # a draft keeps the lease
    record_label(queue, ANN, trace, first_mistake=0, expected_version=1)
    assert leases_of(queue, "demo") == []
    assert next_trace(queue, ANN, "demo") == "t0001"
    # Overlap 1 is met by ann's label: bob is not sent to t0000.
    assert next_trace(queue, BOB, "demo") == "t0002"


def test_skipped_traces_are_passed_over_even_with_a_draft(queue):
    first = next_trace(queue, ANN, "demo")
    record_label(queue, ANN, first, first_mistake=0, draft=True)
    release_lease(queue, ANN, first)
    assert next_trace(queue, ANN, "demo") == first  # own draft first...
    release_lease(queue, ANN, first)
    assert next_trace(queue, ANN, "demo", skip={first}) == "t0001"  # ...unless skipped
    # A skipped trace is passed over even while its lease is held.
    assert next_trace(queue, ANN, "demo", skip={first, "t0001"}) == "t0002"
    every = {f"t000{i}" for i in range(5)}
    for trace in every:
        release_lease(queue, ANN, trace)
    assert next_trace(queue, ANN, "demo", skip=every) is None


def test_own_draft_comes_first_even_after_the_lease_expired(queue):
    now = utcnow()
    record_label(queue, ANN, "t0003", first_mistake=1, draft=True)
    assert next_trace(queue, ANN, "demo", now=now) == "t0003"
    later = now + timedelta(hours=2)
    assert next_trace(queue, ANN, "demo", now=later) == "t0003"
    assert [x["expires_at"] > later for x in leases_of(queue, "demo", now=later)] == [True]


def test_an_expired_lease_frees_the_slot(queue):
    save_project(queue, ADMIN, Project("demo", lease_seconds=60))
    now = utcnow()
    assert next_trace(queue, ANN, "demo", now=now) == "t0000"
    assert next_trace(queue, BOB, "demo", now=now + timedelta(seconds=59)) == "t0001"
    # ann's lease ran out: cy gets t0000; ann asking again is sent elsewhere, and bob's holds.
    assert next_trace(queue, CY, "demo", now=now + timedelta(seconds=61)) == "t0000"
    assert next_trace(queue, ANN, "demo", now=now + timedelta(seconds=62)) == "t0002"


def test_release_frees_the_slot_at_once(queue):
    assert next_trace(queue, ANN, "demo") == "t0000"
    release_lease(queue, ANN, "t0000")
    release_lease(queue, ANN, "t0000")  # releasing twice is harmless
    assert next_trace(queue, BOB, "demo") == "t0000"


def test_overlap_two_gives_a_trace_to_two_people_and_not_a_third(queue):
    save_project(queue, ADMIN, Project("demo", overlap=2))
    assert next_trace(queue, ANN, "demo") == "t0000"
    assert next_trace(queue, BOB, "demo") == "t0000"
    assert next_trace(queue, CY, "demo") == "t0001"
    record_label(queue, ANN, "t0000", first_mistake=-1)
    record_label(queue, BOB, "t0000", first_mistake=-1)
    # Two submitted labels fill t0000 for good; a submitter is never sent back to it.
    assert next_trace(queue, Identity("dee"), "demo") == "t0001"
    assert next_trace(queue, ANN, "demo") == "t0002"


def test_queue_is_empty_when_every_trace_has_its_labels(queue):
    for trace in ("o0000", "o0001"):
        assert next_trace(queue, ANN, "other") == trace
        record_label(queue, ANN, trace, first_mistake=-1)
    assert next_trace(queue, ANN, "other") is None
    assert next_trace(queue, BOB, "other") is None
    assert next_trace(queue, BOB, "no-such-dataset") is None


def test_the_queue_needs_a_logged_in_user(queue):
    nobody = Identity("", authenticated=False)
    with pytest.raises(NotAllowed, match="nobody is logged in"):
        next_trace(queue, nobody, "demo")
    with pytest.raises(NotAllowed):
        release_lease(queue, nobody, "t0000")
    assert leases_of(queue, "demo") == []


def test_progress_counts_mine_and_the_teams(queue):
    save_project(queue, ADMIN, Project("demo", overlap=2))
    record_label(queue, ANN, "t0000", first_mistake=0)
    record_label(queue, BOB, "t0000", first_mistake=1)
    record_label(queue, ANN, "t0001", first_mistake=0)
    record_label(queue, ANN, "t0002", first_mistake=0, draft=True)
    assert next_trace(queue, CY, "demo") == "t0001"
    mine = progress(queue, ANN, "demo")
    assert (mine.total, mine.mine_submitted, mine.mine_drafts) == (5, 2, 1)
    # complete: t0000 (2 labels); in progress: t0001 (1 label + cy's lease), t0002 (a draft).
    assert (mine.complete, mine.in_progress) == (1, 2)
    cy = progress(queue, CY, "demo")
    assert (cy.mine_submitted, cy.mine_drafts, cy.complete) == (0, 0, 1)
    later = progress(queue, CY, "demo", now=utcnow() + timedelta(days=1))
    assert later.in_progress == 2  # cy's lease expired, but t0001 has a label anyway


# ---------------------------------------------------------------------------------- races


def _take_and_label(url: str, name: str, dataset: str, out: str) -> None:
    """Take traces from the queue and submit them until it is empty; dump the traces taken."""
    taken = []
    with open_store(url) as store:
        who = Identity(name)
        while (trace := next_trace(store, who, dataset)) is not None:
            taken.append(trace)
            record_label(store, who, trace, first_mistake=-1)
    Path(out).write_bytes(orjson.dumps(taken))


@pytest.mark.parametrize("overlap", [1, 2])
def test_concurrent_queues_never_share_a_slot(store_url, tmp_path, overlap):
    with open_store(store_url) as store:
        store.add_traces(numbered(60))
        save_project(store, ADMIN, Project("demo", overlap=overlap))
    names = [f"ann{i}" for i in range(4)]
    args = [(store_url, n, "demo", str(tmp_path / f"{n}.json")) for n in names]
    assert run_processes(_take_and_label, args) == [0] * len(names)
    taken = {n: orjson.loads((tmp_path / f"{n}.json").read_bytes()) for n in names}
    for name, traces in taken.items():
        assert len(traces) == len(set(traces)), f"{name} got a trace twice"
    everyone = [t for traces in taken.values() for t in traces]
    expected = [f"t{i:04d}" for i in range(60)]
    # Every trace handed out to exactly `overlap` annotators, no more, none skipped.
    assert sorted(everyone) == sorted(expected * overlap)
    with open_store(store_url) as store:
        counts = {row.id: row.n_labels for row in store.list_traces(limit=100)}
        assert counts == dict.fromkeys(expected, overlap)
        assert store.integrity_errors() == []


def _hold_leases(url: str, name: str, count: int, out: str) -> None:
    """Take up to ``count`` leases without labelling anything; dump the traces leased."""
    held = []
    with open_store(url) as store:
        for i in range(count):
            # A fresh identity per request: the same one would be handed its own lease back.
            trace = next_trace(store, Identity(f"{name}.{i}"), "demo")
            if trace is not None:
                held.append(trace)
    Path(out).write_bytes(orjson.dumps(held))


def test_concurrent_lease_takers_get_disjoint_traces(store_url, tmp_path):
    with open_store(store_url) as store:
        store.add_traces(numbered(40))
    names = [f"w{i}" for i in range(6)]
    args = [(store_url, n, 10, str(tmp_path / f"{n}.json")) for n in names]
    assert run_processes(_hold_leases, args) == [0] * len(names)
    held = [t for n in names for t in orjson.loads((tmp_path / f"{n}.json").read_bytes())]
    # 40 slots, 60 requests: every trace leased exactly once, 20 requests found nothing.
    assert sorted(held) == [f"t{i:04d}" for i in range(40)]


def test_an_adjudicated_trace_needs_no_more_labels(queue):
    save_project(queue, ADMIN, Project("demo", overlap=3))
    record_label(queue, ANN, "t0000", first_mistake=0)
    record_label(queue, BOB, "t0000", first_mistake=1)
    adjudicate(queue, Identity("rita", "reviewer"), "t0000", first_mistake=1)
    assert next_trace(queue, CY, "demo") == "t0001"
    team = progress(queue, CY, "demo")
    assert (team.complete, team.in_progress) == (1, 1)  # t0000 settled; cy holds t0001
