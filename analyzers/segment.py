"""Step segmentation: cut a chain of thought into steps with exact character spans.

Every step's ``text`` is the exact substring ``text[start:end]`` of what was segmented, with
surrounding whitespace trimmed and the span moved with it, so the viewer can highlight a step in
the raw generation. Modes:

- ``line``: one step per non-blank line (BIG-Bench Mistake style generations).
- ``paragraph``: blank-line separated blocks; fragments without words, blocks that open with a
  continuation (lower-case word, operator, closing bracket) and blocks that follow a lead-in
  ending with ":" are merged into the block before them.
- ``sentence``: sentences within paragraphs, not split at decimals ("3.14"), abbreviations
  ("e.g.", "i.e.", "Dr."), list numbers ("1."), ellipses followed by lower case, factorials
  ("5! ways") or inside LaTeX (``$...$``, ``\\[...\\]``, ``\\(...\\)``).
- ``numbered``: markers at line starts ("Step 3:", "Thought 2:", "1)", "1."); the marker is left
  out of the step text, as BIG-Bench Mistake drops its "Thought N:" prefixes.
- ``auto``: ``numbered`` when the text is a numbered list from its start, ``line`` for several
  lines with no blank line between them, else ``sentence``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from trace_store.schema import Step, Trace

SEGMENT_MODES: tuple[str, ...] = ("auto", "line", "paragraph", "sentence", "numbered")
"""Accepted values of ``mode``."""

ABBREVIATIONS = frozenset(
    ("e.g", "i.e", "vs", "cf", "al", "approx", "dr", "mr", "mrs", "ms", "prof", "st", "jr", "sr")
)
"""Words that end in "." without ending a sentence (compared lower-case, without the dot)."""

NUMBER_ABBREVIATIONS = frozenset(
    ("no", "nos", "vol", "pp", "fig", "figs", "eq", "eqs", "ch", "sec", "ex", "thm", "lem", "def")
)
"""Abbreviations that end no sentence when a number follows ("No. 5", "Eq. 3"); "no." before
anything else ("Wait, no. Hmm") is a word ending a sentence."""

_PARAGRAPH_BREAK = re.compile(r"\n[ \t\r\f\v]*\n\s*")
_SENTENCE_END = re.compile(r"(?:\.\.\.|[.!?…])+[\"'”’)\]]*(?=\s)")
_PREV_WORD = re.compile(r"([A-Za-z][A-Za-z.]*)\.$")
_LIST_NUMBER = re.compile(r"(?:\d{1,3}|[A-Za-z]|[ivxIVX]{1,4})[.)]")
_MATH = re.compile(r"\$\$.+?\$\$|\$[^$\n]+?\$|\\\[.+?\\\]|\\\(.+?\\\)", re.DOTALL)
_ALNUM = re.compile(r"[^\W_]")
_NUMBERED_MARKER = re.compile(
    r"^[ \t]*(?:(?:step|thought)[ \t]*(\d+)[ \t]*[:.)]|(\d{1,3})[.)](?=[ \t]))[ \t]*",
    re.IGNORECASE | re.MULTILINE,
)
_CONTINUATION = re.compile(r"[a-z]|[=+\-*/×÷<>)\]}|,;]|(?:and|or|but|which|where|so that)\b")
_THINK_OPEN = re.compile(r"<(think|thinking|reasoning)>", re.IGNORECASE)
_THINK_CLOSE = re.compile(r"</(think|thinking|reasoning)>", re.IGNORECASE)

PARAGRAPH_MIN_CHARS = 25
"""Paragraph-mode blocks shorter than this (e.g. a lone "So:" or "\\]") join the block before."""


@dataclass(frozen=True)
class ThinkSplit:
    """Reasoning and answer parts of a generation, each with its span in the original text."""

    reasoning: str
    reasoning_start: int
    reasoning_end: int
    answer: str | None
    answer_start: int | None
    answer_end: int | None
    has_open_tag: bool
    has_close_tag: bool


def _trimmed(text: str, start: int, end: int) -> tuple[int, int]:
    """Return (start, end) moved inwards past whitespace at both ends."""
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    return start, end


def split_think(text: str) -> ThinkSplit:
    """Return the reasoning part (inside ``<think>``) and the answer part (after ``</think>``).

    R1-style outputs often lack the opening tag (the prompt template holds it): then everything
    before ``</think>`` is reasoning. Without a closing tag the generation is all reasoning (or was
    cut off) and there is no answer. Text before an opening tag is a prompt echo, not reasoning.
    """
    open_match = _THINK_OPEN.search(text)
    close_match = _THINK_CLOSE.search(text, open_match.end() if open_match else 0)
    r_start = open_match.end() if open_match else 0
    r_end = close_match.start() if close_match else len(text)
    r_start, r_end = _trimmed(text, r_start, r_end)
    a_start = a_end = None
    answer = None
    if close_match:
        s, e = _trimmed(text, close_match.end(), len(text))
        if e > s:
            a_start, a_end, answer = s, e, text[s:e]
    return ThinkSplit(
        reasoning=text[r_start:r_end],
        reasoning_start=r_start,
        reasoning_end=r_end,
        answer=answer,
        answer_start=a_start,
        answer_end=a_end,
        has_open_tag=open_match is not None,
        has_close_tag=close_match is not None,
    )


def _steps_from_spans(text: str, spans: list[tuple[int, int]], offset: int) -> list[Step]:
    """Return Steps for the non-empty trimmed spans, shifted by ``offset``."""
    steps: list[Step] = []
    for start, end in spans:
        s, e = _trimmed(text, start, end)
        if e > s:
            # Built without validation: every field is known to be valid here (and this is hot).
            step = Step.model_construct(
                index=len(steps), text=text[s:e], start=s + offset, end=e + offset
            )
            steps.append(step)
    return steps


def _paragraph_spans(text: str) -> list[tuple[int, int]]:
    """Return the spans of blank-line separated blocks (untrimmed, non-empty)."""
    return _paragraph_spans_outside(text, [])


def _line_spans(text: str) -> list[tuple[int, int]]:
    """Return the span of every line (untrimmed)."""
    spans = []
    pos = 0
    for line in text.splitlines(keepends=True):
        spans.append((pos, pos + len(line)))
        pos += len(line)
    return spans


def _merge_paragraphs(text: str, spans: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """Return paragraph spans with fragments and continuations joined to the block before."""
    merged: list[tuple[int, int]] = []
    for start, end in spans:
        s, e = _trimmed(text, start, end)
        if e <= s:
            continue
        block = text[s:e]
        if merged:
            prev = text[merged[-1][0] : merged[-1][1]].rstrip()
            joins = (
                e - s < PARAGRAPH_MIN_CHARS
                or not _ALNUM.search(block)
                or _CONTINUATION.match(block) is not None
                or prev.endswith(":")
            )
            if joins:
                merged[-1] = (merged[-1][0], e)
                continue
        merged.append((s, e))
    # A short opening fragment (e.g. "Okay.") reads better as part of what follows it.
    if len(merged) > 1 and merged[0][1] - merged[0][0] < PARAGRAPH_MIN_CHARS:
        merged[1] = (merged[0][0], merged[1][1])
        del merged[0]
    return merged


def _math_spans(text: str) -> list[tuple[int, int]]:
    """Return spans of LaTeX math, inside which no sentence ends."""
    if "$" not in text and "\\" not in text:
        return []
    return [m.span() for m in _MATH.finditer(text)]


def _is_sentence_end(text: str, seg_start: int, m: re.Match[str]) -> bool:
    """Return whether the terminator match ``m`` ends a sentence begun at ``seg_start``."""
    end = m.end()
    nxt = end
    n = len(text)
    while nxt < n and text[nxt].isspace():
        nxt += 1
    if nxt >= n:
        return True
    following = text[nxt]
    mark = m.group(0)
    newline_after = "\n" in text[end:nxt]
    if following.islower() and not newline_after:
        return False  # "e.g. the", "5! ways", "... and so on"
    if mark[0] == "!" and not newline_after and not following.isalpha():
        return False  # factorial: "8! = 40320", "5! * 2!"
    if mark.startswith(".") and not mark.startswith("..."):
        word = _PREV_WORD.search(text, max(seg_start, m.start() - 12), m.start() + 1)
        if word:
            abbreviation = word.group(1).lower().rstrip(".")
            if abbreviation in ABBREVIATIONS or (
                abbreviation in NUMBER_ABBREVIATIONS and following.isdigit()
            ):
                return False
        if _LIST_NUMBER.fullmatch(text[seg_start : m.start() + 1].strip()):
            return False  # "1. Take reciprocals": the number opens the sentence
    return True


def _sentence_spans_in(text: str, start: int, end: int, math: list[tuple[int, int]]) -> list:
    """Return sentence spans within ``text[start:end]`` (one paragraph)."""
    spans = []
    seg_start = start
    mi = 0
    for m in _SENTENCE_END.finditer(text, start, end):
        while mi < len(math) and math[mi][1] <= m.start():
            mi += 1
        if mi < len(math) and math[mi][0] <= m.start() < math[mi][1]:
            continue
        if _is_sentence_end(text, seg_start, m):
            spans.append((seg_start, m.end()))
            seg_start = m.end()
    if seg_start < end:
        spans.append((seg_start, end))
    return spans


def _sentence_spans(text: str) -> list[tuple[int, int]]:
    """Return sentence spans; a fragment with no letter or digit joins the sentence before."""
    math = _math_spans(text)
    # A display formula is one unit even when it holds blank lines.
    spans = _paragraph_spans_outside(text, math) if math else _paragraph_spans(text)
    result: list[tuple[int, int]] = []
    for p_start, p_end in spans:
        for s, e in _sentence_spans_in(text, p_start, p_end, math):
            ts, te = _trimmed(text, s, e)
            if te <= ts:
                continue
            if result and not _ALNUM.search(text, ts, te):
                result[-1] = (result[-1][0], te)
            else:
                result.append((ts, te))
    return result


def _paragraph_spans_outside(text: str, math: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """Return paragraph spans, ignoring blank lines that fall inside a math span."""
    spans = []
    pos = 0
    mi = 0
    for m in _PARAGRAPH_BREAK.finditer(text):
        while mi < len(math) and math[mi][1] <= m.start():
            mi += 1
        if mi < len(math) and math[mi][0] <= m.start() < math[mi][1]:
            continue
        if m.start() > pos:
            spans.append((pos, m.start()))
        pos = m.end()
    if pos < len(text):
        spans.append((pos, len(text)))
    return spans


def _numbered_spans(text: str) -> list[tuple[int, int]]:
    """Return spans of the numbered items (markers left out) and of any text before the first."""
    markers = list(_NUMBERED_MARKER.finditer(text))
    if not markers:
        return [(0, len(text))]
    spans = [(0, markers[0].start())]
    for i, m in enumerate(markers):
        end = markers[i + 1].start() if i + 1 < len(markers) else len(text)
        spans.append((m.end(), end))
    return spans


def _looks_numbered(text: str) -> bool:
    """Return whether ``text`` is a numbered list of steps from (nearly) its start."""
    markers = list(_NUMBERED_MARKER.finditer(text))
    if len(markers) < 2 or text[: markers[0].start()].count("\n") > 1:
        return False
    numbers = [int(m.group(1) or m.group(2)) for m in markers]
    if numbers[0] not in (0, 1):
        return False
    return all(b == a + 1 for a, b in zip(numbers, numbers[1:], strict=False))


def choose_mode(text: str) -> str:
    """Return the concrete mode ``auto`` picks for ``text`` (see the module docstring)."""
    if _looks_numbered(text):
        return "numbered"
    stripped = text.strip()
    if "\n" in stripped and not _PARAGRAPH_BREAK.search(stripped):
        return "line"
    return "sentence"


def segment_steps(text: str, mode: str = "auto", *, offset: int = 0) -> list[Step]:
    """Return the steps of ``text`` in order, each with its exact trimmed span.

    ``offset`` is added to every span, for text that is a slice of a longer raw text.
    """
    if mode not in SEGMENT_MODES:
        raise ValueError(f"unknown segmentation mode {mode!r}; expected one of {SEGMENT_MODES}")
    if mode == "auto":
        mode = choose_mode(text)
    if mode == "line":
        spans = _line_spans(text)
    elif mode == "paragraph":
        spans = _merge_paragraphs(text, _paragraph_spans(text))
    elif mode == "numbered":
        spans = _numbered_spans(text)
    else:
        spans = _sentence_spans(text)
    return _steps_from_spans(text, spans, offset)


def ensure_steps(trace: Trace, mode: str = "auto") -> Trace:
    """Return ``trace`` with steps: its own when it has any, else segmented from its raw text.

    Steps that come with a trace are authoritative and kept as they are. Otherwise the reasoning
    part of ``raw_text`` (see split_think) is segmented, with spans into ``raw_text``, and the
    part after ``</think>`` becomes the answer when the trace has none.
    """
    return ensure_steps_with_mode(trace, mode)[0]


def ensure_steps_with_mode(trace: Trace, mode: str = "auto") -> tuple[Trace, str]:
    """Return (``trace`` with steps as ensure_steps gives them, the concrete mode used).

    The mode is "given" when the trace's own steps were kept (or it has no raw text), else the
    mode the reasoning text was cut in: ``auto`` resolved by choose_mode on that same text, so
    the raw text is split at ``</think>`` only once.
    """
    if trace.steps or not trace.raw_text:
        return trace, "given"
    parts = split_think(trace.raw_text)
    if mode == "auto":
        mode = choose_mode(parts.reasoning)
    steps = segment_steps(parts.reasoning, mode, offset=parts.reasoning_start)
    update: dict = {"steps": steps}
    if trace.answer is None and parts.answer is not None:
        update["answer"] = parts.answer
    return trace.model_copy(update=update), mode
