"""How far annotators agree on a dataset: first-mistake match, kappa, alpha, disagreements.

Only submitted labels given by people (source ``human``) are compared with each other. Labels
that ship with the dataset (annotator ``dataset:<name>``, source ``dataset``) are the reference
each annotator is also compared with; the adjudicated label (if any) is listed beside each
disagreement. Drafts never count.

A trace is a disagreement by trace_store.codec.label_disagreement, the rule the store's
"disagreement" filter and the Adjudicate page's queue use: two people named different first
mistakes, rated a step differently, or corrected a step's behaviours to different sets. So the
report lists exactly the traces that queue lists.

Step judgements (for kappa and alpha) are the label's step ratings where it has any, else
derived from its first mistake: steps before it +1, the mistake -1, later steps not judged, and
"no mistake" = every step +1 (see agreement_stats.step_judgements). The units of kappa and alpha
are the (trace, step) pairs judged by the raters compared.

Krippendorff's alpha is reported at the nominal level (the headline, comparable with Cohen's
unweighted kappa) and at the ordinal level (-1 < 0 < +1). With ratings derived from first
mistakes only two values occur, and the two levels give the same alpha.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from itertools import combinations
from typing import Any, Protocol

from analyzers.agreement_stats import (
    MistakeBuckets,
    Statistic,
    cohen_kappa,
    confusion_matrix,
    effective_mistake,
    krippendorff_alpha,
    mistake_buckets,
    mistake_order,
    paired_judgements,
    step_judgements,
    value_counts,
)

# codec is pure (orjson and the schema, no SQLAlchemy): the one definition of a disagreement.
from trace_store.codec import label_disagreement
from trace_store.schema import DATASET_ANNOTATOR_PREFIX, NO_MISTAKE, Label

ADJUDICATED = "adjudicated"
"""Annotator name (and source) of a trace's adjudicated label."""


@dataclass
class AnnotatorSummary:
    """What one annotator submitted on the dataset."""

    name: str
    n_labels: int
    n_first_mistake: int
    """Labels with a first-mistake verdict (given, or read off complete step ratings)."""
    n_no_mistake: int
    n_step_ratings: int
    """Labels with step ratings of their own (not derived from the first mistake)."""
    judgements: dict[str, int]
    """How many steps got +1, 0 and -1 (ratings given or derived)."""


@dataclass
class PairAgreement:
    """Agreement of two annotators, on the traces both labelled."""

    a: str
    b: str
    n_shared: int
    """Traces where both gave a first-mistake verdict."""
    n_agree: int
    exact_match: Statistic
    kappa: Statistic
    """Cohen's kappa (unweighted) on the steps both judged."""
    confusion: list[list[int]]
    """First mistake of ``a`` (rows) against ``b`` (columns) on the report's axis."""


@dataclass
class ReferenceAgreement:
    """Agreement of one annotator with the labels the dataset shipped with."""

    annotator: str
    reference: str
    n_shared: int
    n_agree: int
    n_earlier: int
    """Traces where the annotator put the first mistake before the reference did."""
    n_later: int
    exact_match: Statistic
    kappa: Statistic


@dataclass
class Disagreement:
    """A trace whose people's labels disagree (trace_store.codec.label_disagreement)."""

    trace_id: str
    mistakes: dict[str, int]
    """Each annotator's first mistake (-1 = no mistake; given, or read off their ratings)."""
    reference: int | None
    """The dataset's own first mistake, when it has one."""
    adjudicated: int | None
    """The adjudicated first mistake, once a reviewer recorded one."""
    is_adjudicated: bool = False
    """A reviewer recorded the final label (it may decide only ratings or behaviours)."""
    first_mistake: bool = False
    """Two annotators gave different first mistakes."""
    rating_steps: list[int] = field(default_factory=list)
    """Steps two annotators rated differently."""
    correction_steps: list[int] = field(default_factory=list)
    """Steps two annotators corrected to different behaviour sets."""

    def topics(self) -> list[str]:
        """Return what the annotators disagree on, in short words ("ratings: steps 1, 2")."""
        found = ["first mistake"] if self.first_mistake else []
        for name, steps in (("ratings", self.rating_steps), ("behaviours", self.correction_steps)):
            if steps:
                which = ", ".join(str(k) for k in steps)
                found.append(f"{name}: step{'s' if len(steps) > 1 else ''} {which}")
        return found


@dataclass
class DisagreementCounts:
    """How many disagreeing traces disagree on each kind of judgement.

    A trace may count under more than one kind, so the three may add up to more than the
    number of disagreeing traces.
    """

    first_mistake: int
    ratings: int
    behaviors: int

    def text(self) -> str:
        """Return the counts in words ("first mistake 2, step ratings 1, behaviours 0")."""
        return (
            f"first mistake {self.first_mistake}, step ratings {self.ratings}, "
            f"behaviours {self.behaviors}"
        )


@dataclass
class AgreementReport:
    """Agreement figures of one dataset's submitted human labels (see the module docstring)."""

    dataset: str | None
    n_traces: int
    """Traces with at least one submitted human label."""
    n_traces_overlap: int
    """Traces with submitted labels from two or more annotators."""
    annotators: list[AnnotatorSummary]
    first_mistake_exact: Statistic
    """Exact first-mistake match pooled over every pair of annotators on every shared trace."""
    n_unanimous: int
    """Overlapping traces where every annotator named the same first mistake."""
    pairs: list[PairAgreement]
    alpha_nominal: Statistic
    alpha_ordinal: Statistic
    confusion_axis: list[str]
    confusion: list[list[int]]
    """Every pair of first mistakes on a shared trace, earlier one as row (upper triangular)."""
    confusion_width: int
    """Steps per axis entry (1: one entry per step)."""
    reference: list[ReferenceAgreement]
    disagreements: list[Disagreement]
    """Traces whose people's labels disagree, open ones first (the Adjudicate queue's rule)."""
    disagreement_counts: DisagreementCounts
    """The disagreements by kind: first mistake, step ratings, behaviour corrections."""
    n_adjudicated: int
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """Return the report as JSON-able nested dicts and lists."""
        return asdict(self)


def is_reference(label: Label) -> bool:
    """Return whether ``label`` shipped with a dataset (compared with, never compared)."""
    return label.source == "dataset" or label.annotator.startswith(DATASET_ANNOTATOR_PREFIX)


def _latest(found: dict[str, Label], label: Label) -> None:
    old = found.get(label.annotator)
    if old is None or label.updated_at >= old.updated_at:
        found[label.annotator] = label


def agreement_report(
    labels: Iterable[Label],
    n_steps: Mapping[str, int],
    *,
    dataset: str | None = None,
    max_axis: int = 16,
) -> AgreementReport:
    """Return the agreement report of ``labels`` (traces' step counts in ``n_steps``).

    ``dataset`` names the dataset (its own ``dataset:<name>`` labels are listed first among
    the references). ``max_axis`` bounds the confusion axis: past that many steps, steps are
    grouped into ranges.
    """
    human: dict[str, dict[str, Label]] = {}
    references: dict[str, dict[str, Label]] = {}
    adjudicated: dict[str, Label] = {}
    n_drafts = n_other = 0
    for label in labels:
        if label.status != "submitted":
            n_drafts += 1
        elif is_reference(label):
            references.setdefault(label.annotator, {})[label.trace_id] = label
        elif label.source == "adjudicated" or label.annotator == ADJUDICATED:
            adjudicated[label.trace_id] = label
        elif label.source == "human":
            _latest(human.setdefault(label.trace_id, {}), label)
        else:
            n_other += 1
    notes: list[str] = []
    if n_drafts:
        notes.append(f"{n_drafts} draft label(s) left out: only submitted labels count")
    if n_other:
        notes.append(f"{n_other} label(s) of an unknown source left out")

    mistakes = {
        tid: {a: m for a, lb in by.items() if (m := effective_mistake(lb)) is not None}
        for tid, by in human.items()
    }
    judged: dict[str, dict[str, list[int | None]]] = {}
    unknown_steps = 0
    for tid, by in human.items():
        steps = n_steps.get(tid)
        if steps is None:
            unknown_steps += 1
        judged[tid] = {a: j for a, lb in by.items() if (j := step_judgements(lb, steps))}
    if unknown_steps:
        notes.append(
            f"{unknown_steps} labelled trace(s) of unknown length: step judgements derived from "
            "their first mistakes were left out"
        )

    names = sorted({a for by in human.values() for a in by})
    annotators = [_summary(name, human, mistakes, judged) for name in names]
    overlap = [tid for tid, by in human.items() if len(by) >= 2]

    all_mistakes = [m for by in mistakes.values() for m in by.values()]
    for refs in references.values():
        all_mistakes += [
            m
            for tid, lb in refs.items()
            if tid in human and (m := effective_mistake(lb)) is not None
        ]
    axis = mistake_buckets(all_mistakes or [NO_MISTAKE], max_axis)

    pairs = [_pair(a, b, mistakes, judged, axis) for a, b in combinations(names, 2)]
    comparisons: list[tuple[int, int]] = []
    n_unanimous = 0
    for tid in overlap:
        given = list(mistakes[tid].values())
        comparisons += list(combinations(given, 2))
        if len(given) >= 2 and len(set(given)) == 1:
            n_unanimous += 1
    n_agree = sum(a == b for a, b in comparisons)
    exact = _rate(n_agree, len(comparisons), _why_no_pairs(names))

    units = [
        [v for j in judged[tid].values() if k < len(j) and (v := j[k]) is not None]
        for tid in overlap
        for k in range(max((len(j) for j in judged[tid].values()), default=0))
    ]
    if len(names) < 2:
        why = _why_no_pairs(names)
        alpha_nominal = alpha_ordinal = Statistic(None, 0, why)
    else:
        alpha_nominal = krippendorff_alpha(units, "nominal")
        alpha_ordinal = krippendorff_alpha(units, "ordinal")

    ordered_refs = sorted(
        references, key=lambda r: (r != f"{DATASET_ANNOTATOR_PREFIX}{dataset}", r)
    )
    views = {ref: _reference_view(references[ref], human, n_steps) for ref in ordered_refs}
    reference_rows = [
        _with_reference(name, ref, views[ref], mistakes, judged)
        for ref in ordered_refs
        for name in names
    ]
    own_ref = references.get(ordered_refs[0], {}) if ordered_refs else {}
    disagreements: list[Disagreement] = []
    for tid in sorted(overlap):
        split = label_disagreement(human[tid].values())
        if not split:
            continue
        disagreements.append(
            Disagreement(
                trace_id=tid,
                mistakes=dict(sorted(mistakes[tid].items())),
                reference=effective_mistake(own_ref[tid]) if tid in own_ref else None,
                adjudicated=effective_mistake(adjudicated[tid]) if tid in adjudicated else None,
                is_adjudicated=tid in adjudicated,
                first_mistake=split.first_mistake,
                rating_steps=list(split.rating_steps),
                correction_steps=list(split.correction_steps),
            )
        )
    disagreements.sort(key=lambda d: (d.is_adjudicated, d.trace_id))
    return AgreementReport(
        dataset=dataset,
        n_traces=len(human),
        n_traces_overlap=len(overlap),
        annotators=annotators,
        first_mistake_exact=exact,
        n_unanimous=n_unanimous,
        pairs=pairs,
        alpha_nominal=alpha_nominal,
        alpha_ordinal=alpha_ordinal,
        confusion_axis=axis.names,
        confusion=confusion_matrix(comparisons, axis, ordered=True),
        confusion_width=axis.width,
        reference=reference_rows,
        disagreements=disagreements,
        disagreement_counts=DisagreementCounts(
            first_mistake=sum(d.first_mistake for d in disagreements),
            ratings=sum(bool(d.rating_steps) for d in disagreements),
            behaviors=sum(bool(d.correction_steps) for d in disagreements),
        ),
        n_adjudicated=sum(1 for tid in adjudicated if tid in human),
        notes=notes,
    )


def _why_no_pairs(names: list[str]) -> str:
    if not names:
        return "no submitted human labels"
    if len(names) == 1:
        return f"needs labels from two annotators; only {names[0]!r} has submitted labels"
    return "no trace was labelled by two annotators"


def _rate(agree: int, total: int, why: str) -> Statistic:
    if total == 0:
        return Statistic(None, 0, why)
    return Statistic(agree / total, total)


def _summary(
    name: str,
    human: Mapping[str, Mapping[str, Label]],
    mistakes: Mapping[str, Mapping[str, int]],
    judged: Mapping[str, Mapping[str, list[int | None]]],
) -> AnnotatorSummary:
    mine = [by[name] for by in human.values() if name in by]
    verdicts = [by[name] for by in mistakes.values() if name in by]
    steps = [v for by in judged.values() if name in by for v in by[name] if v is not None]
    return AnnotatorSummary(
        name=name,
        n_labels=len(mine),
        n_first_mistake=len(verdicts),
        n_no_mistake=sum(v == NO_MISTAKE for v in verdicts),
        n_step_ratings=sum(
            1 for lb in mine if lb.step_ratings and any(r is not None for r in lb.step_ratings)
        ),
        judgements=value_counts(steps),
    )


def _pair(
    a: str,
    b: str,
    mistakes: Mapping[str, Mapping[str, int]],
    judged: Mapping[str, Mapping[str, list[int | None]]],
    axis: MistakeBuckets,
) -> PairAgreement:
    shared = [(by[a], by[b]) for by in mistakes.values() if a in by and b in by]
    agree = sum(x == y for x, y in shared)
    left: list[int] = []
    right: list[int] = []
    for by in judged.values():
        if a in by and b in by:
            x, y = paired_judgements(by[a], by[b])
            left += x
            right += y
    return PairAgreement(
        a=a,
        b=b,
        n_shared=len(shared),
        n_agree=agree,
        exact_match=_rate(agree, len(shared), f"{a!r} and {b!r} labelled no trace in common"),
        kappa=cohen_kappa(left, right),
        confusion=confusion_matrix(shared, axis),
    )


def _reference_view(
    ref_labels: Mapping[str, Label],
    human: Mapping[str, Mapping[str, Label]],
    n_steps: Mapping[str, int],
) -> dict[str, tuple[int | None, list[int | None] | None]]:
    """Return (first mistake, step judgements) of a reference on each humanly labelled trace."""
    return {
        tid: (effective_mistake(lb), step_judgements(lb, n_steps.get(tid)))
        for tid, lb in ref_labels.items()
        if tid in human
    }


def _with_reference(
    name: str,
    ref: str,
    view: Mapping[str, tuple[int | None, list[int | None] | None]],
    mistakes: Mapping[str, Mapping[str, int]],
    judged: Mapping[str, Mapping[str, list[int | None]]],
) -> ReferenceAgreement:
    order = {"same": 0, "earlier": 0, "later": 0}
    left: list[int] = []
    right: list[int] = []
    for tid, (theirs, ref_steps) in view.items():
        if name in mistakes[tid] and theirs is not None:
            order[mistake_order(mistakes[tid][name], theirs)] += 1
        if name in judged[tid] and ref_steps:
            x, y = paired_judgements(judged[tid][name], ref_steps)
            left += x
            right += y
    shared = sum(order.values())
    return ReferenceAgreement(
        annotator=name,
        reference=ref,
        n_shared=shared,
        n_agree=order["same"],
        n_earlier=order["earlier"],
        n_later=order["later"],
        exact_match=_rate(order["same"], shared, f"{ref!r} has no label on {name!r}'s traces"),
        kappa=cohen_kappa(left, right),
    )


class LabelSource(Protocol):
    """What load_report reads: the store's label stream and trace rows (trace_store.Store fits)."""

    def iter_labels(
        self, *, dataset: str | None = ..., annotator: str | None = ..., status: str | None = ...
    ) -> Iterable[Label]: ...

    def list_traces(self, flt: Any = ..., *, limit: int = ...) -> list[Any]: ...


ID_CHUNK = 5_000


def load_report(store: LabelSource, dataset: str, *, max_axis: int = 16) -> AgreementReport:
    """Return the agreement report of ``dataset`` read from ``store`` (its submitted labels).

    Step counts come from the store's trace rows (no step text is read).
    """
    # The store's own filter type; trace_store is the layer this one builds on.
    from trace_store import TraceFilter

    labels = list(store.iter_labels(dataset=dataset, status="submitted"))
    ids = sorted({lb.trace_id for lb in labels if not is_reference(lb)})
    n_steps: dict[str, int] = {}
    for start in range(0, len(ids), ID_CHUNK):
        chunk = ids[start : start + ID_CHUNK]
        flt = TraceFilter(datasets=[dataset], ids=chunk)
        for row in store.list_traces(flt, limit=len(chunk)):
            n_steps[row.id] = row.n_steps
    return agreement_report(labels, n_steps, dataset=dataset, max_axis=max_axis)
