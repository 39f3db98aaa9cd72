"""A saved mistake finder's files: reading and checking finder.json, writing the model card.

``read_config`` turns every way a folder can fail to be a finder (missing, not a folder, no
finder.json, broken JSON, another kind of file, a newer format, a missing field) into a
FinderError naming the file and the field. ``write_card`` renders MODEL_CARD.md from the config:
the data and labels the finder was trained on, its features and head, the encoder, and every
metric recorded so far (validation at training time, then each evaluation).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from analyzers.finder_training import FinderError
from trace_store.schema import FORMAT_VERSION

CONFIG_FILE = "finder.json"
HEAD_FILE = "head.npz"
CARD_FILE = "MODEL_CARD.md"
ENCODER_DIR = "encoder"
FINDER_KIND = "thoughtscope-mistake-finder"
"""The ``kind`` field every finder.json carries."""

REQUIRED_FIELDS: dict[str, type | tuple[type, ...]] = {
    "kind": str,
    "format_version": int,
    "head": str,
    "groups": list,
    "threshold": (int, float),
    "n_features": int,
}


def read_config(folder: Path) -> dict[str, Any]:
    """Return the checked finder.json of ``folder``; FinderError saying what is wrong."""
    import orjson

    expected = f"expected a folder written by train-finder, holding {CONFIG_FILE} and {HEAD_FILE}"
    if not folder.exists():
        raise FinderError(f"{folder}: does not exist ({expected})")
    if not folder.is_dir():
        raise FinderError(f"{folder}: is a file, not a mistake-finder folder ({expected})")
    path = folder / CONFIG_FILE
    if not path.is_file():
        raise FinderError(f"{folder}: not a mistake-finder folder, no {CONFIG_FILE} ({expected})")
    try:
        config = orjson.loads(path.read_bytes())
    except orjson.JSONDecodeError as exc:
        raise FinderError(f"{path}: line {exc.lineno}: not valid JSON ({exc.msg})") from exc
    if not isinstance(config, dict):
        raise FinderError(f"{path}: expected a JSON object, found {type(config).__name__}")
    if config.get("kind") != FINDER_KIND:
        raise FinderError(
            f"{path}: field 'kind' is {config.get('kind')!r}, expected {FINDER_KIND!r} "
            f"(this is not a mistake-finder model)"
        )
    for name, kind in REQUIRED_FIELDS.items():
        if not isinstance(config.get(name), kind):
            raise FinderError(f"{path}: field '{name}' is missing or of the wrong type")
    if config["format_version"] > FORMAT_VERSION:
        raise FinderError(
            f"{path}: field 'format_version' is {config['format_version']}, newer than this "
            f"Thoughtscope understands ({FORMAT_VERSION}); upgrade Thoughtscope"
        )
    if config["head"] not in ("logreg", "mlp"):
        raise FinderError(f"{path}: field 'head' is {config['head']!r}, expected logreg or mlp")
    if not (folder / HEAD_FILE).is_file():
        raise FinderError(f"{folder}: {HEAD_FILE} is missing ({expected})")
    return config


def _scores_table(rows: dict[str, dict[str, Any]]) -> list[str]:
    lines = [
        "| | traces | location accuracy | with mistake | without mistake | harmonic mean |",
        "|---|---|---|---|---|---|",
    ]
    for name, s in rows.items():
        lines.append(
            f"| {name} | {s['n']} | {s['location_accuracy']:.3f} | "
            f"{s['accuracy_with_mistake']:.3f} | {s['accuracy_without_mistake']:.3f} | "
            f"{s['harmonic_mean']:.3f} |"
        )
    return lines


def card_text(config: dict[str, Any]) -> str:
    """Return the model card (Markdown) for a finder config."""
    data = config.get("data", {})
    training = config.get("training", {})
    enc = config.get("encoder")
    tasks = data.get("tasks") or []
    excluded = data.get("excluded_tasks") or []
    lines = [
        f"# Mistake finder `{config.get('name', 'finder')}`",
        "",
        "Scores P(step i is the first mistake) from the question and the steps up to i; the "
        "trace's prediction is its first step over the threshold, else 'no mistake'. Written "
        "by `python cli.py train-finder`; suggestions it makes carry agent "
        f"`finder:{config.get('name', 'finder')}`.",
        "",
        "## Data and labels",
        f"- dataset: `{data.get('dataset', 'unknown')}`"
        + (f", tasks: {', '.join(tasks)}" if tasks else "")
        + (f", excluded tasks: {', '.join(excluded)}" if excluded else ""),
        f"- labels: first-mistake labels by `{data.get('annotator', 'unknown')}`",
        f"- traces: {data.get('n_traces')} ({_split_text(config)}); training steps: "
        f"{data.get('n_train_steps')}, training traces with a mistake: "
        f"{data.get('n_train_with_mistake')}",
        "",
        "## Model",
        f"- head: `{config['head']}` {_head_detail(config)}; features: "
        f"{', '.join(config['groups'])} ({config['n_features']} columns)",
        f"- threshold (chosen on the validation predictions): {config['threshold']:.4f}; "
        f"embedding-column weight {training.get('embedding_weight', '?')}",
        "- encoder: "
        + (
            f"`{enc['name']}` ({enc['source']}, fingerprint {enc['fingerprint']}, "
            f"{enc['dim']} dims, max length {enc['max_length']})"
            if enc
            else "none (no embedding features)"
        ),
        f"- training time: {training.get('seconds', '?')} s (head and threshold; "
        "embeddings cached)",
        "",
        "## Metrics",
        "Location accuracy: the predicted first mistake is the labelled step, or both say 'no "
        "mistake'. Harmonic mean of the accuracies on traces with and without a mistake "
        "(ProcessBench's F1).",
        "",
    ]
    if training.get("validation"):
        if training.get("validation_mode") == "tasks":
            lines.append(
                "Cross-task validation (each training task predicted by a head fitted on the "
                "others; these predictions chose the settings and threshold, so slightly "
                "optimistic):"
            )
        else:
            lines.append("Validation split (used to choose the threshold, so optimistic):")
        lines.append("")
        lines.extend(_scores_table({"finder": training["validation"]}))
        lines.append("")
    for ev in config.get("evaluations", []):
        lines.append(f"Evaluation on {ev.get('description', 'labelled traces')}:")
        lines.append("")
        rows = {"finder": ev["finder"], **ev.get("baselines", {})}
        lines.extend(_scores_table(rows))
        lines.append("")
    lines += [
        "## Limits",
        "- Trained on the labels above only; on another kind of trace, evaluate it first "
        "(`python cli.py evaluate-finder`).",
        "- The checker features fire only where a step checker applies (arithmetic, Countdown, "
        "Dyck, word sorting, shuffled objects, logical deduction).",
        "",
    ]
    return "\n".join(lines)


def _split_text(config: dict[str, Any]) -> str:
    data, training = config.get("data", {}), config.get("training", {})
    if training.get("validation_mode") == "tasks":
        held = ", ".join(training.get("validation_tasks", []))
        return f"all trained on; validated by holding out each task in turn: {held}"
    return f"{data.get('n_train')} train, {data.get('n_validation')} validation"


def _head_detail(config: dict[str, Any]) -> str:
    training = config.get("training", {})
    if config["head"] == "logreg" and "C" in training:
        return f"(C = {training['C']})"
    if config["head"] == "mlp" and "best_epoch" in training:
        return f"(best epoch {training['best_epoch']} of {training.get('epochs_run')})"
    return ""


def write_card(path: Path, config: dict[str, Any]) -> None:
    """Write the model card for ``config`` to ``path``."""
    path.write_text(card_text(config), encoding="utf-8")


def record_evaluation(folder: Path, description: str, summary: dict[str, Any]) -> None:
    """Append an evaluation summary to a saved finder's finder.json and re-render its card."""
    import orjson

    config = read_config(folder)
    config.setdefault("evaluations", []).append({"description": description, **summary})
    (folder / CONFIG_FILE).write_bytes(orjson.dumps(config, option=orjson.OPT_INDENT_2))
    write_card(folder / CARD_FILE, config)
