"""The LLM-prompted tagger: prompt, reading answers, windows, retries, backends, registry, CLI.

A cue-following stand-in model (tests/llm_tagger_helpers.py) answers through the real
OpenAIBackend and a local HTTP server, so spans, windows and step numbers are checked end to
end; the tiny random-weight transformers model shows that garbage answers cost windows, not runs.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from analyzers.behaviors import TaggerUnavailable, get_tagger, tagger_names, unregister_tagger
from generators.llm_tagger import (
    ENV_API,
    ENV_BATCH_STEPS,
    ENV_MAX_TOKENS,
    ENV_MODEL,
    ENV_SERVER,
    LLMTagger,
    LLMTaggerError,
    llm_tagger_from_env,
    plan_windows,
    register_llm_tagger,
)
from generators.llm_tagger_prompt import (
    MalformedOutput,
    StepClaim,
    build_tagging_prompt,
    extract_tagging_object,
    locate_evidence,
    read_claims,
)
from generators.lm import LMError
from generators.lm_openai import OpenAIBackend
from tests.llm_tagger_helpers import FakeOpenAIServer, ScriptedBackend, cue_answer

ROOT = Path(__file__).resolve().parents[1]

STEPS = [
    "Numbers: 3, 5, 7, 1. Target: 24.",
    "First, I will look for a product that gives 24.",
    "To get 24 we need 6 * 4, so we need 6 from 3, 5 and 7.",
    "Try 7 - 1 = 6 and 3 + 5 = 8, so 6 * 8 = 48.",
    "Hmm. Wait, that is 48, not 24. Go back.",
    "Try 3 * 8 = 24 with 8 = 7 + 1, and 5 is left over.",
    "Let me check: 3 * (7 + 1) = 24, but 5 is unused.",
]
QUESTION = "Use 3, 5, 7 and 1 to make 24."
EXPECTED = [
    (1, "subgoal_setting", 0, 8),
    (2, "backward_chaining", 0, 9),
    (4, "backtracking", 5, 15),
    (6, "verification", 0, 12),
]
"""(step, behaviour, start, end) the cue model's answers must become."""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def server() -> Iterator[FakeOpenAIServer]:
    fake = FakeOpenAIServer(cue_answer)
    yield fake
    fake.close()


@pytest.fixture
def llm_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Clear the THOUGHTSCOPE_TAGGER_* variables; forget any built "llm" tagger afterwards."""
    for key in (ENV_SERVER, ENV_MODEL, ENV_API, ENV_MAX_TOKENS, ENV_BATCH_STEPS):
        monkeypatch.delenv(key, raising=False)
    yield
    register_llm_tagger(replace=True)  # drop the instance built against this test's server


def _spans(tags) -> list[tuple[int, str, int, int]]:
    return [(t.step, t.behavior, t.start, t.end) for t in tags]


# ----- prompt -----


def test_prompt_holds_definitions_traps_question_and_numbered_steps() -> None:
    prompt = build_tagging_prompt(STEPS, 3, 6, QUESTION, context_steps=2)
    for phrase in (
        "backtracking: the writer abandons the current path",
        "verification: the writer checks a result or intermediate value",
        "subgoal_setting: the writer states an intermediate goal or a plan",
        "backward_chaining: the writer reasons from the goal back towards the givens",
        "the bus waits",
        "a check for $120",
        "first prize",
        "she came back home",
    ):
        assert phrase in prompt
    assert f"Question:\n{QUESTION}" in prompt
    context, tagged = prompt.split("Steps to tag (4 to 6):\n")
    assert "Earlier steps (context only, do not tag):\n[2] First, I will" in context
    assert f"[3] {STEPS[2]}" in context and "[1] " not in context
    assert tagged.startswith(f"[4] {STEPS[3]}\n[5] {STEPS[4]}\n[6] {STEPS[5]}\n\n")
    assert "[7]" not in prompt and '"step": 4' in tagged and tagged.endswith("JSON:")
    first = build_tagging_prompt(["x" * 500, "y"], 0, 2, None, context_steps=2)
    assert "Earlier steps" not in first and "Question:" not in first
    assert "x" * 500 in first  # steps to tag are never shortened; context steps are
    later = build_tagging_prompt(["x" * 500, "y"], 1, 2, None, context_steps=2)
    assert "[1] " + "x" * 400 + " ...\n" in later


def test_windows_cover_every_step_once() -> None:
    assert plan_windows(["s"] * 25, 12, 8000) == [(0, 12), (12, 24), (24, 25)]
    assert plan_windows(["a" * 5000, "b" * 5000, "c", "d" * 9000], 12, 8000) == [
        (0, 1),
        (1, 3),
        (3, 4),
    ]
    assert plan_windows([], 12, 8000) == []


# ----- reading answers -----

GOOD = {"steps": [{"step": 5, "behaviors": [{"behavior": "backtracking", "evidence": "Wait"}]}]}


def test_answers_are_found_in_fences_prose_think_blocks_and_loose_json() -> None:
    plain = json.dumps(GOOD)
    expected = GOOD["steps"]
    assert extract_tagging_object(plain) == expected
    assert extract_tagging_object(f"Sure!\n```json\n{plain}\n```\nHope it helps.") == expected
    prose = f"Steps {{4, 5}} were read [carefully]. The answer: {plain} That is all."
    assert extract_tagging_object(prose) == expected
    think = '<think>maybe {"steps": [{"step": 4, "behaviors": []}]}</think>' + plain
    assert extract_tagging_object(think) == expected
    trailing = '{"steps": [{"step": 5, "behaviors": ["verification",],},]}'
    assert extract_tagging_object(trailing) == [{"step": 5, "behaviors": ["verification"]}]
    assert extract_tagging_object('[{"step": 2, "behavior": "x"}]') == [
        {"step": 2, "behavior": "x"}
    ]
    for bad, why in (
        ('{"steps": [{"step": 5,', "no JSON object"),
        ('{"tags": []}', "no JSON object"),
        ("   ", "empty"),
        ('<think>{"steps": []}', "never ended"),
    ):
        with pytest.raises(MalformedOutput, match=why):
            extract_tagging_object(bad)


def test_claims_keep_known_behaviours_in_the_window_and_count_the_rest() -> None:
    entries = [
        {"step": 4, "behaviors": [{"behavior": "Subgoal setting", "evidence": "Try"}]},
        {"step": "Step 5", "behaviors": ["verification", {"behavior": "planning"}]},
        {"step": 6, "behavior": "backward-chaining", "evidence": "with 8"},
        {"step": 3, "behaviors": [{"behavior": "verification", "evidence": "x"}]},  # context
        {"step": 7, "behaviors": ["backtracking"]},  # after the window
        {"step": None, "behaviors": []},
        "step 4",
    ]
    claims, dropped = read_claims(entries, 3, 6)
    assert claims == [
        StepClaim(3, "subgoal_setting", "Try"),
        StepClaim(4, "verification", ""),
        StepClaim(5, "backward_chaining", "with 8"),
    ]
    assert dropped == {"unknown_behavior": 1, "step_out_of_range": 2, "bad_entry": 2}


def test_evidence_is_located_verbatim_loosely_or_not_at_all() -> None:
    step = "Hmm. Wait,  that is 48,\nnot 24. Go back to 7 - 1."
    assert locate_evidence(step, "Wait,  that") == (5, 16, 1.0)
    assert locate_evidence(step, '"Go back"') == (32, 39, 1.0)
    start, end, conf = locate_evidence(step, "wait, that is 48, not 24")  # type: ignore[misc]
    assert (step[start:end], conf) == ("Wait,  that is 48,\nnot 24", 0.9)
    start, end, conf = locate_evidence(step, "Wait ... go back")  # type: ignore[misc]
    assert (step[start:end], conf) == ("Wait,  that is 48,\nnot 24. Go back", 0.9)
    assert locate_evidence(step, "let me verify") is None
    assert locate_evidence(step, "go back ... Wait") is None  # pieces out of order
    assert locate_evidence(step, "  ") is None


# ----- the tagger over a scripted backend: retries, fallbacks -----


def test_tagger_maps_windows_to_steps_with_greedy_prompts() -> None:
    backend = ScriptedBackend(cue_answer, model="m-1")
    tagger = LLMTagger(backend, batch_steps=3, max_tokens=300)
    assert (tagger.name, tagger.version) == ("llm", "1:m-1")
    tags = tagger.tag(STEPS, QUESTION)
    assert _spans(tags) == EXPECTED
    assert [t.evidence for t in tags] == ["First, I", "To get 24", "Wait, that", "Let me check"]
    assert {t.confidence for t in tags} == {1.0} and {t.tagger for t in tags} == {"llm@1:m-1"}
    assert len(backend.prompts) == 3 and tagger.windows == 3 and tagger.failed_windows == 0
    assert "Steps to tag (7 to 7)" in backend.prompts[2]
    assert all(p.temperature == 0 and p.max_new_tokens == 300 for p in backend.params)
    assert tagger.tag([], QUESTION) == [] and len(backend.prompts) == 3
    assert _spans(tagger.tag(STEPS, QUESTION)) == EXPECTED and len(backend.prompts) == 3  # cached
    assert _spans(tagger.tag(STEPS, "Make 24.")) == EXPECTED and len(backend.prompts) == 6
    uncached = LLMTagger(ScriptedBackend(cue_answer), batch_steps=3, cache_size=0)
    uncached.tag(STEPS)
    uncached.tag(STEPS)
    assert uncached.windows == 6


def test_bad_json_is_retried_once_then_the_window_is_skipped() -> None:
    steps = ["Let me check 2 + 2 = 4.", "Wait, that was wrong.", "So 5.", "Done."]
    answers = [
        '{"steps": [{"step": 1, "behaviors": [{"behavior": "verification", "evidence": "Let',
        "I think step 3 is fine.",
        '{"steps": [{"step": 1, "behaviors": [{"behavior": "verification", '
        '"evidence": "Let me check"}]}]}',
        "still no JSON here",
    ]
    backend = ScriptedBackend(answers)
    tagger = LLMTagger(backend, batch_steps=2)
    tags = tagger.tag(steps)
    assert _spans(tags) == [(0, "verification", 0, 12)]
    assert len(backend.prompts) == 4
    assert "Your previous answer could not be read (no JSON object" in backend.prompts[2]
    assert backend.prompts[2].startswith(backend.prompts[0].removesuffix("JSON:").rstrip())
    assert (tagger.windows, tagger.retried_windows, tagger.failed_windows) == (2, 2, 1)
    assert len(tagger.warnings) == 1 and tagger.warnings[0].startswith("llm tagger: steps 3-4:")


def test_evidence_not_in_the_step_becomes_the_whole_step_or_is_dropped() -> None:
    steps = ["We verify: 3 + 4 = 7.", "Next, the sum."]
    answer = json.dumps(
        {
            "steps": [
                {"step": 1, "behaviors": [{"behavior": "verification", "evidence": "I checked"}]},
                {"step": 2, "behaviors": [{"behavior": "subgoal_setting", "evidence": "next,"}]},
                {"step": 2, "behaviors": [{"behavior": "subgoal_setting", "evidence": "Next,"}]},
            ]
        }
    )
    whole = LLMTagger(ScriptedBackend([answer])).tag(steps)
    assert [(t.step, t.start, t.end, t.evidence, t.confidence) for t in whole] == [
        (0, 0, 21, steps[0], 0.5),
        (1, 0, 5, "Next,", 1.0),  # of two claims for one (step, behaviour) the verbatim wins
    ]
    strict = LLMTagger(ScriptedBackend([answer]), unmatched_evidence="drop")
    assert _spans(strict.tag(steps)) == [(1, "subgoal_setting", 0, 5)]
    assert strict.dropped == {"evidence_not_found": 1}
    with pytest.raises(ValueError, match="unmatched_evidence"):
        LLMTagger(ScriptedBackend([]), unmatched_evidence="guess")


# ----- through the real OpenAIBackend and a local HTTP server -----


@pytest.mark.parametrize("api", ["chat", "completions"])
def test_tags_through_the_openai_backend(server: FakeOpenAIServer, api: str) -> None:
    backend = OpenAIBackend(server.url, api=api)  # type: ignore[arg-type]
    tagger = LLMTagger(backend, batch_steps=4)
    assert tagger.version == "1:fake-model"  # asked the server's /v1/models
    assert _spans(tagger.tag(STEPS, QUESTION)) == EXPECTED
    bodies = server.tagging_bodies()
    assert len(bodies) == 2 and all(b["temperature"] == 0 for b in bodies)
    key = "messages" if api == "chat" else "prompt"
    assert all(key in b for b in bodies)
    tagger.close()


def test_a_server_that_is_down_names_its_url() -> None:
    url = f"http://127.0.0.1:{_free_port()}"
    tagger = LLMTagger(OpenAIBackend(url, "m", max_retries=0))
    with pytest.raises(LLMTaggerError, match=rf"server {url}.*cannot get an answer") as err:
        tagger.tag(STEPS)
    assert isinstance(err.value, TaggerUnavailable) and isinstance(err.value, LMError)


# ----- environment, registry, CLI -----


def test_unavailable_without_variables_or_with_bad_ones(llm_env, tmp_path: Path) -> None:
    with pytest.raises(TaggerUnavailable, match=f"set {ENV_SERVER} .* and/or {ENV_MODEL}"):
        llm_tagger_from_env({})
    bad = {
        ENV_API: ("responses", "expected 'chat' or 'completions'"),
        ENV_MAX_TOKENS: ("many", "expected a positive whole number"),
        ENV_BATCH_STEPS: ("0", "expected a positive whole number"),
    }
    for key, (value, why) in bad.items():
        with pytest.raises(TaggerUnavailable, match=f"{key}='{value}': {why}"):
            llm_tagger_from_env({ENV_SERVER: "http://127.0.0.1:9/v1", key: value})
    with pytest.raises(TaggerUnavailable, match="'org/some-model' is not a local model folder"):
        llm_tagger_from_env({ENV_MODEL: "org/some-model"})
    register_llm_tagger()
    with pytest.raises(TaggerUnavailable, match=f"the llm tagger needs a model: set {ENV_SERVER}"):
        get_tagger("llm")


def test_unreachable_server_fails_when_the_tagger_is_built(llm_env) -> None:
    port = _free_port()
    with pytest.raises(TaggerUnavailable, match=rf"server http://127.0.0.1:{port}\b.*refused"):
        llm_tagger_from_env({ENV_SERVER: f"http://127.0.0.1:{port}/v1", ENV_MODEL: "m"})


def test_get_tagger_builds_it_from_the_environment(
    llm_env, server: FakeOpenAIServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(ENV_SERVER, server.url)
    monkeypatch.setenv(ENV_BATCH_STEPS, "5")
    monkeypatch.setenv(ENV_MAX_TOKENS, "200")
    register_llm_tagger()
    register_llm_tagger()  # a second registration is a no-op, not an error
    assert "llm" in tagger_names()
    register_llm_tagger(replace=True)
    tagger = get_tagger("llm")
    assert isinstance(tagger, LLMTagger) and get_tagger("llm") is tagger
    assert (tagger.version, tagger.batch_steps, tagger.params.max_new_tokens) == (
        "1:fake-model",
        5,
        200,
    )
    assert server.bodies[-1]["max_tokens"] == 1  # the reachability probe
    assert _spans(tagger.tag(STEPS, QUESTION)) == EXPECTED
    assert len(server.tagging_bodies()) == 2
    assert all("messages" in b for b in server.tagging_bodies())  # chat by default
    unregister_tagger("llm")
    assert "llm" not in tagger_names()


def test_cli_analyze_with_the_llm_tagger(server: FakeOpenAIServer, tmp_path: Path) -> None:
    src = tmp_path / "in.jsonl"
    src.write_text(json.dumps({"id": "t1", "question": QUESTION, "steps": STEPS}) + "\n")
    out = tmp_path / "out.jsonl"
    env = {**os.environ, ENV_SERVER: server.url, ENV_MODEL: "fake-model", ENV_BATCH_STEPS: "3"}
    cmd = [sys.executable, "cli.py", "analyze", str(src), "--out", str(out), "--tagger", "llm"]
    done = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "analysed 1 traces" in done.stdout and "steps with backtracking: 1" in done.stdout
    record = json.loads(out.read_text())
    assert record["id"] == "t1" and record["tagger"] == "llm@1:fake-model"
    assert [s["behaviors"] for s in record["steps"]] == [
        [],
        ["subgoal_setting"],
        ["backward_chaining"],
        [],
        ["backtracking"],
        [],
        ["verification"],
    ]
    assert record["steps"][4]["evidence"] == [
        {"behavior": "backtracking", "start": 5, "end": 15, "text": "Wait, that", "confidence": 1.0}
    ]
    assert len(server.tagging_bodies()) == 3
    unset = {k: v for k, v in os.environ.items() if not k.startswith("THOUGHTSCOPE_TAGGER_")}
    missing = subprocess.run(cmd, cwd=ROOT, env=unset, capture_output=True, text=True, timeout=120)
    assert missing.returncode == 1 and "Traceback" not in missing.stderr
    assert f"error: --tagger llm: the llm tagger needs a model: set {ENV_SERVER}" in missing.stderr


def test_cli_evaluate_tags_with_the_llm_tagger(
    llm_env, server: FakeOpenAIServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from cli import app

    gold = [[], ["subgoal_setting"], ["backward_chaining"], []]
    gold += [["backtracking"], ["backtracking"], ["verification"]]  # step 6's backtrack is missed
    path = tmp_path / "gold.jsonl"
    path.write_text(json.dumps({"id": "g", "steps": STEPS, "behaviors": gold}) + "\n")
    monkeypatch.setenv(ENV_SERVER, server.url)
    register_llm_tagger(replace=True)
    result = CliRunner().invoke(app, ["evaluate-tags", str(path), "--tagger", "llm", "--json"])
    assert result.exit_code == 0, result.output
    scores = json.loads(result.output)["gold"]["all"]
    assert scores["per_behavior"]["backtracking"]["precision"] == 1.0
    assert scores["per_behavior"]["backtracking"]["recall"] == 0.5
    assert scores["macro_f1"] == pytest.approx((2 / 3 + 3) / 4)


# ----- a real (tiny, random) local model: garbage answers -----


def test_garbage_from_a_tiny_local_model_costs_windows_not_the_run(
    llm_env, tmp_path_factory: pytest.TempPathFactory
) -> None:
    torch = pytest.importorskip("torch")
    from tests.tiny_model import tiny_model_dir

    folder = tiny_model_dir(tmp_path_factory.mktemp("lm"), chat_template=True)
    tagger = llm_tagger_from_env(
        {ENV_MODEL: str(folder), ENV_MAX_TOKENS: "16", ENV_BATCH_STEPS: "4"}
    )
    assert tagger.backend.describe()["backend"] == "transformers"
    assert tagger.version == f"1:{folder}"
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # a 2-layer model gains nothing from threads on a shared machine
    try:
        assert tagger.tag(STEPS, QUESTION) == []
    finally:
        torch.set_num_threads(threads)
    assert (tagger.windows, tagger.retried_windows, tagger.failed_windows) == (2, 2, 2)
    assert [w.split(":")[1] for w in tagger.warnings] == [" steps 1-4", " steps 5-7"]
