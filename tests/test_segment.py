"""Step segmentation: modes, exact spans, <think> splitting and ensure_steps."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from analyzers.segment import (
    choose_mode,
    ensure_steps,
    ensure_steps_with_mode,
    segment_steps,
    split_think,
)
from trace_store.schema import Step, Trace


def texts(text: str, mode: str) -> list[str]:
    return [s.text for s in segment_steps(text, mode)]


def test_sentence_mode_keeps_decimals_abbreviations_and_list_numbers_whole():
    text = (
        "The value of pi is about 3.14. We use it, e.g. in circles, i.e. round things. "
        "Dr. Smith agrees.\n\n1. Take reciprocals. 2. Multiply by 10."
    )
    assert texts(text, "sentence") == [
        "The value of pi is about 3.14.",
        "We use it, e.g. in circles, i.e. round things.",
        "Dr. Smith agrees.",
        "1. Take reciprocals.",
        "2. Multiply by 10.",
    ]


def test_sentence_mode_does_not_split_inside_latex_or_at_factorials_or_lowercase_ellipses():
    text = (
        "So $x = 3. y$ holds. Then \\[ a. B \\] is shown.\n\n"
        "There are 8! = 40320 ways. For n = 45: 9 + 0 = 9... wait, no. Hmm... Let me see."
    )
    assert texts(text, "sentence") == [
        "So $x = 3. y$ holds.",
        "Then \\[ a. B \\] is shown.",
        "There are 8! = 40320 ways.",
        "For n = 45: 9 + 0 = 9... wait, no.",
        "Hmm...",
        "Let me see.",
    ]


def test_sentence_mode_keeps_a_display_formula_with_blank_lines_in_one_step():
    text = "We get:\n\\[\nx = 1.\n\ny = 2\n\\]\nDone."
    assert texts(text, "sentence") == ["We get:\n\\[\nx = 1.\n\ny = 2\n\\]\nDone."]


def test_sentence_mode_attaches_a_fragment_without_words_to_the_sentence_before():
    assert texts("It is 5.\n\n)\n\nNext one.", "sentence") == ["It is 5.\n\n)", "Next one."]


def test_line_mode_is_one_step_per_non_blank_line():
    assert texts("a = 1\n\n  b = 2  \nc = 3\n", "line") == ["a = 1", "b = 2", "c = 3"]


def test_paragraph_mode_merges_short_fragments_continuations_and_colon_lead_ins():
    text = (
        "First we set up the equations for the four points.\n\n"
        "So:\n\n"
        "a + b + c + d = 1 and 8a + 4b + 2c + d = 1/4\n\n"
        "which gives a system of linear equations to solve.\n\n"
        "Now subtract the first equation from the second one."
    )
    assert texts(text, "paragraph") == [
        "First we set up the equations for the four points.\n\nSo:\n\n"
        "a + b + c + d = 1 and 8a + 4b + 2c + d = 1/4\n\n"
        "which gives a system of linear equations to solve.",
        "Now subtract the first equation from the second one.",
    ]


def test_numbered_mode_drops_markers_and_keeps_a_preamble():
    text = "Let's think.\nStep 1: add 2 and 3.\nStep 2: multiply by 4.\nThought 3: done"
    steps = segment_steps(text, "numbered")
    assert [s.text for s in steps] == ["Let's think.", "add 2 and 3.", "multiply by 4.", "done"]
    assert text[steps[1].start : steps[1].end] == "add 2 and 3."
    assert texts("1) one\n2) two\n3. three", "numbered") == ["one", "two", "three"]


@pytest.mark.parametrize(
    ("text", "mode"),
    [
        ("Step 1: a\nStep 2: b\nStep 3: c", "numbered"),
        ("1. first\n2. second", "numbered"),
        ("a = 1\nb = 2\nc = 3", "line"),
        ("One sentence. Another one.\n\nA paragraph.", "sentence"),
        ("Step 3: starts late\nStep 4: more", "line"),
    ],
)
def test_auto_mode_picks_from_the_text_shape(text: str, mode: str):
    assert choose_mode(text) == mode
    assert segment_steps(text) == segment_steps(text, mode)


def test_unknown_mode_is_an_error_naming_the_modes():
    with pytest.raises(ValueError, match="expected one of"):
        segment_steps("x", "words")


@settings(max_examples=200, deadline=None)
@given(
    st.text(alphabet=st.sampled_from(list("ab Z.?!\n\t3$\\[]():,e")), max_size=120),
    st.sampled_from(["auto", "line", "paragraph", "sentence", "numbered"]),
)
def test_every_step_is_the_exact_trimmed_substring_at_its_span(text: str, mode: str):
    steps = segment_steps(text, mode, offset=7)
    assert [s.index for s in steps] == list(range(len(steps)))
    for step, nxt in zip(steps, steps[1:], strict=False):
        assert step.end <= nxt.start
    for step in steps:
        assert step.text and step.text == step.text.strip()
        assert text[step.start - 7 : step.end - 7] == step.text


def test_split_think_with_both_tags_ignores_the_prompt_echo():
    text = "User: hi\n<think>\nLet me think.\n</think>\n\nThe answer is 4."
    parts = split_think(text)
    assert parts.reasoning == "Let me think."
    assert text[parts.reasoning_start : parts.reasoning_end] == "Let me think."
    assert parts.answer == "The answer is 4."
    assert text[parts.answer_start : parts.answer_end] == "The answer is 4."
    assert parts.has_open_tag and parts.has_close_tag


def test_split_think_without_the_opening_tag_as_r1_writes_it():
    parts = split_think("Okay, so 2 + 2 = 4.\n</think>\n**4**")
    assert parts.reasoning == "Okay, so 2 + 2 = 4."
    assert parts.answer == "**4**"
    assert not parts.has_open_tag and parts.has_close_tag


def test_split_think_without_tags_or_with_a_cut_off_generation():
    plain = split_think("  just reasoning  ")
    assert (plain.reasoning, plain.reasoning_start, plain.answer) == ("just reasoning", 2, None)
    cut = split_think("<think>still thinking")
    assert cut.reasoning == "still thinking" and cut.answer is None
    empty_answer = split_think("<think>x</think>   ")
    assert empty_answer.answer is None and empty_answer.answer_start is None


def test_ensure_steps_keeps_given_steps():
    trace = Trace(id="t", dataset="d", steps=[Step(index=0, text="given")], raw_text="A. B.")
    assert ensure_steps(trace) is trace


def test_ensure_steps_segments_the_reasoning_with_spans_into_raw_text_and_sets_the_answer():
    raw = "<think>First, add. Then check it.</think>\nAnswer: 7"
    trace = ensure_steps(Trace(id="t", dataset="d", raw_text=raw), "sentence")
    assert [s.text for s in trace.steps] == ["First, add.", "Then check it."]
    assert all(raw[s.start : s.end] == s.text for s in trace.steps)
    assert trace.answer == "Answer: 7"
    kept = ensure_steps(Trace(id="t", dataset="d", raw_text=raw, answer="7"))
    assert kept.answer == "7"


def test_ensure_steps_leaves_a_trace_without_text_alone():
    trace = Trace(id="t", dataset="d")
    assert ensure_steps(trace).steps == []


def test_ensure_steps_with_mode_names_the_mode_it_used():
    own = Trace(id="t", dataset="d", steps=[Step(index=0, text="given")], raw_text="A. B.")
    assert ensure_steps_with_mode(own, "sentence") == (own, "given")
    assert ensure_steps_with_mode(Trace(id="t", dataset="d"))[1] == "given"
    lines = Trace(id="t", dataset="d", raw_text="<think>one\ntwo\nthree</think>")
    segmented, mode = ensure_steps_with_mode(lines)
    assert mode == "line" and segmented.step_texts == ["one", "two", "three"]
    assert segmented == ensure_steps(lines)
    prose = Trace(id="t", dataset="d", raw_text="First. Second.")
    assert ensure_steps_with_mode(prose) == (ensure_steps(prose), "sentence")
    with pytest.raises(ValueError, match="unknown segmentation mode"):
        ensure_steps_with_mode(prose, "words")
