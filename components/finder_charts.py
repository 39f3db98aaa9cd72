"""Mistake-finder figures and tables: scores beside baselines, confusion by relative position.

Pure functions (pandas / plotly), so a test checks exactly what the finder page draws.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd
import plotly.graph_objects as go


def scores_frame(rows: Mapping[str, Any]) -> pd.DataFrame:
    """Return one row per predictor (finder, baselines) with its Scores' columns."""
    records = []
    for name, s in rows.items():
        d = s.to_dict() if hasattr(s, "to_dict") else dict(s)
        records.append(
            {
                "predictor": name,
                "traces": d["n"],
                "location accuracy": round(d["location_accuracy"], 3),
                "with mistake": round(d["accuracy_with_mistake"], 3),
                "without mistake": round(d["accuracy_without_mistake"], 3),
                "harmonic mean": round(d["harmonic_mean"], 3),
            }
        )
    return pd.DataFrame.from_records(records)


def confusion_figure(counts: Sequence[Sequence[int]], bins: Sequence[str]) -> go.Figure:
    """Return a heatmap of counts[label bin][predicted bin] (relative position in the trace)."""
    z = [list(row) for row in counts]
    fig = go.Figure(
        go.Heatmap(
            z=z,
            x=list(bins),
            y=list(bins),
            colorscale="Blues",
            text=z,
            texttemplate="%{text}",
            hovertemplate="label %{y}<br>predicted %{x}<br>%{z} traces<extra></extra>",
        )
    )
    fig.update_layout(
        xaxis_title="predicted first mistake (relative position)",
        yaxis_title="labelled first mistake",
        yaxis_autorange="reversed",
        height=420,
        margin={"l": 10, "r": 10, "t": 30, "b": 10},
    )
    return fig


def saved_finders(root: Path) -> list[Path]:
    """Return the folders directly under ``root`` that hold a finder.json, sorted by name."""
    if not root.is_dir():
        return []
    return sorted(p for p in root.iterdir() if (p / "finder.json").is_file())
