"""The behaviour analysis of one trace, as stored: segmentation (when needed), tags, counts."""

from __future__ import annotations

from analyzers.behaviors import Tagger, behavior_counts, resolve_tagger
from analyzers.segment import ensure_steps_with_mode
from trace_store.schema import BEHAVIORS, Analysis, Trace

ANALYZER_NAME = "behaviors"
"""Name under which behaviour analyses are stored."""


def analyze_trace(
    trace: Trace, tagger: Tagger | str | None = None, *, segment_mode: str = "auto"
) -> Analysis:
    """Return the behaviour Analysis of ``trace`` (version = the tagger's name@version).

    ``extra`` records how the steps were obtained: ``segment_mode`` is "given" when the trace
    came with steps, else the mode used on its raw text; ``n_steps`` is the number of steps
    tagged, so a reader can tell whether the tags' step indices refer to the stored steps.
    """
    return analyze_with_steps(trace, tagger, segment_mode=segment_mode)[1]


def analyze_with_steps(
    trace: Trace, tagger: Tagger | str | None = None, *, segment_mode: str = "auto"
) -> tuple[Trace, Analysis]:
    """Return (the trace with the steps that were tagged, its behaviour Analysis)."""
    chosen = resolve_tagger(tagger)
    segmented, mode = ensure_steps_with_mode(trace, segment_mode)
    tags = chosen.tag(segmented.step_texts, segmented.question or None)
    analysis = Analysis(
        trace_id=trace.id,
        analyzer=ANALYZER_NAME,
        version=f"{chosen.name}@{chosen.version}",
        tags=tags,
        counts=behavior_counts(tags),
        extra={"segment_mode": mode, "n_steps": len(segmented.steps), "tagger": chosen.name},
    )
    return segmented, analysis


def analysis_record(trace: Trace, analysis: Analysis) -> dict:
    """Return the JSON-able per-trace result written by ``analyze --out``.

    ``{"id", "steps": [{"index", "text", "behaviors", "evidence"}], "counts", "tagger",
    "segment_mode"}``; ``trace`` must hold the steps the analysis tagged (see ensure_steps).
    """
    per_step: list[dict] = [
        {"index": s.index, "text": s.text, "behaviors": [], "evidence": []} for s in trace.steps
    ]
    for tag in sorted(analysis.tags, key=lambda t: (t.step, BEHAVIORS.index(t.behavior))):
        if 0 <= tag.step < len(per_step):
            entry = per_step[tag.step]
            entry["behaviors"].append(tag.behavior)
            entry["evidence"].append(
                {
                    "behavior": tag.behavior,
                    "start": tag.start,
                    "end": tag.end,
                    "text": tag.evidence,
                    "confidence": tag.confidence,
                }
            )
    return {
        "id": trace.id,
        "steps": per_step,
        "counts": analysis.counts,
        "tagger": analysis.version,
        "segment_mode": analysis.extra.get("segment_mode"),
    }
