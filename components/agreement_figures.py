"""Figures of the Agreement page: the first-mistake confusion heatmap and agreement bars.

They only draw numbers an AgreementReport already holds. Annotator names go into plotly text
escaped, because plotly renders a subset of HTML in titles, ticks and hover labels.
"""

from __future__ import annotations

import html
from collections.abc import Sequence

import plotly.graph_objects as go

from analyzers.agreement import AgreementReport

EXACT_COLOR = "#1f77b4"
KAPPA_COLOR = "#ff7f0e"


def _esc(text: str) -> str:
    # Plotly decodes &lt; &gt; &amp; but shows &quot; literally: escape tags, leave quotes.
    return html.escape(text, quote=False)


def confusion_figure(
    axis: Sequence[str],
    matrix: Sequence[Sequence[int]],
    *,
    title: str,
    row_title: str,
    column_title: str,
    unit: str = "traces",
    height: int = 480,
) -> go.Figure:
    """Return a heatmap of first-mistake counts (rows top to bottom, zero cells left blank).

    The diagonal is where both named the same first mistake (or, with grouped steps, the
    same group); everything off it is a disagreement. ``unit`` names what a cell counts.
    """
    names = [str(a) for a in axis]
    text = [[str(v) if v else "" for v in row] for row in matrix]
    fig = go.Figure(
        go.Heatmap(
            z=[list(row) for row in matrix],
            x=names,
            y=names,
            text=text,
            texttemplate="%{text}",
            colorscale="Blues",
            showscale=True,
            colorbar={"title": {"text": _esc(unit)}},
            xgap=1,
            ygap=1,
            hovertemplate=(
                _esc(row_title) + ": %{y}<br>" + _esc(column_title) + ": %{x}<br>"
                "%{z} " + _esc(unit) + "<extra></extra>"
            ),
        )
    )
    fig.update_layout(
        title={"text": _esc(title), "y": 0.98, "yanchor": "top"},
        height=height,
        margin={"l": 10, "r": 10, "t": 110, "b": 10},
        xaxis={"title": {"text": _esc(column_title)}, "side": "top", "type": "category"},
        yaxis={"title": {"text": _esc(row_title)}, "autorange": "reversed", "type": "category"},
        plot_bgcolor="#fafafa",
    )
    return fig


def _bars(
    labels: list[str],
    exact: list[float | None],
    kappa: list[float | None],
    title: str,
    x_title: str,
) -> go.Figure:
    fig = go.Figure()
    for name, values, color in (
        ("exact first-mistake match", exact, EXACT_COLOR),
        ("Cohen's kappa (steps)", kappa, KAPPA_COLOR),
    ):
        fig.add_trace(
            go.Bar(
                x=labels,
                y=values,
                name=name,
                marker_color=color,
                text=["undefined" if v is None else f"{v:.2f}" for v in values],
                textposition="outside",
                hovertemplate="%{x}: %{y:.3f}<extra>" + name + "</extra>",
            )
        )
    fig.update_layout(
        title={"text": _esc(title)},
        barmode="group",
        height=360,
        margin={"l": 10, "r": 10, "t": 50, "b": 40},
        legend={"orientation": "h", "y": -0.2, "yanchor": "top"},
        yaxis={"range": [min(-0.1, *(v for v in kappa if v is not None)) - 0.05, 1.12]},
        xaxis_title=_esc(x_title),
    )
    return fig


def pairs_figure(report: AgreementReport) -> go.Figure:
    """Return grouped bars of exact first-mistake match and Cohen's kappa for each pair."""
    return _bars(
        [_esc(f"{p.a} · {p.b}") for p in report.pairs],
        [p.exact_match.value for p in report.pairs],
        [p.kappa.value for p in report.pairs],
        "Agreement of each pair of annotators",
        "annotator pair",
    )


def reference_figure(report: AgreementReport) -> go.Figure:
    """Return grouped bars of each annotator's agreement with the dataset's own labels."""
    several = len({r.reference for r in report.reference}) > 1
    return _bars(
        [
            _esc(f"{r.annotator} · {r.reference}" if several else r.annotator)
            for r in report.reference
        ],
        [r.exact_match.value for r in report.reference],
        [r.kappa.value for r in report.reference],
        "Agreement with the dataset's own labels",
        "annotator",
    )
