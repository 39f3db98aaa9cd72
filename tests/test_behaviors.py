"""Rule tagger: behaviours found in typical steps, traps that must not fire, the tagger API."""

from __future__ import annotations

import pytest

import analyzers.pipeline as pipeline
import analyzers.segment as segment
from analyzers.behavior_rules import find_target
from analyzers.behaviors import (
    DEFAULT_TAGGER,
    Tagger,
    behavior_counts,
    get_tagger,
    register_tagger,
    resolve_tagger,
    step_behaviors,
    tag_behaviors,
    tagger_names,
    unregister_tagger,
)
from analyzers.pipeline import analysis_record, analyze_trace, analyze_with_steps
from trace_store.schema import BEHAVIORS, BehaviorTag, Step, Trace


def behaviors_of(text: str, question: str | None = None) -> set[str]:
    """Return the behaviours the rule tagger finds in ``text`` as the second step of a trace."""
    tags = get_tagger().tag(["Okay.", text], question)
    return {t.behavior for t in tags if t.step == 1}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # verification
        ("Let me verify: 4 × 6 = 24.", {"verification"}),
        ("Check: 4 × 6 = 24 ✓ matches the target.", {"verification"}),
        ("But wait, let me double-check the count of 756.", {"verification"}),
        ("Substituting back: 8 × 30 + 12 × 20 = 480.", {"verification"}),
        ("30 + 8 = 38, then 38 + 3 = 41, not 43.", {"verification"}),
        ("Yes, that's correct.", {"verification"}),
        ("Let me recompute: 6·65536 = 393216.", {"verification"}),
        ("So 49 + 50 + 89 = 188 again.", {"verification"}),
        ("Hmm, maybe my conversion to decimal was incorrect.", {"verification"}),
        ("Hold on, did I use replacement by mistake?", {"verification"}),
        # backtracking
        ("Wait, that's not right.", {"backtracking"}),
        ("This doesn't work. Let's go back to 25 and 5.", {"backtracking"}),
        ("25 is not 24, so this is a dead end.", {"backtracking", "verification"}),
        ("Let me try a different approach: count the complement.", {"backtracking"}),
        ("I misread it. Let me start over with radius 1.", {"backtracking"}),
        ("Alternatively, maybe I can use the identity for cosines.", {"backtracking"}),
        ("Hmm, I think I made a mistake in the sign.", {"backtracking"}),
        ("No, wait, the green plates are identical.", {"backtracking"}),
        # subgoal setting
        ("First, find the area of the garden, then the cost of the fence.", {"subgoal_setting"}),
        ("Let me try elimination.", {"subgoal_setting"}),
        ("Now the goal is to make 24 from 6 and 4.", {"subgoal_setting"}),
        ("Plan: first make a factor of 24, then finish with the rest.", {"subgoal_setting"}),
        ("To answer the question, I need to identify the positions.", {"subgoal_setting"}),
        ('This can be written as "A * B", where A = (3 + 4).', {"subgoal_setting"}),
        # backward chaining
        ("To reach 24 we need 6 × 4, so we need 4 from 8 and 2.", {"backward_chaining"}),
        ("Working backwards from 29: 29 = 36 - 7.", {"backward_chaining"}),
        ("It suffices to show that n(n + 1) is even.", {"backward_chaining"}),
        ("For x to lie in the interval we need 1000 < kπ < 10000.", {"backward_chaining"}),
        (
            "We want the total to be 100, so the missing score must be 27.",
            {"backward_chaining"},
        ),
    ],
)
def test_finds_the_behaviour_each_step_shows(text: str, expected: set[str]):
    assert behaviors_of(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "The bus waits 5 minutes at each of the 6 stops.",
        "Maria pays with a check for $120 and gets $15 back.",
        "She came back home at 6 pm.",
        "Lena won first prize, and Omar came second.",
        "The waiter brings the check after dinner.",
        "At the border, the officer checks each passport.",
        "The bank checked Jo's balance.",
        "In chess, the game ends with checkmate after 42 moves.",
        "Ali rides to school and back every day.",
        "The team's goal is to sell 200 cookies.",
        "So from left to right: first is the robin, then second is the owl.",
        "The owl is to the right of the crow.",
        "Try 25 + 5 = 30, leaving [30, 8, 3].",
        "Let's calculate A = (3 + 4 - 1) = (7 - 1) = 6.",
        'The first letter: "wait": "w" (23). "check": "c" (3). "backtrack": "b" (2).',
        "I have now sorted all the words. The answer is backtrack check verify wait",
        "The word 'verify' has 6 letters.",
        "We will need to pop out ']', '>' one by one in that order.",
    ],
)
def test_everyday_senses_quotes_and_plain_work_do_not_fire(text: str):
    assert behaviors_of(text) == set()


@pytest.mark.parametrize(
    "text",
    [
        "I don't need to check the weekend separately.",
        "There's no need to verify this since the equation is linear.",
        "I won't double-check it; the formula gives 45 directly.",
        "I don't need to go back and redo the first part.",
        "We never have to check the case x = 0 separately.",
        "Without verifying each day, the total is 168 hours.",
        "Wait, but I didn't make a mistake there.",
    ],
)
def test_negated_cues_do_not_fire(text: str):
    assert behaviors_of(text) == set()


def test_restating_the_problem_in_the_first_step_is_not_a_subgoal():
    tags = get_tagger().tag(["I need to find the diagonal.", "Next, I need to find y."])
    assert [(t.step, t.behavior) for t in tags] == [(1, "subgoal_setting")]


def test_tags_carry_evidence_spans_confidence_and_tagger_version():
    text = "Hmm. Wait, that's not right. Let me double-check 9!."
    (tag_b, tag_v) = sorted(get_tagger().tag([text]), key=lambda t: t.behavior)
    for tag in (tag_b, tag_v):
        assert text[tag.start : tag.end] == tag.evidence
        assert 0.0 < tag.confidence <= 1.0
        assert tag.tagger == "rules@1"
    assert tag_b.behavior == "backtracking" and tag_v.evidence == "double-check"


def test_one_tag_per_step_and_behaviour_keeping_the_strongest_cue():
    tags = get_tagger().tag(["Let me check. Let me verify it. Check: 2 = 2 ✓"])
    assert [t.behavior for t in tags] == ["verification"]
    assert tags[0].confidence == 0.95 and tags[0].evidence == "✓"


def test_the_target_of_a_countdown_question_enables_target_splits_as_backward_chaining():
    assert find_target("Using the numbers [2, 3], make 29.", []) == "29"
    assert find_target(None, ["Numbers: [1, 2]. Target: 16."]) == "16"
    steps = ["Numbers: [9, 4, 2, 7]. Target: 29.", "Since 29 = 27 + 2, I use 27 next."]
    assert step_behaviors(get_tagger().tag(steps), 2) == [[], ["backward_chaining"]]
    assert step_behaviors(get_tagger().tag(steps[1:]), 1) == [[]]


def test_behavior_counts_counts_distinct_steps_per_behaviour():
    def tag(step: int, behavior: str) -> BehaviorTag:
        return BehaviorTag(
            step=step, behavior=behavior, start=0, end=1, evidence="x", confidence=1, tagger="t"
        )

    tags = [tag(0, "verification"), tag(0, "verification"), tag(2, "verification")]
    tags.append(tag(2, "backtracking"))
    assert behavior_counts(tags) == {
        "backtracking": 1,
        "verification": 2,
        "subgoal_setting": 0,
        "backward_chaining": 0,
    }
    assert step_behaviors(tags, 3) == [["verification"], [], ["backtracking", "verification"]]


class _EveryStepChecks:
    name = "always-checks"
    version = "7"

    def tag(self, steps: list[str], question: str | None = None) -> list[BehaviorTag]:
        return [
            BehaviorTag(
                step=i, behavior="verification", start=0, end=0, evidence="", confidence=0.5,
                tagger="always-checks@7",
            )
            for i in range(len(steps))
        ]  # fmt: skip


def test_registry_adds_a_tagger_that_the_pipeline_uses_by_name():
    assert DEFAULT_TAGGER == "rules" and "rules" in tagger_names()
    assert isinstance(get_tagger(), Tagger)
    register_tagger("always-checks", _EveryStepChecks, replace=True)
    try:
        trace = Trace(id="t", dataset="d", steps=[Step(index=0, text="a"), Step(index=1, text="b")])
        analysis = analyze_trace(trace, "always-checks")
        assert analysis.version == "always-checks@7"
        assert analysis.counts["verification"] == 2
        with pytest.raises(ValueError, match="already registered"):
            register_tagger("always-checks", _EveryStepChecks)
    finally:
        unregister_tagger("always-checks")
    assert "always-checks" not in tagger_names()
    with pytest.raises(KeyError, match="unknown tagger 'nope'"):
        get_tagger("nope")
    with pytest.raises(ValueError, match="cannot be unregistered"):
        unregister_tagger("rules")


def test_tag_behaviors_segments_a_trace_given_only_as_raw_text():
    trace = Trace(id="t", dataset="d", raw_text="Let me verify that. Wait, no. That is wrong.")
    tags = tag_behaviors(trace)
    assert {(t.step, t.behavior) for t in tags} == {
        (0, "verification"),
        (1, "backtracking"),
        (2, "backtracking"),
    }


def test_analyze_trace_fills_counts_version_and_segmentation_mode():
    given = Trace(id="g", dataset="d", steps=[Step(index=0, text="Let me verify: 2 + 2 = 4.")])
    analysis = analyze_trace(given)
    assert analysis.trace_id == "g" and analysis.analyzer == "behaviors"
    assert analysis.version == "rules@1"
    assert analysis.counts == dict.fromkeys(BEHAVIORS, 0) | {"verification": 1}
    assert analysis.extra == {"segment_mode": "given", "n_steps": 1, "tagger": "rules"}
    raw = Trace(id="r", dataset="d", raw_text="<think>First, let me add. Then check.</think> 5")
    segmented, analysis = analyze_with_steps(raw)
    assert analysis.extra["segment_mode"] == "sentence" and analysis.extra["n_steps"] == 2
    record = analysis_record(segmented, analysis)
    assert record["id"] == "r" and record["counts"]["subgoal_setting"] == 1
    assert record["steps"][0]["behaviors"] == ["subgoal_setting"]
    assert record["steps"][0]["evidence"][0]["text"] == "First"


def test_resolve_tagger_takes_an_instance_a_name_or_none():
    mine = _EveryStepChecks()
    assert resolve_tagger(mine) is mine
    assert resolve_tagger(None) is get_tagger() is resolve_tagger("rules")
    with pytest.raises(KeyError, match="unknown tagger 'nope'"):
        resolve_tagger("nope")


@pytest.mark.parametrize(
    ("mode", "expected"), [("auto", "line"), ("sentence", "sentence"), ("line", "line")]
)
def test_analysis_splits_the_raw_text_at_think_once(monkeypatch, mode, expected):
    calls = []
    real = segment.split_think

    def counting(text):
        calls.append(text)
        return real(text)

    monkeypatch.setattr(segment, "split_think", counting)
    # the pipeline must not keep a split of its own either
    monkeypatch.setattr(pipeline, "split_think", counting, raising=False)
    raw = "<think>Add 2 and 3.\nCheck: 2 + 3 = 5.</think> 5"
    segmented, analysis = analyze_with_steps(
        Trace(id="r", dataset="d", raw_text=raw), segment_mode=mode
    )
    assert calls == [raw]
    assert analysis.extra["segment_mode"] == expected
    assert segmented.step_texts == ["Add 2 and 3.", "Check: 2 + 3 = 5."]
    assert segmented.answer == "5"
