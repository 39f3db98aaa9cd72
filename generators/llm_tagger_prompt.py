"""The LLM tagger's prompt and the reading of its answers: definitions, JSON extraction, spans.

The prompt gives the four behaviour definitions (Gandhi et al. 2025, judged per step, as in
issue 3 and the rule tagger's docstrings) with the everyday-sense traps, the question, a few
earlier steps as context and the numbered steps to tag, and asks for one JSON object:
``{"steps": [{"step": N, "behaviors": [{"behavior": NAME, "evidence": WORDS}]}]}``.

Reading is forgiving about the wrapping (``<think>`` blocks, ```json fences, prose around the
object, trailing commas, "subgoal setting" for "subgoal_setting") and strict about the content:
an unknown behaviour or a step number outside the window is dropped and counted. Evidence is
searched in the step verbatim (confidence 1.0), then ignoring case and runs of whitespace, or as
"first words ... last words" (0.9); evidence that is not in the step falls back to the whole step
at confidence 0.5, or is dropped, as the caller chooses (see ``locate_evidence``).
"""

from __future__ import annotations

import json
import re
from collections import Counter
from dataclasses import dataclass
from typing import Any

from trace_store.schema import BEHAVIORS

PROMPT_VERSION = "1"
"""Version of the prompt and of the reading of answers; bump it when either changes."""

CONF_VERBATIM = 1.0
"""Confidence of a tag whose evidence was found verbatim in its step."""
CONF_LOOSE = 0.9
"""Confidence when the evidence matched ignoring case/whitespace, or around an ellipsis."""
CONF_WHOLE_STEP = 0.5
"""Confidence of a tag whose evidence was not found (the whole step becomes the span)."""

MAX_QUESTION_CHARS = 2000
MAX_CONTEXT_STEP_CHARS = 400

DEFINITIONS = """\
- backtracking: the writer abandons the current path, approach or value and goes back to try \
another ("This doesn't work. Let's go back and try 8 - 2 instead.", "Wait, that's not right; \
let me redo the sum.").
- verification: the writer checks a result or intermediate value: substituting it back, \
recomputing it, or comparing it with the target or a condition ("Check: 6 * 4 = 24, which is the \
target.", "Plugging x = 3 back in gives 9 = 9.").
- subgoal_setting: the writer states an intermediate goal or a plan before carrying it out \
("First, find the area, then divide by the width.", "Next I need the number of red balls.").
- backward_chaining: the writer reasons from the goal back towards the givens ("To get 24 we need \
6 * 4, so we need 4 from 7 and 3.", "Working backwards from the last condition...")."""

TRAPS = """\
- cue words in their everyday sense or about someone else: "the bus waits", "a check for $120", \
"the waiter brings the check", "she came back home", "first prize", "the officer checks each \
passport";
- a hypothetical, negated or asked-about cue: "if this doesn't work", "no need to verify", \
"should we check?";
- words quoted from the problem, and the statement of the final answer;
- simply doing a calculation: "Let's calculate A = (3 + 4) = 7." is not subgoal_setting."""

INSTRUCTIONS = """\
Reply with one JSON object and nothing else, in this form:
{{"steps": [{{"step": {example}, "behaviors": [{{"behavior": "verification", "evidence": \
"words copied exactly from step {example}"}}]}}]}}
List only the steps to tag that show at least one behaviour. "behavior" is one of \
backtracking, verification, subgoal_setting, backward_chaining; "evidence" is the shortest run \
of words, copied exactly from that step, that shows it. If no step shows any behaviour, reply \
{{"steps": []}}.
JSON:"""


def _numbered(steps: list[str], first: int, limit: int | None = None) -> str:
    """Return ``steps`` as "[N] text" lines, N counting from ``first`` + 1."""
    lines = []
    for offset, text in enumerate(steps):
        if limit is not None and len(text) > limit:
            text = text[:limit] + " ..."
        lines.append(f"[{first + offset + 1}] {text}")
    return "\n".join(lines)


def build_tagging_prompt(
    steps: list[str], start: int, end: int, question: str | None, context_steps: int
) -> str:
    """Return the user message asking for the behaviours of steps[start:end] (numbered from 1).

    Up to ``context_steps`` steps before ``start`` are shown, shortened, as context not to tag.
    """
    parts = [
        "You label reasoning behaviours in a model's chain of thought, step by step.",
        "Label each step to tag with the behaviours it shows, from exactly these four:",
        DEFINITIONS,
        "A step may show several behaviours or none; most steps show none. Tag only what the "
        "writer does in that step. These do NOT count:",
        TRAPS,
    ]
    if question and question.strip():
        q = question.strip()
        if len(q) > MAX_QUESTION_CHARS:
            q = q[:MAX_QUESTION_CHARS] + " ..."
        parts.append(f"Question:\n{q}")
    first_context = max(0, start - context_steps)
    if first_context < start:
        context = _numbered(steps[first_context:start], first_context, MAX_CONTEXT_STEP_CHARS)
        parts.append(f"Earlier steps (context only, do not tag):\n{context}")
    parts.append(f"Steps to tag ({start + 1} to {end}):\n{_numbered(steps[start:end], start)}")
    parts.append(INSTRUCTIONS.format(example=start + 1))
    return "\n\n".join(parts)


def retry_prompt(user: str, problem: str) -> str:
    """Return ``user`` with a note that the previous answer could not be read, and why.

    The note changes the prompt, so a greedy model does not simply repeat its answer.
    """
    return (
        f"{user.removesuffix('JSON:').rstrip()}\n\n"
        f"Your previous answer could not be read ({problem}). Reply with only the JSON object, "
        "with short evidence quotes.\nJSON:"
    )


class MalformedOutput(ValueError):
    """The model's answer holds no readable tagging object; the message says what was wrong."""


@dataclass(frozen=True)
class StepClaim:
    """One behaviour the model claims for one step (0-based), with its quoted evidence."""

    step: int
    behavior: str
    evidence: str


_FENCE = re.compile(r"```(?:json|JSON)?\s*\n?(.*?)```", re.DOTALL)
_TRAILING_COMMA = re.compile(r",(\s*[}\]])")
_STEP_NUMBER = re.compile(r"^\s*(?:step\s*)?\[?(\d+)\]?\s*$", re.IGNORECASE)


def _is_tagging(value: Any) -> bool:
    """Return whether a decoded JSON value has the shape of a tagging answer."""
    if isinstance(value, dict):
        return isinstance(value.get("steps"), list)
    return (
        isinstance(value, list)
        and bool(value)
        and all(isinstance(v, dict) and "step" in v for v in value)
    )


def _scan(text: str) -> list[dict] | None:
    """Return the steps list of the first tagging-shaped JSON value in ``text``, if any."""
    decoder = json.JSONDecoder()
    for candidate in (text, _TRAILING_COMMA.sub(r"\1", text)):
        for m in re.finditer(r"[{\[]", candidate):
            try:
                value, _ = decoder.raw_decode(candidate, m.start())
            except ValueError:
                continue
            if _is_tagging(value):
                return value["steps"] if isinstance(value, dict) else value
    return None


def extract_tagging_object(text: str) -> list[dict]:
    """Return the "steps" list of the JSON answer in ``text`` (fences and prose allowed).

    Raises MalformedOutput when there is none.
    """
    if "<think>" in text and "</think>" not in text:
        raise MalformedOutput("the reasoning (<think>) never ended: raise max_tokens")
    answer = text.rsplit("</think>", 1)[-1]
    for fenced in _FENCE.findall(answer):
        found = _scan(fenced)
        if found is not None:
            return found
    found = _scan(answer)
    if found is not None:
        return found
    if not answer.strip():
        raise MalformedOutput("the answer was empty")
    shown = " ".join(answer.split())[:120]
    raise MalformedOutput(f'no JSON object with a "steps" list in the answer: {shown!r}')


def normalise_behavior(name: Any) -> str | None:
    """Return the schema behaviour ``name`` denotes ("Subgoal setting" too), or None."""
    if not isinstance(name, str):
        return None
    key = re.sub(r"[\s\-]+", "_", name.strip().lower()).replace("behaviour", "behavior")
    return key if key in BEHAVIORS else None


def _step_number(value: Any) -> int | None:
    """Return the 1-based step number given as 3, "3", "Step 3" or "[3]", else None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str):
        m = _STEP_NUMBER.match(value)
        return int(m.group(1)) if m else None
    return None


def read_claims(entries: list[Any], start: int, end: int) -> tuple[list[StepClaim], Counter]:
    """Return the claims for steps start..end-1 (0-based) in ``entries``, and what was dropped.

    Dropped reasons counted: ``bad_entry`` (not a step object), ``unknown_behavior``,
    ``step_out_of_range`` (a context step or one outside the window).
    """
    claims: list[StepClaim] = []
    dropped: Counter = Counter()
    for entry in entries:
        if not isinstance(entry, dict):
            dropped["bad_entry"] += 1
            continue
        number = _step_number(entry.get("step"))
        items = entry.get("behaviors", entry.get("behaviours"))
        if items is None and ("behavior" in entry or "behaviour" in entry):
            items = [entry]  # a flat {"step", "behavior", "evidence"} entry
        if number is None or not isinstance(items, list):
            dropped["bad_entry"] += 1
            continue
        for item in items:
            if isinstance(item, str):
                name, evidence = item, ""
            elif isinstance(item, dict):
                name = item.get("behavior", item.get("behaviour", item.get("name")))
                evidence = item.get("evidence", "")
            else:
                dropped["bad_entry"] += 1
                continue
            behavior = normalise_behavior(name)
            if behavior is None:
                dropped["unknown_behavior"] += 1
            elif not start < number <= end:
                dropped["step_out_of_range"] += 1
            else:
                text = evidence if isinstance(evidence, str) else ""
                claims.append(StepClaim(number - 1, behavior, text))
    return claims, dropped


def _folded(text: str) -> tuple[str, list[int]]:
    """Return ``text`` lower-cased with whitespace runs as one space, and each char's origin."""
    out: list[str] = []
    origin: list[int] = []
    for i, ch in enumerate(text):
        if ch.isspace():
            if out and out[-1] != " ":
                out.append(" ")
                origin.append(i)
            continue
        low = ch.lower()
        out.append(low if len(low) == 1 else ch)
        origin.append(i)
    return "".join(out), origin


_ELLIPSIS = re.compile(r"\s*(?:\.\.\.|…)\s*")
_QUOTES = "\"'“”‘’`"


def locate_evidence(step: str, evidence: str) -> tuple[int, int, float] | None:
    """Return (start, end, confidence) of ``evidence`` in ``step``, or None when it is not there.

    Verbatim: 1.0. Ignoring case and whitespace runs, or "first words ... last words" with the
    ellipsis standing for text the model left out: 0.9 (the span covers the text between).
    """
    quote = evidence.strip().strip(_QUOTES).strip()
    if not quote:
        return None
    at = step.find(quote)
    if at >= 0:
        return at, at + len(quote), CONF_VERBATIM
    folded, origin = _folded(step)
    pieces = [p for p in (_folded(p.strip())[0] for p in _ELLIPSIS.split(quote)) if p]
    if not pieces:
        return None
    first = folded.find(pieces[0])
    if first < 0:
        return None
    last_end = first + len(pieces[0])
    for piece in pieces[1:]:
        nxt = folded.find(piece, last_end)
        if nxt < 0:
            return None
        last_end = nxt + len(piece)
    return origin[first], origin[last_end - 1] + 1, CONF_LOOSE
