"""The Trace page's interactive figure: search tree, behaviour graph or linear view (plotly).

``build_tree_figure`` is a pure function of plain data (no Streamlit), so tests check the figure
without a browser. Edges are one ``Scattergl`` trace per kind; nodes are one ``Scattergl`` trace
whose ``customdata`` is the step index (what a click selects). Step text goes into hover labels
only escaped and truncated (see components.safe_text.hover_text).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import networkx as nx
import plotly.graph_objects as go

from components.safe_text import (
    BEHAVIOR_COLORS,
    HOVER_MAX_CHARS,
    NO_BEHAVIOR_COLOR,
    hover_text,
)
from trace_store.schema import BEHAVIORS, BehaviorTag, Trace

VIEWS: tuple[str, ...] = ("tree", "graph", "linear")
"""The figure's views: reconstructed search tree, behaviour graph (attempt lanes), linear."""

EDGE_STYLES: dict[str, dict[str, Any]] = {
    "next": {"color": "#bdbdbd", "width": 1.2, "dash": "solid", "name": "next step"},
    "tree": {"color": "#bdbdbd", "width": 1.2, "dash": "solid", "name": "search tree"},
    "backtrack_to": {"color": "#d62728", "width": 1.6, "dash": "dash", "name": "backtrack to"},
    "verifies": {"color": "#2ca02c", "width": 1.4, "dash": "dot", "name": "verifies"},
    "subgoal_of": {"color": "#1f77b4", "width": 1.2, "dash": "dashdot", "name": "subgoal of"},
}
"""How each edge kind is drawn; unknown kinds fall back to a grey dotted line."""

FINAL_PATH_STYLE = {"color": "#212121", "width": 3.0, "name": "path to answer"}

ARC_POINTS = 8
NODE_LABEL_LIMIT = 80
"""Figures with at most this many nodes print each node's step number beside it."""


def primary_behavior(behaviors: Iterable[str]) -> str | None:
    """Return the behaviour that colours a node: the first of ``behaviors`` in display order."""
    present = set(behaviors)
    return next((b for b in BEHAVIORS if b in present), None)


def behaviors_by_step(tags: Iterable[BehaviorTag]) -> dict[int, list[str]]:
    """Return step index → behaviour names (display order, no repeats)."""
    found: dict[int, set[str]] = {}
    for tag in tags:
        found.setdefault(tag.step, set()).add(tag.behavior)
    return {step: [b for b in BEHAVIORS if b in names] for step, names in found.items()}


def _node_steps(graph: nx.DiGraph, node: Any) -> list[int]:
    """Return the step indices a node stands for (several when a chain was collapsed)."""
    steps = graph.nodes[node].get("members")
    if steps:
        return [int(s) for s in steps]
    return [int(node)] if isinstance(node, int) else []


def _arc(x0: float, y0: float, x1: float, y1: float, bulge: float, vertical: bool) -> tuple:
    """Return x and y points of a curved edge between two points on the same line."""
    xs, ys = [], []
    for i in range(ARC_POINTS + 1):
        t = i / ARC_POINTS
        lift = 4 * t * (1 - t) * bulge
        # Rounded: full float precision would triple the figure's JSON for nothing.
        if vertical:
            xs.append(round(x0 + (x1 - x0) * t + lift, 3))
            ys.append(round(y0 + (y1 - y0) * t, 3))
        else:
            xs.append(round(x0 + (x1 - x0) * t, 3))
            ys.append(round(y0 + (y1 - y0) * t + lift, 3))
    return xs, ys


def _edge_points(
    edges: Sequence[tuple[Any, Any]],
    layout: Mapping[Any, tuple[float, float]],
    *,
    curved: bool,
    sign: float,
) -> tuple[list[float | None], list[float | None]]:
    """Return the x/y arrays (None-separated) drawing ``edges`` as lines or arcs."""
    xs: list[float | None] = []
    ys: list[float | None] = []
    for u, v in edges:
        if u not in layout or v not in layout:
            continue
        (x0, y0), (x1, y1) = layout[u], layout[v]
        same_x, same_y = math.isclose(x0, x1), math.isclose(y0, y1)
        if curved and (same_x or same_y) and not (same_x and same_y):
            span = abs(y1 - y0) if same_x else abs(x1 - x0)
            if span > 1.01:
                ax, ay = _arc(x0, y0, x1, y1, sign * 0.35 * math.sqrt(span), vertical=same_x)
                xs.extend([*ax, None])
                ys.extend([*ay, None])
                continue
        xs.extend([x0, x1, None])
        ys.extend([y0, y1, None])
    return xs, ys


def _mistake_steps(labels: Iterable[Any]) -> set[int]:
    """Return the first-mistake steps of submitted labels (human or dataset), ignoring -1."""
    out = set()
    for label in labels:
        if getattr(label, "status", "submitted") != "submitted":
            continue
        fm = getattr(label, "first_mistake", None)
        if fm is not None and fm >= 0:
            out.add(int(fm))
    return out


def _suggested_steps(suggestions: Iterable[Any]) -> set[int]:
    """Return the steps model suggestions name as first mistake."""
    out = set()
    for s in suggestions:
        if getattr(s, "kind", None) != "first_mistake":
            continue
        value = s.value if s.value is not None else s.step
        try:
            index = int(value)
        except (TypeError, ValueError):
            continue
        if index >= 0:
            out.add(index)
    return out


def _node_hover(
    trace: Trace, steps: list[int], behaviors: list[str], marks: list[str], chars: int
) -> str:
    """Return one node's escaped hover label."""
    first = steps[0]
    if len(steps) > 1:
        head = f"Steps {first}–{steps[-1]} ({len(steps)} steps, collapsed)"
    else:
        head = f"Step {first}"
    if marks:
        head += " · " + ", ".join(marks)
    if behaviors:
        head += "<br>" + ", ".join(behaviors)
    text = trace.steps[first].text if 0 <= first < len(trace.steps) else ""
    return f"<b>{head}</b><br>{hover_text(text, chars)}"


def build_tree_figure(
    trace: Trace,
    tree: Any,
    layout: Mapping[Any, tuple[float, float]],
    tags: Sequence[BehaviorTag],
    labels: Sequence[Any],
    suggestions: Sequence[Any],
    selected_step: int | None,
    view: str,
    *,
    final_path: Iterable[Any] | None = None,
    height: int = 640,
) -> go.Figure:
    """Return the plotly figure of ``tree`` (a DiGraph, or an object with ``.graph``).

    Nodes are coloured by their first behaviour, the path to the final answer is drawn thick,
    the labelled first mistake(s) get a red ring, the model-suggested one an orange diamond and
    the selected step a black ring. Nodes standing for several steps (collapsed chains, node
    attribute ``steps``) select their first step. Zoom and pan survive reruns (uirevision).
    """
    graph: nx.DiGraph = tree if isinstance(tree, nx.Graph) else tree.graph
    if final_path is None:
        final_path = getattr(tree, "final_path", None) or ()
    on_path = set(final_path)
    by_step = behaviors_by_step(tags)
    mistakes = _mistake_steps(labels)
    suggested = _suggested_steps(suggestions)
    # Traces are collected as plain dicts and validated once, when the Figure is made: that
    # is several times faster than building go.Scattergl objects one by one.
    traces_out: list[dict[str, Any]] = []
    # Edges: one trace per kind; path-to-answer edges drawn once more, thick, underneath.
    by_kind: dict[str, list[tuple[Any, Any]]] = {}
    path_edges = []
    for u, v, data in graph.edges(data=True):
        kind = data.get("kind") or ("tree" if view == "tree" else "next")
        by_kind.setdefault(kind, []).append((u, v))
        if u in on_path and v in on_path and kind in ("tree", "next"):
            path_edges.append((u, v))
    if path_edges:
        px, py = _edge_points(path_edges, layout, curved=False, sign=1.0)
        traces_out.append(
            dict(
                type="scattergl",
                x=px,
                y=py,
                mode="lines",
                hoverinfo="skip",
                name=FINAL_PATH_STYLE["name"],
                line={"color": FINAL_PATH_STYLE["color"], "width": FINAL_PATH_STYLE["width"]},
            )
        )
    # Level of detail: on a big graph the jump edges are thinner and see-through, so the
    # tree's shape still reads at full zoom-out.
    dense = graph.number_of_nodes() > 400
    for kind in sorted(
        by_kind, key=lambda k: list(EDGE_STYLES).index(k) if k in EDGE_STYLES else 99
    ):
        style = EDGE_STYLES.get(
            kind, {"color": "#9e9e9e", "width": 1.0, "dash": "dot", "name": kind}
        )
        jump = kind not in ("next", "tree")
        sign = -1.0 if kind == "verifies" else 1.0
        ex, ey = _edge_points(by_kind[kind], layout, curved=kind not in ("next", "tree"), sign=sign)
        traces_out.append(
            dict(
                type="scattergl",
                x=ex,
                y=ey,
                mode="lines",
                hoverinfo="skip",
                name=style["name"],
                opacity=0.45 if dense and jump else 1.0,
                line={
                    "color": style["color"],
                    "width": style["width"] * (0.6 if dense and jump else 1.0),
                    "dash": style["dash"],
                },
            )
        )

    nodes = [n for n in graph.nodes if n in layout]
    xs, ys, colors, sizes, outlines, widths, custom, hovers = [], [], [], [], [], [], [], []
    symbols: list[str] = []
    ring_points: dict[str, list[tuple[float, float, int]]] = {
        "mistake": [],
        "suggested": [],
        "selected": [],
    }
    big = len(nodes) > 400
    # Level of detail: shorter hover excerpts keep a 2,000-node figure's JSON small.
    hover_chars = HOVER_MAX_CHARS // 2 if big else HOVER_MAX_CHARS
    for node in nodes:
        steps = _node_steps(graph, node)
        first = steps[0] if steps else -1
        names = sorted({b for s in steps for b in by_step.get(s, [])}, key=BEHAVIORS.index)
        primary = primary_behavior(names)
        x, y = layout[node]
        xs.append(x)
        ys.append(y)
        colors.append(BEHAVIOR_COLORS[primary] if primary else NO_BEHAVIOR_COLOR)
        base = 6 if big else 11
        sizes.append(base + (5 if len(steps) > 1 else 0) + (2 if names else 0))
        symbols.append("square" if len(steps) > 1 else "circle")
        outlines.append("#212121" if node in on_path else "#ffffff")
        widths.append(1.5 if node in on_path else 0.5)
        custom.append(first)
        marks = []
        step_set = set(steps)
        if step_set & mistakes:
            marks.append("labelled first mistake")
            ring_points["mistake"].append((x, y, first))
        if step_set & suggested:
            marks.append("suggested mistake")
            ring_points["suggested"].append((x, y, first))
        if selected_step is not None and selected_step in step_set:
            marks.append("selected")
            ring_points["selected"].append((x, y, first))
        if node in on_path:
            marks.append("on path to answer")
        hovers.append(_node_hover(trace, steps, names, marks, hover_chars) if steps else "start")

    # Small figures name each node's step next to it; big ones rely on hover (level of detail).
    labelled = len(nodes) <= NODE_LABEL_LIMIT
    traces_out.append(
        dict(
            type="scattergl",
            x=xs,
            y=ys,
            mode="markers+text" if labelled else "markers",
            text=[str(c) if c >= 0 else "" for c in custom] if labelled else None,
            textposition="middle right",
            textfont={"size": 10, "color": "#616161"},
            name="steps",
            customdata=custom,
            hovertext=hovers,
            hoverinfo="text",
            showlegend=False,
            # A click selects one point; keep every other node fully visible all the same.
            selected={"marker": {"opacity": 1}},
            unselected={"marker": {"opacity": 1}},
            marker={
                "color": colors,
                "size": sizes,
                "symbol": symbols,
                "line": {"color": outlines, "width": widths},
            },
        )
    )
    ring_styles = {
        "mistake": ("labelled first mistake", "circle-open", "#b71c1c", 22),
        "suggested": ("suggested mistake", "diamond-open", "#ef6c00", 26),
        "selected": ("selected step", "circle-open", "#000000", 30),
    }
    for key, (name, symbol, color, size) in ring_styles.items():
        pts = ring_points[key]
        if not pts:
            continue
        traces_out.append(
            dict(
                type="scattergl",
                x=[p[0] for p in pts],
                y=[p[1] for p in pts],
                customdata=[p[2] for p in pts],
                mode="markers",
                name=name,
                hoverinfo="skip",
                marker={
                    "symbol": symbol,
                    "size": size,
                    "color": color,
                    "line": {"width": 3 if key != "selected" else 2.5, "color": color},
                },
            )
        )
    for b in BEHAVIORS:  # legend entries for node colours
        traces_out.append(
            dict(
                type="scattergl",
                x=[None],
                y=[None],
                mode="markers",
                name=b,
                hoverinfo="skip",
                marker={"color": BEHAVIOR_COLORS[b], "size": 10},
            )
        )
    layout_spec = dict(
        height=height,
        margin={"l": 10, "r": 10, "t": 36, "b": 10},
        showlegend=True,
        # Below the plot: above it the legend would sit under plotly's toolbar.
        legend={"orientation": "h", "y": -0.01, "yanchor": "top", "x": 0, "font": {"size": 11}},
        dragmode="pan",
        clickmode="event+select",
        hovermode="closest",
        uirevision=f"{trace.id}:{view}",
        plot_bgcolor="#ffffff",
        xaxis={"visible": False, "showgrid": False, "zeroline": False},
        yaxis={"visible": False, "showgrid": False, "zeroline": False},
    )
    return go.Figure(data=traces_out, layout=layout_spec)


def view_figure(
    trace: Trace,
    model: Any,
    tags: Sequence[BehaviorTag],
    labels: Sequence[Any],
    suggestions: Sequence[Any],
    selected_step: int | None,
    view: str,
    *,
    height: int = 640,
) -> go.Figure:
    """Return the plotly figure of a view model (``compute_view``'s graph, layout, final path)."""
    return build_tree_figure(
        trace,
        model.graph,
        model.layout,
        tags,
        labels,
        suggestions,
        selected_step,
        view,
        final_path=model.final_path,
        height=height,
    )


def step_from_selection(event: Any) -> int | None:
    """Return the step index a plotly selection event names (first point), or None."""
    if event is None:
        return None
    sel = (
        event.get("selection") if isinstance(event, Mapping) else getattr(event, "selection", None)
    )
    if sel is None:
        return None
    points = sel.get("points") if isinstance(sel, Mapping) else getattr(sel, "points", None)
    for point in points or []:
        value = point.get("customdata") if isinstance(point, Mapping) else None
        if isinstance(value, list):
            value = value[0] if value else None
        if isinstance(value, bool) or value is None:
            continue
        try:
            step = int(value)
        except (TypeError, ValueError):
            continue
        if step >= 0:
            return step
    return None
