"""Helpers of the LM page tests: a short prompt file and a store with labelled source traces."""

from __future__ import annotations

from pathlib import Path

SHORT_PROMPT = """
task = "multistep_arithmetic"
answer = "number"
max_steps = 4
question = "{input}"

[[examples]]
input = "(1 + 2) ="
target = "3"
steps = ["Let's calculate A = (1 + 2) = 3.", "So the answer is 3"]
"""
"""A one-example template with a four-step limit, so the tiny model's prompts stay short."""

SOURCE_DATASET = "src"


def write_short_prompt(folder: Path) -> Path:
    """Return the path of SHORT_PROMPT written as a .toml file under ``folder``."""
    path = Path(folder) / "short_prompt.toml"
    path.write_text(SHORT_PROMPT, encoding="utf-8")
    return path


def seed_source_store(url: str):
    """Return an open store at ``url`` holding tests.lm_helpers' source traces and labels.

    Two of the four traces carry a dataset first-mistake label (steps 2 and 1); the other two
    are labelled "no mistake".
    """
    from tests.lm_helpers import source_items
    from trace_store import open_store

    store = open_store(url)
    store.add_traces(source_items(SOURCE_DATASET))
    return store
