"""`import` and `export` verbs: files in many trace formats into the store, and back out."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from cli_commands.common import fail, open_cli_store, print_json

if TYPE_CHECKING:
    from trace_store.formats import ImportReport
    from trace_store.schema import Step

SHOWN_ERRORS = 10

IMPORT_HELP = """Import trace files or folders into the store as dataset NAME.

Formats are detected from content: bbm, processbench, prm800k, trl, thought_anchors, r1,
openai_chat, and generic jsonl/json/csv/parquet/hf (a datasets save_to_disk folder) read
through --map. Good records are imported and bad ones reported (file, line, field); with
--strict nothing is imported when any record is bad. Re-importing the same file adds nothing.
Exit code 1 when any record failed or conflicted with a stored trace.

Example:

    python cli.py import ../shared/data/big-bench-mistake/*.jsonl --dataset bbm

    python cli.py import ../shared/data/thought-anchors --dataset anchors

    python cli.py import runs.csv --dataset mine --map question=prompt,steps=solution,id=uid
"""

EXPORT_HELP = """Export traces (with one label each) as bbm, processbench, trl, prm800k, jsonl,
parquet or hf (a datasets save_to_disk folder).

--labels picks the label: dataset (the dataset's own), annotator:NAME, majority (most common
first mistake among submitted human labels, ties to the earliest step) or adjudicated. TRL
files hold only prompt/completions/labels; their format_version and provenance go to
OUT.meta.json. The file appears only once it is complete.

Example:

    python cli.py import ../shared/data/big-bench-mistake/*.jsonl --dataset bbm

    python cli.py export --dataset bbm --task word_sorting --format trl --out ws_trl.jsonl

    python cli.py export --dataset bbm --format parquet --out bbm.parquet --labels majority
"""


def cli_segmenter(mode: str) -> tuple[Callable[[str], list[Step]] | None, str]:
    """Return (segmenter, name): analyzers.segment_steps in ``mode``, or None (one step a line).

    The analyzers layer is imported lazily so a missing or broken analyzer never stops an
    import: traces then get one step per non-empty line.
    """
    try:
        from analyzers.segment import segment_steps
    except ImportError:
        return None, "line (analyzers.segment not available)"

    def segment(text: str) -> list[Step]:
        return segment_steps(text, mode)

    return segment, f"analyzers.segment ({mode})"


def _report_lines(report: ImportReport, dataset: str, shown: int) -> list[str]:
    lines = [
        f"dataset {dataset!r}: read {report.read} records, added {report.added}, unchanged "
        f"{report.unchanged}, failed {report.failed}, conflicts {report.conflicts}"
    ]
    if report.aborted:
        lines.append("nothing imported (--strict): fix the records below and import again")
    for source, schema in list(report.formats.items())[:shown]:
        lines.append(f"  read {source} as {schema}")
    if len(report.formats) > shown:
        lines.append(f"  ... and {len(report.formats) - shown} more sources")
    problems = report.failed + report.conflicts
    for problem in report.errors[:shown]:
        lines.append(f"  error: {problem}")
    if problems > shown:
        lines.append(f"  ... and {problems - shown} more errors")
    return lines


def register(app: typer.Typer) -> None:
    """Add the `import` and `export` verbs to ``app``."""

    @app.command("import", help=IMPORT_HELP)
    def import_cmd(
        paths: list[Path] = typer.Argument(..., help="Files or folders to import."),
        dataset: str = typer.Option(..., "--dataset", help="Dataset name in the store."),
        fmt: str | None = typer.Option(
            None, "--format", help="Force a format (default: detected from content)."
        ),
        mapping: str | None = typer.Option(
            None, "--map", help="Generic column mapping, e.g. question=prompt,steps=solution."
        ),
        strict: bool = typer.Option(
            False, "--strict", help="Check every record first; import nothing if any is bad."
        ),
        segment_mode: str = typer.Option(
            "auto", "--segment-mode", help="How raw text is cut into steps (auto, line, ...)."
        ),
        as_json: bool = typer.Option(False, "--json", help="Print the report as JSON."),
    ) -> None:
        from tqdm import tqdm

        from trace_store.formats import import_paths, parse_mapping
        from trace_store.formats.detect import check_format

        try:
            check_format(fmt)
            parsed = parse_mapping(mapping)
        except ValueError as exc:
            fail(str(exc))
        segmenter, segmenter_name = cli_segmenter(segment_mode)
        with (
            open_cli_store() as store,
            tqdm(unit=" records", file=sys.stderr, disable=None, desc="import") as bar,
        ):
            try:
                report = import_paths(
                    store,
                    [str(p) for p in paths],
                    dataset=dataset,
                    fmt=fmt,
                    mapping=parsed,
                    strict=strict,
                    segmenter=segmenter,
                    progress=bar.update,
                )
            except ValueError as exc:
                fail(str(exc))
        if as_json:
            payload: dict[str, Any] = {
                "dataset": dataset,
                "read": report.read,
                "added": report.added,
                "unchanged": report.unchanged,
                "failed": report.failed,
                "conflicts": report.conflicts,
                "aborted": report.aborted,
                "formats": report.formats,
                "segmenter": segmenter_name,
                "errors": [e.model_dump() for e in report.errors],
            }
            print_json(payload)
        else:
            for line in _report_lines(report, dataset, SHOWN_ERRORS):
                typer.echo(line)
        if not report.ok:
            raise typer.Exit(1)

    @app.command("export", help=EXPORT_HELP)
    def export_cmd(
        fmt: str = typer.Option(..., "--format", help="bbm, processbench, trl, prm800k, ..."),
        out: Path = typer.Option(..., "--out", help="File (or folder for hf) to write."),
        datasets: list[str] | None = typer.Option(
            None, "--dataset", help="Dataset to export (repeat for several; default all)."
        ),
        tasks: list[str] | None = typer.Option(None, "--task", help="Only this task (repeatable)."),
        labelled_only: bool = typer.Option(
            False, "--labelled-only", help="Leave out traces without the chosen label."
        ),
        labels: str = typer.Option(
            "dataset", "--labels", help="dataset | majority | adjudicated | annotator:NAME"
        ),
        as_json: bool = typer.Option(False, "--json", help="Print the report as JSON."),
    ) -> None:
        from tqdm import tqdm

        from trace_store.filters import TraceFilter
        from trace_store.formats import export_traces

        flt = TraceFilter(datasets=datasets or None, tasks=tasks or None)
        with (
            open_cli_store() as store,
            tqdm(unit=" traces", file=sys.stderr, disable=None, desc="export") as bar,
        ):
            try:
                report = export_traces(
                    store,
                    flt,
                    fmt,
                    out,
                    labels=labels,
                    labelled_only=labelled_only,
                    progress=bar.update,
                )
            except ValueError as exc:
                fail(str(exc))
            except OSError as exc:
                fail(f"cannot write {out}: {exc.strerror or exc}")
        if as_json:
            print_json(report)
            return
        line = f"wrote {report.written} {fmt} records to {report.path}"
        if report.skipped_unlabelled:
            line += f" ({report.skipped_unlabelled} traces with no {labels!r} label left out)"
        typer.echo(line)
        if report.sidecar:
            typer.echo(f"format_version and provenance in {report.sidecar}")
