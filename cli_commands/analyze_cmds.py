"""`analyze` and `evaluate-tags` verbs: tag reasoning behaviours, and measure how well."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import orjson
import typer

from cli_commands.common import connect_cli_store, fail, print_json

if TYPE_CHECKING:
    from trace_store.schema import RecordError, Trace

SHOWN_ERRORS = 10
PLAIN_SUFFIXES = (".jsonl", ".ndjson")
QUESTION_KEYS = ("question", "prompt", "input", "problem")

ANALYZE_HELP = """Tag the reasoning behaviours (backtracking, verification, subgoal_setting,
backward_chaining) of every step.

With IN files or folders: reads any format `import` reads (and plain JSON Lines with `steps`, a
list, or `text`, a raw generation, and an optional `id`), segments raw text into steps, and writes
one JSON object per trace to --out: id, steps [{index, text, behaviors, evidence}], counts.
With --dataset: analyses the traces stored in that dataset and saves the results in the store.
Bad records are reported (file, line, field) and skipped; exit code 1 when any was bad.

Example:

\b
    python cli.py analyze ../shared/data/big-bench-mistake/word_sorting.jsonl --out ws.jsonl
    python cli.py analyze ../shared/data/thought-anchors --out anchors.jsonl --segment-mode sentence
    python cli.py analyze --dataset bbm --tagger rules
"""

EVALUATE_HELP = """Score a behaviour tagger against a gold file and/or Thought Anchors.

GOLD is JSON Lines: `steps` (list of str), `behaviors` (one list of behaviour names per step),
optional `id` and `split`. Prints per-behaviour precision/recall/F1 and macro-F1 (also per
split when lines carry one). --thought-anchors DIR prints Cohen's kappa per behaviour against
that data set's GPT-4o chunk tags (self_checking ~ verification, plan_generation ~
subgoal_setting, uncertainty_management ~ backtracking) and the sentence segmentation's
boundary F1 against its chunks. A tagger fitted on Thought Anchors (--tagger learned-ta) is
scored out-of-fold: refitted --cv-folds times, each time leaving every trace of some problems
out (the data holds each problem up to four times; minutes; embeddings are
cached); --in-sample scores the shipped weights on their own training chunks instead, labelled
as such.

Example:

\b
    python cli.py evaluate-tags tests/fixtures/gold_behaviors.jsonl
    python cli.py evaluate-tags tests/fixtures/gold_behaviors.jsonl --split test --json
    python cli.py evaluate-tags --thought-anchors ../shared/data/thought-anchors
    python cli.py evaluate-tags --thought-anchors ../shared/data/thought-anchors --tagger learned-ta
"""


def _plain_records(path: Path) -> Iterator[Trace | RecordError]:
    """Yield a Trace per JSON Lines record with `steps` or `text`, a RecordError per bad one."""
    from trace_store.schema import RecordError, Step, Trace

    with path.open("rb") as fh:
        for line_no, raw in enumerate(fh, start=1):
            if not raw.strip():
                continue
            try:
                rec = orjson.loads(raw)
            except orjson.JSONDecodeError as exc:
                yield RecordError(file=str(path), line=line_no, message=f"not valid JSON ({exc})")
                continue
            if not isinstance(rec, dict):
                yield RecordError(file=str(path), line=line_no, message="expected a JSON object")
                continue
            steps, text = rec.get("steps"), rec.get("text", rec.get("raw_text"))
            if isinstance(steps, list) and all(isinstance(s, str) for s in steps):
                parsed = [Step(index=i, text=s) for i, s in enumerate(steps)]
                raw_text = None
            elif isinstance(text, str):
                parsed, raw_text = [], text
            else:
                yield RecordError(
                    file=str(path),
                    line=line_no,
                    field="steps",
                    message="expected `steps` (a list of strings) or `text`/`raw_text` (a string)",
                )
                continue
            question = next((rec[k] for k in QUESTION_KEYS if isinstance(rec.get(k), str)), "")
            trace_id = str(rec.get("id") or f"{path.stem}:{line_no}")
            yield Trace(
                id=trace_id, dataset="analyze", question=question, steps=parsed, raw_text=raw_text
            )


def _is_plain(path: Path) -> bool:
    """Return whether ``path`` is JSON Lines whose first record has `steps` or `text`."""
    if not path.is_file() or path.suffix.lower() not in PLAIN_SUFFIXES:
        return False
    with path.open("rb") as fh:
        for raw in fh:
            if raw.strip():
                try:
                    rec = orjson.loads(raw)
                except orjson.JSONDecodeError:
                    return True  # the plain reader reports the bad line
                return isinstance(rec, dict) and bool({"steps", "text", "raw_text"} & set(rec))
    return True


def _input_traces(
    paths: list[Path], fmt: str | None, mapping: str | None, mode: str
) -> Iterator[Trace | RecordError]:
    """Yield the traces (or record errors) of every input path."""
    from analyzers.segment import segment_steps

    for path in paths:
        if not path.exists():
            fail(f"{path}: no such file or folder")
        if fmt is None and mapping is None and _is_plain(path):
            yield from _plain_records(path)
            continue
        from trace_store.formats import read_records, segment_trace

        try:
            items = read_records(path, fmt, dataset="analyze", mapping=mapping)
            for item in items:
                if not hasattr(item, "trace"):
                    yield item
                    continue
                problem = segment_trace(item, lambda text: segment_steps(text, mode))
                yield problem if problem is not None else item.trace
        except ValueError as exc:  # unknown format or bad mapping: nothing was read
            fail(f"{path}: {exc}")


def _analyze_files(
    paths: list[Path], out: Path, tagger: str, mode: str, fmt: str | None, mapping: str | None
) -> dict:
    """Write one analysis record per input trace to ``out``; return a summary."""
    from analyzers.pipeline import analysis_record, analyze_with_steps
    from trace_store.schema import BEHAVIORS

    summary: dict = {"traces": 0, "steps": 0, "errors": 0, "out": str(out)}
    errors: list[str] = []
    totals = dict.fromkeys(BEHAVIORS, 0)
    partial = out.with_name(out.name + ".partial")
    try:
        with partial.open("wb") as fh:
            for item in _input_traces(paths, fmt, mapping, mode):
                if not hasattr(item, "steps"):
                    summary["errors"] += 1
                    errors.append(str(item))
                    continue
                trace, analysis = analyze_with_steps(item, tagger, segment_mode=mode)
                fh.write(orjson.dumps(analysis_record(trace, analysis)) + b"\n")
                summary["traces"] += 1
                summary["steps"] += len(trace.steps)
                for name, n in analysis.counts.items():
                    totals[name] += n
    except BaseException:  # a bad input file or a tagger gone away: leave nothing half-written
        partial.unlink(missing_ok=True)
        raise
    os.replace(partial, out)  # the output appears only once complete
    summary["steps_with"] = totals
    summary["error_messages"] = errors[:SHOWN_ERRORS]
    return summary


def _analyze_dataset(dataset: str, tagger: str, mode: str) -> dict:
    """Analyse every stored trace of ``dataset`` and save the analyses; return a summary."""
    from tqdm import tqdm

    from analyzers.pipeline import analyze_trace
    from trace_store import TraceFilter

    store = connect_cli_store()
    try:
        flt = TraceFilter(datasets=[dataset])
        total = store.count_traces(flt)
        if total == 0:
            fail(f"dataset {dataset!r} holds no traces (see `python cli.py list`)")
        totals: dict[str, int] = {}
        counter = {"traces": 0}

        def analyses() -> Iterator:
            # tqdm shows progress on a terminal only (disable=None), never in --json pipes.
            for trace in tqdm(store.iter_traces(flt), total=total, unit="trace", disable=None):
                analysis = analyze_trace(trace, tagger, segment_mode=mode)
                counter["traces"] += 1
                for name, n in analysis.counts.items():
                    totals[name] = totals.get(name, 0) + n
                yield analysis

        saved = store.save_analyses(analyses())
    finally:
        store.close()
    return {"dataset": dataset, "traces": counter["traces"], "saved": saved, "steps_with": totals}


def _check_tagger(tagger: str) -> None:
    """Fail (a user error, no traceback) unless ``tagger`` is registered and can be built here.

    The "llm" tagger is registered here rather than at CLI start-up, so verbs that tag nothing
    do not import the tagging and generation modules.
    """
    from analyzers.behaviors import TaggerUnavailable, get_tagger, tagger_names
    from generators.llm_tagger import register_llm_tagger

    register_llm_tagger()
    if tagger not in tagger_names():
        fail(f"--tagger: unknown tagger {tagger!r}; expected one of {tagger_names()}")
    try:
        get_tagger(tagger)
    except TaggerUnavailable as exc:
        fail(f"--tagger {tagger}: {exc}")


@contextmanager
def _tagger_failures(tagger: str) -> Iterator[None]:
    """Turn a tagger that breaks mid-run (its server went away) into a one-line error."""
    from analyzers.behaviors import TaggerUnavailable

    try:
        yield
    except TaggerUnavailable as exc:
        fail(f"--tagger {tagger}: {exc}")


def register(app: typer.Typer) -> None:
    """Add the `analyze` and `evaluate-tags` verbs to ``app``."""

    @app.command("analyze", help=ANALYZE_HELP)
    def analyze(
        paths: list[Path] = typer.Argument(None, help="Trace files or folders to analyse."),
        out: Path | None = typer.Option(None, "--out", help="JSON Lines file to write."),
        dataset: str | None = typer.Option(
            None, "--dataset", help="Analyse this stored dataset and save the results."
        ),
        tagger: str = typer.Option("rules", "--tagger", help="Registered tagger name."),
        segment_mode: str = typer.Option(
            "auto", "--segment-mode", help="auto, line, paragraph, sentence or numbered."
        ),
        fmt: str | None = typer.Option(None, "--format", help="Force an input format."),
        mapping: str | None = typer.Option(
            None, "--map", help="Generic column mapping, e.g. question=prompt,steps=solution."
        ),
        as_json: bool = typer.Option(False, "--json", help="Print the summary as JSON."),
    ) -> None:
        from analyzers.segment import SEGMENT_MODES

        _check_tagger(tagger)
        if segment_mode not in SEGMENT_MODES:
            fail(f"--segment-mode: expected one of {list(SEGMENT_MODES)}, got {segment_mode!r}")
        if dataset is not None and paths:
            fail("give either input files or --dataset, not both")
        if dataset is None and not paths:
            fail("nothing to analyse: give input files (with --out) or --dataset NAME")
        if dataset is None and out is None:
            fail("--out OUT.jsonl is required when analysing files")
        with _tagger_failures(tagger):
            if dataset is not None:
                summary = _analyze_dataset(dataset, tagger, segment_mode)
            else:
                summary = _analyze_files(paths, out, tagger, segment_mode, fmt, mapping)
        if as_json:
            print_json(summary)
        else:
            where = f"to {summary['out']}" if "out" in summary else f"in dataset {dataset!r}"
            typer.echo(f"analysed {summary['traces']} traces {where}")
            for name, n in summary["steps_with"].items():
                typer.echo(f"  steps with {name}: {n}")
            for message in summary.get("error_messages", []):
                typer.echo(f"error: {message}", err=True)
            if summary.get("errors", 0) > SHOWN_ERRORS:
                typer.echo(f"... and {summary['errors'] - SHOWN_ERRORS} more errors", err=True)
        if summary.get("errors"):
            raise typer.Exit(1)

    @app.command("evaluate-tags", help=EVALUATE_HELP)
    def evaluate_tags(
        gold: Path | None = typer.Argument(None, help="Gold JSON Lines file."),
        tagger: str = typer.Option("rules", "--tagger", help="Registered tagger name."),
        split: str | None = typer.Option(None, "--split", help="Only gold lines of this split."),
        anchors: Path | None = typer.Option(
            None, "--thought-anchors", help="Thought Anchors folder to compare with."
        ),
        cv_folds: int = typer.Option(
            6, "--cv-folds", help="Folds (by problem) for a tagger fitted on Thought Anchors."
        ),
        in_sample: bool = typer.Option(
            False, "--in-sample", help="Score a fitted tagger on its own training chunks."
        ),
        as_json: bool = typer.Option(False, "--json", help="Print the scores as JSON."),
    ) -> None:
        from analyzers.evaluate_tags import (
            GoldFormatError,
            anchors_agreement,
            anchors_agreement_cv,
            anchors_boundary_scores,
            evaluate_gold,
            load_gold,
            trained_on_anchors,
        )

        if gold is None and anchors is None:
            fail("give a GOLD file, --thought-anchors DIR, or both")
        _check_tagger(tagger)
        result: dict = {"tagger": tagger}
        if gold is not None:
            if not gold.is_file():
                fail(f"{gold}: no such file")
            try:
                traces = load_gold(gold)
            except GoldFormatError as exc:
                fail(str(exc))
            with _tagger_failures(tagger):
                result["gold"] = {split or "all": evaluate_gold(traces, tagger, split)}
                if not split:
                    for name in sorted({t.split for t in traces if t.split}):
                        result["gold"][name] = evaluate_gold(traces, tagger, name)
        if anchors is not None:
            if not anchors.is_dir():
                fail(f"{anchors}: no such folder")
            if trained_on_anchors(tagger) and not in_sample:
                if cv_folds < 2:
                    fail(f"--cv-folds: expected at least 2, got {cv_folds}")
                try:
                    agreement = anchors_agreement_cv(anchors, tagger, cv_folds)
                except ValueError as exc:
                    fail(f"{anchors}: {exc}")
            else:
                with _tagger_failures(tagger):
                    agreement = anchors_agreement(anchors, tagger)
            if agreement.n_chunks == 0:
                fail(f"{anchors}: no Thought Anchors traces (chunks_labeled.json) found")
            result["thought_anchors"] = agreement
            result["segmentation"] = anchors_boundary_scores(anchors, "sentence")
        if as_json:
            print_json(result)
            return
        for name, scores in result.get("gold", {}).items():
            typer.echo(
                f"gold [{name}]: {scores.n_traces} traces, {scores.n_steps} steps, "
                f"macro-F1 {scores.macro_f1:.3f}"
            )
            for behavior, s in scores.per_behavior.items():
                typer.echo(
                    f"  {behavior:<18} precision {s['precision']:.3f}  recall {s['recall']:.3f}"
                    f"  F1 {s['f1']:.3f}  support {s['support']}"
                )
        if "thought_anchors" in result:
            a = result["thought_anchors"]
            typer.echo(f"thought anchors: {a.n_traces} traces, {a.n_chunks} chunks ({a.protocol})")
            if a.protocol == "in-sample":
                typer.echo(
                    "  warning: this tagger was fitted on these chunks; the honest figure is "
                    "the out-of-fold one (drop --in-sample)"
                )
            for behavior, kappa in a.kappa.items():
                typer.echo(
                    f"  {behavior:<18} Cohen's kappa {kappa:.3f}  (tagged {a.tagged[behavior]}"
                    f", reference {a.reference[behavior]})"
                )
                top = ", ".join(f"{t} {n}" for t, n in list(a.overlap[behavior].items())[:3])
                typer.echo(f"    its chunks are tagged there: {top}")
            seg = result["segmentation"]
            typer.echo(
                f"  sentence boundaries vs chunks: precision {seg['precision']:.3f}  recall "
                f"{seg['recall']:.3f}  F1 {seg['f1']:.3f}"
            )
