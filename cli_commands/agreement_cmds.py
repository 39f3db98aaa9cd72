"""`agreement` verb: how far the annotators of a dataset agree (and agree with its own labels)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import typer

from cli_commands.common import fail, open_cli_store, print_json

if TYPE_CHECKING:
    from analyzers.agreement import AgreementReport, Disagreement
    from analyzers.agreement_stats import Statistic

AGREEMENT_HELP = """Print how far the annotators of a dataset agree, from their submitted labels.

Figures: exact match of the first-mistake index (pooled over every pair of annotators on every
trace both labelled, and per pair); Cohen's kappa per pair and Krippendorff's alpha over all
annotators (nominal, and ordinal with -1 < 0 < +1) on step judgements -- step ratings where a
label has them, else derived from the first mistake (steps before it +1, the mistake -1, later
steps not judged, "no mistake" = all +1); each annotator against the dataset's own labels
(annotator dataset:NAME); the confusion of first mistakes (earlier one as row, steps grouped
when many); the traces whose annotators disagree -- on the first mistake, on a step's rating or
on a step's behaviour corrections, the same rule as the Adjudicate page's queue -- with how many
disagree on each. A figure that is undefined (one annotator, no shared traces, every rating the
same) prints as "-" with the reason. Drafts never count.

Example:

\b
    python cli.py agreement --dataset bbm
    python cli.py agreement --dataset bbm --json > agreement.json
"""

SHOWN_DISAGREEMENTS = 20


def _table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """Return ``rows`` as aligned plain text under ``headers``."""
    cells = [[str(h) for h in headers]] + [["" if v is None else str(v) for v in r] for r in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    return "\n".join(
        "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in cells
    )


def _fig(stat: Statistic, digits: int = 3) -> str:
    return "-" if stat.value is None else f"{stat.value:.{digits}f}"


def _mistake(value: int | None) -> str:
    if value is None:
        return "-"
    return "none" if value == -1 else str(value)


def _adjudicated(d: Disagreement) -> str:
    """Return the ADJUDICATED cell: the final first mistake, or "decided" when it gives none."""
    if d.is_adjudicated and d.adjudicated is None:
        return "decided"  # a final label of ratings or behaviours only
    return _mistake(d.adjudicated)


def render_report(report: AgreementReport) -> str:
    """Return the agreement report as the plain text the CLI prints."""
    lines = [
        f"Agreement on dataset {report.dataset!r}: {report.n_traces} trace(s) with submitted "
        f"human labels, {report.n_traces_overlap} labelled by two or more annotators",
    ]
    if not report.annotators:
        lines.append("No submitted human labels yet: nothing to compare.")
        lines += [f"note: {n}" for n in report.notes]
        return "\n".join(lines)
    lines.append("Annotators: " + ", ".join(f"{a.name} ({a.n_labels})" for a in report.annotators))
    exact = report.first_mistake_exact
    if exact.value is None:
        lines.append(f"First mistake, exact match: - ({exact.reason})")
    else:
        lines.append(
            f"First mistake, exact match: {exact.value:.3f} over {exact.n} pairwise "
            f"comparison(s); all annotators agree on {report.n_unanimous} of "
            f"{report.n_traces_overlap} shared trace(s)"
        )
    for level, stat in (("nominal", report.alpha_nominal), ("ordinal", report.alpha_ordinal)):
        why = f" ({stat.reason})" if stat.value is None else f" over {stat.n} step judgement(s)"
        lines.append(f"Krippendorff's alpha, {level}, on step judgements: {_fig(stat)}{why}")
    undefined: list[str] = []
    if report.pairs:
        rows = []
        for p in report.pairs:
            rows.append(
                [p.a, p.b, p.n_shared, p.n_agree, _fig(p.exact_match), _fig(p.kappa), p.kappa.n]
            )
            if p.kappa.value is None:
                undefined.append(f"kappa {p.a} / {p.b}: {p.kappa.reason}")
        lines += ["", "Pairs (kappa on the steps both judged):"]
        lines.append(_table(("A", "B", "TRACES", "SAME", "EXACT", "KAPPA", "STEPS"), rows))
    if report.reference:
        rows = []
        for r in report.reference:
            rows.append(
                [
                    r.annotator,
                    r.reference,
                    r.n_shared,
                    _fig(r.exact_match),
                    r.n_earlier,
                    r.n_later,
                    _fig(r.kappa),
                    r.kappa.n,
                ]
            )
            if r.kappa.value is None and r.n_shared:
                undefined.append(f"kappa {r.annotator} / {r.reference}: {r.kappa.reason}")
        lines += [
            "",
            "Against the dataset's labels (EARLIER/LATER: annotator's mistake vs theirs):",
        ]
        lines.append(
            _table(
                ("ANNOTATOR", "REFERENCE", "TRACES", "EXACT", "EARLIER", "LATER", "KAPPA", "STEPS"),
                rows,
            )
        )
    if undefined:
        lines += ["", *undefined]
    if any(any(row) for row in report.confusion):
        width = "" if report.confusion_width == 1 else f", {report.confusion_width} steps a group"
        lines += ["", f"First mistakes on shared traces (row: the earlier one{width}):"]
        axis = report.confusion_axis
        lines.append(
            _table(
                ["", *axis],
                [[name, *row] for name, row in zip(axis, report.confusion, strict=True)],
            )
        )
    if report.disagreements:
        open_ = sum(1 for d in report.disagreements if not d.is_adjudicated)
        lines += [
            "",
            f"Disagreements: {len(report.disagreements)} trace(s), {open_} not adjudicated yet; "
            f"on {report.disagreement_counts.text()}",
        ]
        rows = [
            [
                d.trace_id,
                ", ".join(f"{a}={_mistake(m)}" for a, m in d.mistakes.items()) or "-",
                _mistake(d.reference),
                _adjudicated(d),
                "; ".join(d.topics()),
            ]
            for d in report.disagreements[:SHOWN_DISAGREEMENTS]
        ]
        lines.append(
            _table(("TRACE", "FIRST MISTAKES", "DATASET", "ADJUDICATED", "DISAGREE ON"), rows)
        )
        if len(report.disagreements) > SHOWN_DISAGREEMENTS:
            lines.append(f"... and {len(report.disagreements) - SHOWN_DISAGREEMENTS} more (--json)")
    lines += [f"note: {n}" for n in report.notes]
    return "\n".join(lines)


def register(app: typer.Typer) -> None:
    """Add the ``agreement`` verb to ``app``."""

    @app.command("agreement", help=AGREEMENT_HELP)
    def agreement_cmd(
        dataset: str = typer.Option(..., "--dataset", help="Dataset whose labels to compare."),
        as_json: bool = typer.Option(False, "--json", help="Print the report as JSON."),
    ) -> None:
        from analyzers.agreement import load_report
        from trace_store.filters import TraceFilter

        with open_cli_store() as store:
            if store.count_traces(TraceFilter(datasets=[dataset]), cap=1) == 0:
                known = ", ".join(sorted(d.name for d in store.datasets())) or "none"
                fail(f"--dataset: no dataset {dataset!r} in the store (datasets: {known})")
            report = load_report(store, dataset)
        if as_json:
            print_json(report.to_dict())
            return
        typer.echo(render_report(report))
