"""Agreement statistics against hand-computed values and independent formulas, and the
degenerate cases (one annotator, no overlap, constant ratings) answered with reasons, not NaN."""

from __future__ import annotations

import math
import subprocess
import sys
from collections import Counter
from itertools import permutations
from pathlib import Path

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from analyzers.agreement import agreement_report, load_report
from analyzers.agreement_stats import (
    NO_MISTAKE_BUCKET,
    cohen_kappa,
    confusion_matrix,
    effective_mistake,
    krippendorff_alpha,
    mistake_buckets,
    step_judgements,
)
from tests.agreement_samples import DATASET, HAND_DATASET, HAND_LABELS, record_hand_labels, who
from trace_store import TraceFilter
from trace_store.annotation import adjudicate, record_label
from trace_store.codec import label_disagreement
from trace_store.schema import Label

N_STEPS = {tid: 3 for tid in HAND_LABELS}
ROOT = Path(__file__).resolve().parents[1]


def human(tid: str, name: str, mistake: int | None = None, **fields) -> Label:
    return Label(trace_id=tid, annotator=name, first_mistake=mistake, **fields)


def hand_labels() -> list[Label]:
    labels = [human(t, a, m) for t, by in HAND_LABELS.items() for a, m in by.items()]
    labels += [
        Label(trace_id=t, annotator=f"dataset:{DATASET}", source="dataset", first_mistake=m)
        for t, m in HAND_DATASET.items()
    ]
    return labels


# ------------------------------------------------------------------ independent formulas


def kappa_by_formula(a: list[int], b: list[int]) -> float:
    """Cohen's kappa from its definition: (p_o - p_e) / (1 - p_e) with marginal products."""
    n = len(a)
    p_o = sum(x == y for x, y in zip(a, b, strict=True)) / n
    ca, cb = Counter(a), Counter(b)
    p_e = sum(ca[v] * cb[v] for v in set(a) | set(b)) / (n * n)
    return (p_o - p_e) / (1 - p_e)


def alpha_by_formula(units: list[list[int]], level: str) -> float:
    """Krippendorff's alpha from the coincidence matrix (Krippendorff 2011, section C)."""
    units = [u for u in units if len(u) >= 2]
    values = [-1, 0, 1]
    o = {(c, k): 0.0 for c in values for k in values}
    for u in units:
        for i, j in permutations(range(len(u)), 2):
            o[(u[i], u[j])] += 1 / (len(u) - 1)
    n_c = {c: sum(o[(c, k)] for k in values) for c in values}
    n = sum(n_c.values())

    def delta(c: int, k: int) -> float:
        if level == "nominal":
            return 0.0 if c == k else 1.0
        lo, hi = min(c, k), max(c, k)
        between = sum(n_c[g] for g in values if lo <= g <= hi)
        return (between - (n_c[c] + n_c[k]) / 2) ** 2

    observed = sum(o[(c, k)] * delta(c, k) for c in values for k in values)
    expected = sum(n_c[c] * n_c[k] * delta(c, k) for c in values for k in values) / (n - 1)
    return 1 - observed / expected


def nan_paths(value, path: str = ""):
    """Yield the paths of NaN floats in nested dicts and lists."""
    if isinstance(value, float) and math.isnan(value):
        yield path
    elif isinstance(value, dict):
        for k, v in value.items():
            yield from nan_paths(v, f"{path}.{k}")
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from nan_paths(v, f"{path}[{i}]")


# ------------------------------------------------------------------------- hand-computed


def test_hand_table_figures() -> None:
    """The four-trace table of tests/agreement_samples.py, worked out by hand.

    alice/bob step judgements (derived from first mistakes, 3 steps each): t1 (1,1)(-1,-1);
    t2 (1,-1); t3 (1,1)(1,1)(-1,1); t4 (-1,-1): 7 steps, 5 agree; both rate +1 four times and
    -1 three times, so p_e = (16 + 9) / 49 and kappa = (5/7 - 25/49) / (24/49) = 10/24.
    Alpha's pairable units give coincidences o(+1,+1)=6, o(-1,-1)=3, o(+1,-1)=o(-1,+1)=3,
    n = 15: alpha = 1 - 14 * 6 / (2 * 9 * 6) = 2/9.
    """
    report = agreement_report(hand_labels(), N_STEPS, dataset=DATASET)
    assert report.n_traces == 4 and report.n_traces_overlap == 4
    assert [a.name for a in report.annotators] == ["alice", "bob", "carol"]
    # pooled: t1 ab same; t2, t3 differ; t4 ab same, ac and bc differ -> 2 of 6
    assert report.first_mistake_exact.value == pytest.approx(2 / 6)
    assert report.first_mistake_exact.n == 6
    assert report.n_unanimous == 1
    ab = report.pairs[0]
    assert (ab.a, ab.b, ab.n_shared, ab.n_agree) == ("alice", "bob", 4, 2)
    assert ab.kappa.value == pytest.approx(10 / 24) and ab.kappa.n == 7
    assert report.alpha_nominal.value == pytest.approx(2 / 9)
    assert report.alpha_nominal.n == 15
    # two values only: the ordinal level gives the nominal alpha
    assert report.alpha_ordinal.value == pytest.approx(2 / 9)
    ref = {r.annotator: r for r in report.reference}
    # alice vs dataset: same on t1, t3, t4; on t2 she said no mistake, the dataset step 0
    assert (ref["alice"].n_shared, ref["alice"].n_agree) == (4, 3)
    assert (ref["alice"].n_earlier, ref["alice"].n_later) == (0, 1)
    # 7 shared steps, 6 agree; alice +1x4 -1x3, dataset +1x3 -1x4: (6/7 - 24/49)/(25/49)
    assert ref["alice"].kappa.value == pytest.approx(18 / 25)
    assert ref["alice"].reference == f"dataset:{DATASET}"
    assert [d.trace_id for d in report.disagreements] == ["t2", "t3", "t4"]
    assert report.disagreements[2].mistakes == {"alice": 0, "bob": 0, "carol": 2}
    assert report.disagreements[0].reference == 0


def test_hand_confusion_matrices() -> None:
    report = agreement_report(hand_labels(), N_STEPS, dataset=DATASET)
    assert report.confusion_axis == ["0", "1", "2", NO_MISTAKE_BUCKET]
    # earlier-first pooled pairs: (1,1) (0,none) (2,none) (0,0) (0,2) (0,2)
    assert report.confusion == [
        [1, 0, 2, 1],
        [0, 1, 0, 0],
        [0, 0, 0, 1],
        [0, 0, 0, 0],
    ]
    ab = report.pairs[0]  # rows alice, columns bob
    assert ab.confusion == [
        [1, 0, 0, 0],
        [0, 1, 0, 0],
        [0, 0, 0, 1],
        [1, 0, 0, 0],
    ]


def test_ratings_with_neutral_steps_nominal_and_ordinal_differ() -> None:
    """Step ratings (with 0 and unrated steps) are used as given; ordinal alpha weighs -1 vs +1
    more than 0 vs +1, so the two levels differ; both match the independent formula."""
    labels = [
        human("t1", "alice", step_ratings=[1, 1, 0, -1]),
        human("t1", "bob", step_ratings=[1, 0, 0, -1]),
        human("t1", "carol", step_ratings=[1, 1, None, 1]),
        human("t2", "alice", step_ratings=[1, -1, None, None]),
        human("t2", "bob", 2),  # derived: +1, +1, -1, unjudged
    ]
    report = agreement_report(labels, {"t1": 4, "t2": 4})
    units = [[1, 1, 1], [1, 0, 1], [0, 0], [-1, -1, 1], [1, 1], [-1, 1]]
    assert report.alpha_nominal.value == pytest.approx(alpha_by_formula(units, "nominal"))
    assert report.alpha_ordinal.value == pytest.approx(alpha_by_formula(units, "ordinal"))
    assert report.alpha_nominal.value != pytest.approx(report.alpha_ordinal.value)
    ab = next(p for p in report.pairs if (p.a, p.b) == ("alice", "bob"))
    a = [1, 1, 0, -1, 1, -1]
    b = [1, 0, 0, -1, 1, 1]
    assert ab.kappa.value == pytest.approx(kappa_by_formula(a, b))
    # effective first mistakes: alice t1 step 3, t2 step 1; bob t1 step 3, t2 step 2
    assert (ab.n_shared, ab.n_agree) == (2, 1)
    carol = next(a for a in report.annotators if a.name == "carol")
    assert carol.n_first_mistake == 0  # no -1 and an unrated step: no verdict
    assert carol.n_step_ratings == 1


# ---------------------------------------------------------------------- building blocks


def test_step_judgements_derivation() -> None:
    assert step_judgements(human("t", "a", 2), 5) == [1, 1, -1, None, None]
    assert step_judgements(human("t", "a", -1), 3) == [1, 1, 1]
    assert step_judgements(human("t", "a", 0), 1) == [-1]
    assert step_judgements(human("t", "a", 7), 3) is None  # past the end
    assert step_judgements(human("t", "a", 1), None) is None  # length unknown
    assert step_judgements(human("t", "a"), 3) is None  # nothing judged
    rated = human("t", "a", 0, step_ratings=[1, 0, None])  # ratings win over the mistake
    assert step_judgements(rated, 3) == [1, 0, None]
    blank = human("t", "a", 1, step_ratings=[None, None, None])  # no rating given: derive
    assert step_judgements(blank, 3) == [1, -1, None]


def test_effective_mistake_from_ratings() -> None:
    assert effective_mistake(human("t", "a", step_ratings=[1, 0, -1, -1])) == 2
    assert effective_mistake(human("t", "a", step_ratings=[1, 0, 1])) == -1
    assert effective_mistake(human("t", "a", step_ratings=[1, None, 1])) is None
    assert effective_mistake(human("t", "a", 1, step_ratings=[-1, 1])) == 1


def test_mistake_buckets_group_long_traces() -> None:
    axis = mistake_buckets([0, 40, -1], max_entries=16)
    assert axis.width == 3 and axis.n_step_buckets == 14
    assert axis.names[0] == "0–2" and axis.names[-2] == "39–41"
    assert axis.names[-1] == NO_MISTAKE_BUCKET and len(axis.names) == 15
    assert (axis.index(40), axis.index(2), axis.index(3), axis.index(-1)) == (13, 0, 1, 14)
    short = mistake_buckets([4])
    assert short.width == 1 and short.names == ["0", "1", "2", "3", "4", NO_MISTAKE_BUCKET]
    assert mistake_buckets([-1]).names == ["0", NO_MISTAKE_BUCKET]
    assert confusion_matrix([(40, 2), (2, 40)], axis, ordered=True)[0][13] == 2


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.lists(st.sampled_from([-1, 0, 1]), min_size=2, max_size=4), min_size=1, max_size=25
    ),
    st.sampled_from(["nominal", "ordinal"]),
)
def test_alpha_matches_the_coincidence_formula(units: list[list[int]], level: str) -> None:
    stat = krippendorff_alpha(units, level)  # type: ignore[arg-type]
    if len({v for u in units for v in u}) == 1:
        assert stat.value is None and "no variation" in (stat.reason or "")
        return
    assert stat.value == pytest.approx(alpha_by_formula(units, level), abs=1e-9)
    assert stat.n == sum(len(u) for u in units)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.sampled_from([-1, 0, 1]), st.sampled_from([-1, 0, 1])), min_size=1))
def test_kappa_matches_the_definition(pairs: list[tuple[int, int]]) -> None:
    a = [x for x, _ in pairs]
    b = [y for _, y in pairs]
    stat = cohen_kappa(a, b)
    if len(set(a) | set(b)) == 1:
        assert stat.value is None and "chance agreement is 1" in (stat.reason or "")
    else:
        assert stat.value == pytest.approx(kappa_by_formula(a, b), abs=1e-9)


# --------------------------------------------------------------------- degenerate cases


def test_one_annotator_gives_reasons_not_numbers() -> None:
    labels = [human("t1", "alice", 1), human("t2", "alice", -1)]
    report = agreement_report(labels, {"t1": 3, "t2": 3})
    assert report.pairs == [] and report.n_traces_overlap == 0
    for stat in (report.first_mistake_exact, report.alpha_nominal, report.alpha_ordinal):
        assert stat.value is None and "only 'alice'" in (stat.reason or "")
    assert report.disagreements == []


def test_no_overlap_gives_reasons() -> None:
    labels = [human("t1", "alice", 1), human("t2", "bob", -1)]
    report = agreement_report(labels, {"t1": 3, "t2": 3})
    (pair,) = report.pairs
    assert pair.n_shared == 0 and pair.exact_match.value is None
    assert "no trace in common" in (pair.exact_match.reason or "")
    assert pair.kappa.value is None and pair.kappa.reason == "no step was judged by both"
    assert report.alpha_nominal.value is None
    assert "two or more annotators" in (report.alpha_nominal.reason or "")
    assert report.first_mistake_exact.value is None


def test_constant_ratings_make_kappa_and_alpha_undefined() -> None:
    labels = [human(t, name, -1) for t in ("t1", "t2") for name in ("alice", "bob")]
    report = agreement_report(labels, {"t1": 2, "t2": 3})
    assert report.first_mistake_exact.value == 1.0  # exact match is still defined
    kappa = report.pairs[0].kappa
    assert kappa.value is None and kappa.n == 5
    assert "chance agreement is 1" in (kappa.reason or "")
    assert report.alpha_nominal.value is None and "no variation" in (
        report.alpha_nominal.reason or ""
    )
    assert not list(nan_paths(report.to_dict()))
    assert orjson.loads(orjson.dumps(report.to_dict()))["pairs"][0]["kappa"]["value"] is None


def test_drafts_other_sources_and_unknown_lengths_are_left_out_with_notes() -> None:
    labels = [
        human("t1", "alice", 1),
        human("t1", "bob", 2, status="draft"),
        Label(trace_id="t1", annotator="adjudicated", source="adjudicated", first_mistake=1),
        human("t9", "alice", 0),
        human("t9", "bob", 0),
    ]
    report = agreement_report(labels, {"t1": 3})
    assert [a.name for a in report.annotators] == ["alice", "bob"]
    assert any("1 draft label" in n for n in report.notes)
    assert any("unknown length" in n for n in report.notes)
    # t9's steps are unknown, so kappa has nothing; the first mistakes still compare
    assert report.pairs[0].n_shared == 1 and report.pairs[0].kappa.n == 0
    assert report.n_adjudicated == 1


def test_disagreements_follow_the_adjudicate_queue_rule() -> None:
    """A trace disagrees when people differ on the first mistake, a step's rating or a step's
    behaviours (trace_store.codec.label_disagreement), and the report counts each kind."""
    labels = [
        # r: same first mistake, step 2 rated differently
        human("r", "alice", 1, step_ratings=[1, -1, 0]),
        human("r", "bob", 1, step_ratings=[1, -1, 1]),
        # b: same first mistake, step 0's behaviours differ, step 1's agree
        human("b", "alice", -1, behavior_corrections={0: ["verification"], 1: []}),
        human("b", "bob", -1, behavior_corrections={0: [], 1: []}),
        # m: different first mistakes and step 0 rated differently
        human("m", "alice", 0, step_ratings=[-1, None, None]),
        human("m", "bob", 2, step_ratings=[1, 1, -1]),
        # d: ratings imply different first mistakes but no step is rated by both
        human("d", "alice", None, step_ratings=[1, -1, None]),
        human("d", "bob", None, step_ratings=[None, None, -1]),
        # s: full agreement, and a draft that would disagree does not count
        human("s", "alice", 2),
        human("s", "bob", 2),
        human("s", "carol", 0, status="draft"),
        Label(trace_id="s", annotator="adjudicated", source="adjudicated", first_mistake=1),
    ]
    steps = {t: 3 for t in "rbmds"}
    report = agreement_report(labels, steps)
    by_id = {d.trace_id: d for d in report.disagreements}
    assert sorted(by_id) == ["b", "m", "r"]
    expected = sorted(
        t for t in steps if label_disagreement(lb for lb in labels if lb.trace_id == t)
    )
    assert sorted(by_id) == expected  # the codec's rule, nothing of the report's own
    assert (by_id["r"].first_mistake, by_id["r"].rating_steps) == (False, [2])
    assert by_id["b"].correction_steps == [0] and by_id["b"].rating_steps == []
    assert (by_id["m"].first_mistake, by_id["m"].rating_steps) == (True, [0])
    assert by_id["m"].topics() == ["first mistake", "ratings: step 0"]
    assert by_id["b"].topics() == ["behaviours: step 0"]
    counts = report.disagreement_counts
    assert (counts.first_mistake, counts.ratings, counts.behaviors) == (1, 2, 1)
    assert counts.text() == "first mistake 1, step ratings 2, behaviours 1"
    # d still counts as a first-mistake mismatch in the exact-match figure (derived verdicts):
    # r, b, s agree; m and d do not
    assert report.pairs[0].n_shared == 5 and report.pairs[0].n_agree == 3


def test_agreement_imports_no_database_layer() -> None:
    """analyzers may use trace_store.codec's rule only while it pulls in no SQLAlchemy."""
    code = (
        "import sys, analyzers.agreement, components.agreement_tables\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('sqlalchemy', 'streamlit')))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT
    )
    assert done.stdout.strip() == "[]"


def test_empty_report() -> None:
    report = agreement_report([], {})
    assert report.n_traces == 0 and report.annotators == []
    assert report.first_mistake_exact.reason == "no submitted human labels"
    assert report.confusion == [[0, 0], [0, 0]]
    assert not list(nan_paths(report.to_dict()))


# ------------------------------------------------------------------------- from a store


def test_load_report_reads_labels_written_by_record_label(store) -> None:
    record_hand_labels(store)
    report = load_report(store, DATASET)
    assert report.pairs[0].kappa.value == pytest.approx(10 / 24)
    assert report.alpha_nominal.value == pytest.approx(2 / 9)
    # the report's disagreements are exactly the store's "disagreement" traces
    rows = store.list_traces(TraceFilter(datasets=[DATASET], label_state="disagreement"))
    assert sorted(r.id for r in rows) == [d.trace_id for d in report.disagreements]
    # a draft does not count; an adjudication is listed beside its disagreement
    record_label(store, who("dave"), "t1", first_mistake=0, draft=True)
    adjudicate(store, who("rita", "reviewer"), "t3", first_mistake=2, note="bob missed it")
    after = load_report(store, DATASET)
    assert [a.name for a in after.annotators] == ["alice", "bob", "carol"]
    assert {d.trace_id: d.adjudicated for d in after.disagreements} == {
        "t2": None,
        "t4": None,
        "t3": 2,
    }
    assert [d.trace_id for d in after.disagreements][-1] == "t3"  # adjudicated ones last
    assert after.n_adjudicated == 1
