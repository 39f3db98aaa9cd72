"""Evaluation of behaviour taggers: against a hand-labelled gold file and against Thought Anchors.

Gold file (JSON Lines, one trace a line): ``steps`` (list of str), ``behaviors`` (one list of
behaviour names per step), optional ``id``, ``split`` ("dev"/"test") and ``style``. The gold set in
tests/fixtures/gold_behaviors.jsonl was labelled by hand from the definitions below, before the
rules were written; its "test" lines were never used to tune them.

Labelling guide (per step, several behaviours allowed):
- verification: the step checks a result or value already obtained: announces or performs a
  check ("Let me double-check 9!"), recomputes, substitutes back, compares with the target
  ("41, not 43", "✓ matches the target"), or states the verdict of a check ("Yes, that's
  correct"). Not: a first computation, a negated intention ("no need to verify").
- backtracking: the step abandons the current path or value and goes back or tries another
  ("This doesn't work. Let's go back to [6, 2]", "Wait, no ...", "Alternatively, ...",
  "I misread it; let me start over"). A bare "Wait, but ..." that keeps the path is not.
- subgoal_setting: the step states an intermediate goal or a plan not yet carried out in that step
  ("First, find the area, then ...", "Let me try elimination.", "Now the goal is ..."). Not: a
  restatement of the whole question, or a lead-in executed at once ("Let's calculate A = 7").
- backward_chaining: the step reasons from the goal back to what it needs ("To get 24 we need
  6 × 4", "working backwards", "for the constant term we need 2k - 6 = 0").
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import orjson

from analyzers.behaviors import Tagger, resolve_tagger, step_behaviors
from analyzers.segment import segment_steps, split_think
from analyzers.thought_anchors import (
    TAG_TO_BEHAVIOR,
    AnchorsTrace,
    chunk_boundaries,
    load_thought_anchors,
    step_boundaries,
)
from trace_store.schema import BEHAVIORS


class GoldFormatError(ValueError):
    """A gold file line that does not have the expected shape (message names file and line)."""


@dataclass
class GoldTrace:
    """One gold trace: its steps and the behaviours a person gave each step."""

    id: str
    steps: list[str]
    behaviors: list[list[str]]
    split: str | None = None
    style: str | None = None


@dataclass
class TagScores:
    """Per-behaviour precision/recall/F1/support and their macro-F1 over ``n_steps`` steps."""

    n_traces: int
    n_steps: int
    per_behavior: dict[str, dict[str, float]] = field(default_factory=dict)
    macro_f1: float = 0.0


def _expect(cond: bool, path: Path, line: int, fieldname: str, message: str) -> None:
    """Raise GoldFormatError naming the file, line and field unless ``cond`` holds."""
    if not cond:
        raise GoldFormatError(f"{path}:{line}: field '{fieldname}': {message}")


def load_gold(path: Path) -> list[GoldTrace]:
    """Return the traces of a gold file; raise GoldFormatError on the first malformed line."""
    traces = []
    with path.open("rb") as fh:
        for line_no, raw in enumerate(fh, start=1):
            if not raw.strip():
                continue
            try:
                rec = orjson.loads(raw)
            except orjson.JSONDecodeError as exc:
                raise GoldFormatError(f"{path}:{line_no}: not valid JSON ({exc})") from exc
            _expect(isinstance(rec, dict), path, line_no, "(record)", "expected a JSON object")
            steps, behaviors = rec.get("steps"), rec.get("behaviors")
            _expect(
                isinstance(steps, list) and all(isinstance(s, str) for s in steps),
                path, line_no, "steps", "expected a list of strings",
            )  # fmt: skip
            _expect(
                isinstance(behaviors, list) and len(behaviors) == len(steps),
                path, line_no, "behaviors", f"expected a list of {len(steps)} lists (one per step)",
            )  # fmt: skip
            for i, names in enumerate(behaviors):
                _expect(
                    isinstance(names, list) and all(n in BEHAVIORS for n in names),
                    path, line_no, f"behaviors[{i}]",
                    f"expected a list of behaviour names from {list(BEHAVIORS)}, got {names!r}",
                )  # fmt: skip
            traces.append(
                GoldTrace(
                    id=str(rec.get("id", f"line-{line_no}")),
                    steps=steps,
                    behaviors=behaviors,
                    split=rec.get("split"),
                    style=rec.get("style"),
                )
            )
    return traces


def score_tags(gold: list[list[str]], predicted: list[list[str]], n_traces: int = 0) -> TagScores:
    """Return per-behaviour and macro scores of per-step ``predicted`` against ``gold``."""
    from sklearn.metrics import precision_recall_fscore_support  # heavy; only when scoring

    scores = TagScores(n_traces=n_traces, n_steps=len(gold))
    y_true = [[b in names for b in BEHAVIORS] for names in gold]
    y_pred = [[b in names for b in BEHAVIORS] for names in predicted]
    p, r, f, s = precision_recall_fscore_support(y_true, y_pred, average=None, zero_division=0)
    for i, behavior in enumerate(BEHAVIORS):
        scores.per_behavior[behavior] = {
            "precision": float(p[i]),
            "recall": float(r[i]),
            "f1": float(f[i]),
            "support": int(s[i]),
        }
    scores.macro_f1 = float(sum(f) / len(BEHAVIORS))
    return scores


def evaluate_gold(
    traces: Iterable[GoldTrace], tagger: Tagger | str | None = None, split: str | None = None
) -> TagScores:
    """Return the tagger's scores on the gold traces (only those of ``split`` when given)."""
    chosen = resolve_tagger(tagger)
    gold: list[list[str]] = []
    predicted: list[list[str]] = []
    n = 0
    for trace in traces:
        if split is not None and trace.split != split:
            continue
        n += 1
        gold.extend(trace.behaviors)
        predicted.extend(step_behaviors(chosen.tag(trace.steps), len(trace.steps)))
    return score_tags(gold, predicted, n)


@dataclass
class AnchorsAgreement:
    """Agreement of behaviour tags with Thought Anchors function tags, chunk by chunk."""

    n_traces: int
    n_chunks: int
    kappa: dict[str, float]
    tagged: dict[str, int]
    reference: dict[str, int]
    overlap: dict[str, dict[str, int]] = field(default_factory=dict)
    """For each behaviour, how the chunks it was found in are tagged by Thought Anchors."""
    protocol: str = "as-is"
    """How the tags were obtained: "as-is" (a tagger not fitted on these chunks),
    "out-of-fold, N-fold by problem", or "in-sample" (fitted on these very chunks: optimistic)."""


def trained_on_anchors(tagger: Tagger | str | None) -> bool:
    """Return whether the tagger was fitted on Thought Anchors (its ``trained_on`` says so)."""
    return getattr(resolve_tagger(tagger), "trained_on", None) == "thought-anchors"


def _kept(traces: list[AnchorsTrace], models: Iterable[str] | None) -> list[int]:
    """Return the indices of traces whose path holds one of ``models`` (all when None)."""
    if models is None:
        return list(range(len(traces)))
    wanted = set(models)
    return [i for i, t in enumerate(traces) if wanted & set(Path(t.path).parts)]


def agreement_of(
    traces: list[AnchorsTrace], predicted: list[list[list[str]]], protocol: str = "as-is"
) -> AnchorsAgreement:
    """Return Cohen's kappa per behaviour between per-chunk behaviours and Thought Anchors' tags.

    ``predicted`` holds, for each trace, one list of behaviour names per chunk.
    """
    from sklearn.metrics import cohen_kappa_score  # heavy; only when scoring

    ours: dict[str, list[int]] = {b: [] for b in TAG_TO_BEHAVIOR.values()}
    theirs: dict[str, list[int]] = {b: [] for b in TAG_TO_BEHAVIOR.values()}
    overlap: dict[str, dict[str, int]] = {b: {} for b in TAG_TO_BEHAVIOR.values()}
    for trace, per_chunk in zip(traces, predicted, strict=True):
        for names, tags in zip(per_chunk, trace.function_tags, strict=True):
            for tag, behavior in TAG_TO_BEHAVIOR.items():
                ours[behavior].append(int(behavior in names))
                theirs[behavior].append(int(tag in tags))
                if behavior in names:
                    for their_tag in tags:
                        counts = overlap[behavior]
                        counts[their_tag] = counts.get(their_tag, 0) + 1
    n = len(next(iter(ours.values())))
    return AnchorsAgreement(
        n_traces=len(traces),
        n_chunks=n,
        kappa={b: float(cohen_kappa_score(theirs[b], ours[b])) if n else 0.0 for b in ours},
        tagged={b: sum(v) for b, v in ours.items()},
        reference={b: sum(v) for b, v in theirs.items()},
        overlap={b: dict(sorted(c.items(), key=lambda kv: -kv[1])) for b, c in overlap.items()},
        protocol=protocol,
    )


def anchors_agreement(
    root: Path, tagger: Tagger | str | None = None, models: Iterable[str] | None = None
) -> AnchorsAgreement:
    """Return Cohen's kappa per behaviour between the tagger and Thought Anchors' tags.

    The published chunks are used as steps. ``models`` keeps only traces whose path holds one of
    those model folder names (e.g. to report a part never looked at while writing rules). A
    tagger fitted on Thought Anchors is scored on its own training chunks here, and the result
    says "in-sample"; anchors_agreement_cv gives the honest figure for such a tagger.
    """
    chosen = resolve_tagger(tagger)
    traces = load_thought_anchors(root)
    traces = [traces[i] for i in _kept(traces, models)]
    predicted = [step_behaviors(chosen.tag(t.chunks), len(t.chunks)) for t in traces]
    protocol = "in-sample" if trained_on_anchors(chosen) else "as-is"
    return agreement_of(traces, predicted, protocol)


def anchors_agreement_cv(
    root: Path, tagger: Tagger | str | None, folds: int = 6, models: Iterable[str] | None = None
) -> AnchorsAgreement:
    """Return the out-of-fold agreement of a tagger fitted on Thought Anchors.

    The tagger refits itself ``folds`` times (its ``out_of_fold_steps``), leaving whole problems
    out, so every chunk is tagged by a model that never saw its problem (the data holds each
    problem up to four times: two models, correct and incorrect base solutions). All traces take
    part in the folds; ``models`` only narrows which ones are scored.
    """
    chosen = resolve_tagger(tagger)
    if not hasattr(chosen, "out_of_fold_steps"):
        raise ValueError(f"tagger {chosen.name!r} cannot be cross-validated (not a fitted one)")
    traces = load_thought_anchors(root)
    predicted = chosen.out_of_fold_steps(traces, folds)  # type: ignore[attr-defined]
    kept = _kept(traces, models)
    return agreement_of(
        [traces[i] for i in kept],
        [predicted[i] for i in kept],
        f"out-of-fold, {folds}-fold by problem",
    )


def anchors_boundary_scores(root: Path, mode: str = "sentence") -> dict[str, float]:
    """Return precision/recall/F1 of segment_steps' boundaries against Thought Anchors chunks.

    Boundaries are compared as counts of non-whitespace characters before each step start, over
    the reasoning part of each solution (the chunks cover only that part).
    """
    tp = fp = fn = 0
    n_steps = n_chunks = 0
    for trace in load_thought_anchors(root):
        reasoning = split_think(trace.solution).reasoning
        steps = segment_steps(reasoning, mode)
        ref = chunk_boundaries(trace.chunks)
        hyp = step_boundaries(reasoning, [s.start or 0 for s in steps])
        tp += len(ref & hyp)
        fp += len(hyp - ref)
        fn += len(ref - hyp)
        n_steps += len(steps)
        n_chunks += len(trace.chunks)
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {
        "precision": precision,
        "recall": recall,
        "f1": f1,
        "steps": n_steps,
        "chunks": n_chunks,
    }
