"""Values of the labelling verbs' options: --mistake-step, --ratings, --behaviors (parsed, or a
one-line error naming the option and the bad item), and an adjudication's decision in words."""

from __future__ import annotations

from typing import TYPE_CHECKING

from cli_commands.common import fail

if TYPE_CHECKING:
    from trace_store.schema import Label


def parse_mistake_step(text: str | None) -> int | None:
    """Return the first mistake for --mistake-step: an index, -1 for `none`, None if absent."""
    if text is None:
        return None
    value = text.strip().lower()
    if value in ("none", "no", "-1"):
        return -1
    if value.isdigit():
        return int(value)
    fail(f"--mistake-step: expected a step index (0, 1, ...) or 'none', got {text!r}")


def parse_ratings(text: str | None) -> list[int | None] | None:
    """Return the per-step ratings of --ratings ("1,0,-1,?"), or None when absent."""
    if text is None:
        return None
    ratings: list[int | None] = []
    for position, item in enumerate(text.split(","), start=1):
        item = item.strip()
        if item in ("", "?"):
            ratings.append(None)
        elif item in ("1", "+1", "0", "-1"):
            ratings.append(int(item))
        else:
            fail(
                f"--ratings item {position}: expected 1, 0, -1, or ? or nothing for unrated, "
                f"got {item!r} (in {text!r})"
            )
    return ratings


BEHAVIORS_EXAMPLE = "3=backtracking+verification;5="


def parse_behaviors(text: str | None) -> dict[int, list[str]] | None:
    """Return the behaviour corrections of --behaviors ("3=backtracking+verification;5="), or
    None when absent.

    Items are ``STEP=NAMES`` joined with ``;``; names are joined with ``+`` (or ``,``), case and
    ``-`` for ``_`` do not matter, and an empty NAMES (or ``none``) corrects the step to no
    behaviour. Behaviours come back in the schema's order, each once.
    """
    from trace_store.schema import BEHAVIORS

    if text is None:
        return None
    corrections: dict[int, list[str]] = {}
    items = [item.strip() for item in text.split(";")]
    for position, item in enumerate(items, start=1):
        if not item:
            continue  # "3=verification;" leaves an empty last item
        where = f"--behaviors item {position} ({item!r})"
        step_text, sep, names_text = item.partition("=")
        step_text = step_text.strip()
        if not sep:
            fail(f"{where}: expected STEP=BEHAVIOURS, e.g. {BEHAVIORS_EXAMPLE!r}")
        if not step_text.isdigit():
            fail(f"{where}: expected a step index (0, 1, ...) before '=', got {step_text!r}")
        step = int(step_text)
        if step in corrections:
            fail(f"{where}: step {step} is given twice")
        names = [
            n.strip().lower().replace("-", "_") for n in names_text.replace(",", "+").split("+")
        ]
        names = [n for n in names if n and n != "none"]
        unknown = [n for n in names if n not in BEHAVIORS]
        if unknown:
            fail(
                f"{where}: unknown behaviour {unknown[0]!r}; expected {', '.join(BEHAVIORS)} "
                "(joined with +), or nothing after '=' for none"
            )
        corrections[step] = [b for b in BEHAVIORS if b in names]
    if not corrections:
        fail(f"--behaviors: no step given in {text!r}; expected e.g. {BEHAVIORS_EXAMPLE!r}")
    return corrections


def decision_text(label: Label) -> str:
    """Return what a label says, in words (for the CLI's one-line answers)."""
    mistake = {None: "not decided", -1: "no mistake"}.get(
        label.first_mistake, f"step {label.first_mistake}"
    )
    parts = [f"first mistake {mistake}"]
    if label.step_ratings is not None:
        parts.append(f"{sum(r is not None for r in label.step_ratings)} step(s) rated")
    if label.behavior_corrections is not None:
        parts.append(f"behaviours of {len(label.behavior_corrections)} step(s) corrected")
    return "; ".join(parts)
