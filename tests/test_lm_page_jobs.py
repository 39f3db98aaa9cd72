"""Below the LM page's UI: background jobs (progress, cancel), settings checks, tables, views."""

from __future__ import annotations

import os
import threading
from datetime import timedelta
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
pytest.importorskip("torch")

from components.correction_view import (  # noqa: E402
    candidates_frame,
    correction_info,
    first_difference,
    side_html,
    step_roles,
)
from components.lm_job import LMJob, ProgressBackend, start_job  # noqa: E402
from components.lm_runs import (  # noqa: E402
    CUSTOM_PROMPT,
    BackendChoice,
    CorrectSettings,
    GenerateSettings,
    check_backend,
    check_generation,
    start_correction,
    start_generation,
)
from components.lm_tables import (  # noqa: E402
    arms_frame,
    corrected_frame,
    correction_verdict,
    runs_frame,
    traces_of_run,
)
from generators.lm import LMError  # noqa: E402
from generators.lm_transformers import TransformersBackend  # noqa: E402
from tests.lm_helpers import RecordingBackend  # noqa: E402
from tests.lm_page_helpers import SOURCE_DATASET, seed_source_store, write_short_prompt  # noqa: E402
from tests.tiny_model import tiny_model_dir  # noqa: E402
from trace_store import TraceFilter  # noqa: E402
from trace_store.schema import Run, Step, Trace, utcnow  # noqa: E402

JOB_WAIT_S = 120


@pytest.fixture(scope="session")
def tiny_chat_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tiny_model_dir(tmp_path_factory.mktemp("lm"), chat_template=True)


@pytest.fixture
def source_store(tmp_path: Path):
    store = seed_source_store(f"sqlite:///{tmp_path / 'jobs.db'}")
    try:
        yield store
    finally:
        store.close()


class CancelAfterFirstBatch(RecordingBackend):
    """A real backend that asks the job to stop once its first batch has been generated."""

    def __init__(self, inner, job_ready: threading.Event, holder: dict) -> None:
        super().__init__(inner)
        self.job_ready = job_ready
        self.holder = holder
        self.batches = 0

    def complete(self, prompts, params, *, batch_size=8, progress=None, cancel=None):
        self.job_ready.wait(30)

        def on_batch(done: int, total: int) -> None:
            self.batches += 1
            if self.batches == 1:
                self.holder["job"].request_cancel()
            if progress is not None:
                progress(done, total)

        return super().complete(
            prompts, params, batch_size=batch_size, progress=on_batch, cancel=cancel
        )


def tiny_generate_settings(model_dir: Path, tmp_path: Path, **given) -> GenerateSettings:
    """Return generation settings for the tiny model: source questions, short prompt, 8 tokens."""
    return GenerateSettings(
        backend=BackendChoice(model_path=str(model_dir)),
        from_dataset=SOURCE_DATASET,
        prompt=CUSTOM_PROMPT,
        prompt_path=str(write_short_prompt(tmp_path)),
        max_new_tokens=8,
        **given,
    )


def tiny_correct_settings(
    model_dir: Path, tmp_path: Path, *, k: int, batch_size: int
) -> CorrectSettings:
    """Return correction settings for the tiny model at labelled locations (short prompt)."""
    return CorrectSettings(
        backend=BackendChoice(model_path=str(model_dir)),
        dataset=SOURCE_DATASET,
        location="label",
        k=k,
        max_new_tokens=8,
        max_steps=5,
        batch_size=batch_size,
        prompt=CUSTOM_PROMPT,
        prompt_path=str(write_short_prompt(tmp_path)),
    )


def run_cancelled_after_first_batch(start, store, model_dir: Path, settings):
    """Return (ended job, its backend) of ``start`` asked to stop after the first batch."""
    ready, holder = threading.Event(), {}
    made: list[CancelAfterFirstBatch] = []

    def open_backend():
        made.append(CancelAfterFirstBatch(TransformersBackend(str(model_dir)), ready, holder))
        return made[0]

    job = start(store, settings, open_backend=open_backend)
    holder["job"] = job
    ready.set()
    assert job.wait(JOB_WAIT_S)
    return job, made[0]


def test_cancel_stops_a_generation_job_at_the_next_batch(
    source_store, tiny_chat_dir: Path, tmp_path: Path
) -> None:
    settings = tiny_generate_settings(
        tiny_chat_dir, tmp_path, dataset="cancelled-gen", n=4, batch_size=1
    )
    job, backend = run_cancelled_after_first_batch(
        start_generation, source_store, tiny_chat_dir, settings
    )
    # One batch of one prompt was generated; the other three batches of that round were
    # answered "cancelled" without running, and no second round was asked for.
    assert backend.batches == 1
    assert len(backend.calls) == 1
    finishes = [o.finish_reason for o in backend.calls[0].outputs]
    assert finishes.count("cancelled") == 3
    assert job.status == "cancelled" and job.error is None
    assert job.completions == 1 and job.fraction() == 1.0
    assert job.result.n_generated == 0
    runs = source_store.list_runs("generate")
    assert [(r.id, r.status) for r in runs] == [(job.result.run_id, "cancelled")]
    assert source_store.count_traces(TraceFilter(datasets=["cancelled-gen"])) == 0


def test_cancel_stops_a_correction_job_before_the_control_arm(
    source_store, tiny_chat_dir: Path, tmp_path: Path
) -> None:
    settings = tiny_correct_settings(tiny_chat_dir, tmp_path, k=4, batch_size=2)
    job, backend = run_cancelled_after_first_batch(
        start_correction, source_store, tiny_chat_dir, settings
    )
    # The first arm's candidates (2 traces x k=4, batches of 2): one batch ran, three did
    # not; nothing was continued greedily and the control arm never started.
    assert backend.batches == 1
    assert [len(c.prompts) for c in backend.calls] == [8]
    assert [o.finish_reason for o in backend.calls[0].outputs].count("cancelled") == 6
    assert job.status == "cancelled" and job.completions == 2
    report = job.result
    assert [a.arm for a in report.arms] == ["label"] and report.arms[0].n == 0
    run = source_store.list_runs("correct")[0]
    assert run.id == report.run_id and run.status == "cancelled"
    assert source_store.count_traces(TraceFilter(datasets=[f"{SOURCE_DATASET}-corrected"])) == 0


def test_generation_job_reports_progress_and_records_the_run(
    source_store, tiny_chat_dir: Path, tmp_path: Path
) -> None:
    settings = tiny_generate_settings(
        tiny_chat_dir,
        tmp_path,
        dataset="gen",
        task="multistep_arithmetic",
        n=5,
        batch_size=2,
        max_steps=3,
    )
    job = start_generation(source_store, settings)
    # Two multistep_arithmetic questions in the source; three rounds at most.
    assert job.expected_completions == 2 * 3
    assert job.wait(JOB_WAIT_S)
    assert job.status == "done", job.error
    report = job.result
    assert report.n_requested == 2 and report.n_generated == 2
    assert job.done == job.total == 2
    # Every completion of every round was counted: one per trace and step generated.
    stored = list(source_store.iter_traces(TraceFilter(datasets=["gen"])))
    assert job.completions == sum(len(t.steps) for t in stored)
    run = source_store.list_runs("generate")[0]
    assert run.params["task"] == "multistep_arithmetic" and run.params["max_steps"] == 3
    assert run.params["started_from"] == "app"
    assert run.stats["n_generated"] == 2 and run.finished_at is not None
    frame = runs_frame([run])
    assert frame.iloc[0]["result"] == (
        f"2 traces, accuracy {report.accuracy:.1%} ({report.n_correct}/2)"
    )
    assert frame.iloc[0]["tokens/s"] == run.stats["tokens_per_s"]


def test_correction_job_tables_match_the_report(
    source_store, tiny_chat_dir: Path, tmp_path: Path
) -> None:
    settings = tiny_correct_settings(tiny_chat_dir, tmp_path, k=3, batch_size=4)
    job = start_correction(source_store, settings)
    assert job.wait(JOB_WAIT_S)
    assert job.status == "done", job.error
    report = job.result
    run = next(r for r in source_store.list_runs("correct") if r.id == report.run_id)
    frame = arms_frame(run.stats)
    for arm in report.arms:
        d = arm.as_dict()
        column = {"label": "labelled locations", "random_control": "random-location control"}[
            arm.arm
        ]
        assert frame.loc["traces corrected", column] == str(arm.n) == "2"
        assert frame.loc["accuracy after", column] == f"{d['accuracy_after']:.1%}"
        assert frame.loc["correct after", column] == str(arm.correct_after)
        assert frame.loc["fixed (wrong → right)", column] == str(arm.fixed)
        change = 100 * (d["accuracy_after"] - d["accuracy_before"])
        assert frame.loc["change (points)", column] == f"{change:+.1f}"
    traces = traces_of_run(source_store, run)
    assert sorted(t.id for t in traces) == sorted(report.trace_ids)
    rows = corrected_frame(traces)
    assert len(rows) == 4
    by_id = {t.id: t for t in traces}
    for _, row in rows.iterrows():
        trace = by_id[row["id"]]
        corr = trace.metadata["correction"]
        assert row["step"] == corr["step"] and row["original"] == trace.metadata["corrected_from"]
        assert row["chosen log-prob"] == corr["candidates"][corr["chosen"]]["logprob"]
        assert row["right after"] == trace.correct
    # The side-by-side view's pieces on a real corrected trace.
    trace = traces[0]
    info = correction_info(trace)
    original = source_store.get_trace(info.corrected_from)
    assert first_difference(original, trace) == info.step
    cands = candidates_frame(info)
    assert len(cands) == 3 + 1 and cands["chosen"].tolist().count("✔ chosen") == 1


def test_a_failing_backend_ends_the_job_with_its_message() -> None:
    def broken():
        raise LMError("cannot load model '/models/x': no config.json")

    job = start_job("generate", "t", broken, lambda b, j: None, expected_completions=1)
    assert job.wait(10)
    assert job.status == "failed"
    assert job.error == "cannot load model '/models/x': no config.json"
    assert job.error_details is None  # a user error: no traceback


def test_an_unexpected_error_keeps_its_traceback_for_the_details() -> None:
    class Backend:
        model_name = "m"

        def close(self) -> None:
            pass

    def work(backend, job):
        raise RuntimeError("boom")

    job = start_job("correct", "t", Backend, work, expected_completions=1)
    assert job.wait(10)
    assert job.status == "failed" and job.error == "RuntimeError: boom"
    assert "Traceback" in job.error_details and "boom" in job.error_details


def test_job_fraction_takes_the_further_of_traces_and_model_calls() -> None:
    job = LMJob(kind="generate", title="t", expected_completions=40)
    job.on_progress(0, 4)
    job.on_completions(10)
    assert job.fraction() == pytest.approx(0.25)
    job.on_progress(2, 4)
    assert job.fraction() == pytest.approx(0.5)
    job.on_completions(60)
    assert job.fraction() == 0.99  # never full while running
    assert "2 of 4 traces finished · 70 model calls answered" in job.progress_text()
    job.request_cancel()
    assert job.progress_text().endswith("stopping at the next batch…")
    job.status = "cancelled"
    assert job.fraction() == 1.0


def test_progress_backend_counts_completions_of_backends_without_progress(
    tiny_chat_dir: Path,
) -> None:
    from generators.lm import Prompt, SamplingParams

    job = LMJob(kind="generate", title="t", expected_completions=3)
    backend = ProgressBackend(TransformersBackend(str(tiny_chat_dir)), job)
    seen: list[tuple[int, int]] = []
    outs = backend.complete(
        [Prompt("a"), Prompt("b"), Prompt("c")],
        SamplingParams(max_new_tokens=3),
        batch_size=2,
        progress=lambda d, t: seen.append((d, t)),
    )
    assert len(outs) == 3 and job.completions == 3
    assert seen == [(2, 3), (3, 3)]  # the caller's own progress still arrives
    assert backend.model_name == str(tiny_chat_dir) and backend.supports_logprobs


def test_check_backend_names_the_field_and_what_was_expected(tmp_path: Path) -> None:
    assert check_backend(BackendChoice(model_path="")) == [
        "Model folder: give the path of a local model folder (with config.json)"
    ]
    missing = check_backend(BackendChoice(model_path=str(tmp_path / "none")))
    assert missing[0].startswith(f"Model folder: no folder at '{tmp_path / 'none'}'")
    (tmp_path / "empty").mkdir()
    assert (
        "has no config.json" in check_backend(BackendChoice(model_path=str(tmp_path / "empty")))[0]
    )
    assert check_backend(BackendChoice(kind="server", server_url="localhost:8000")) == [
        "Server URL: expected it to start with http:// or https://, got 'localhost:8000'"
    ]
    assert check_backend(BackendChoice(kind="server", server_url="http://127.0.0.1:9")) == []
    bad = GenerateSettings(backend=BackendChoice(), from_dataset="", dataset=" ", top_p=0.0)
    assert check_generation(bad) == [
        "Source dataset: choose the dataset whose questions to answer",
        "New dataset: give the name of the dataset the new traces go to",
        "Sampling: top_p must be in (0, 1], got 0.0",
    ]


def test_starting_without_questions_is_refused_before_any_thread(source_store) -> None:
    settings = GenerateSettings(
        backend=BackendChoice(model_path="/nowhere"), from_dataset="absent", dataset="x"
    )
    with pytest.raises(ValueError, match="no traces in 'absent' to take questions from"):
        start_generation(source_store, settings)
    settings = CorrectSettings(backend=BackendChoice(model_path="/nowhere"), dataset="absent")
    with pytest.raises(ValueError, match="Dataset: no traces in 'absent'"):
        start_correction(source_store, settings)


def _corrected_pair(text: str = "<script>alert(1)</script> $x$") -> tuple[Trace, Trace]:
    original = Trace(
        id="o",
        dataset="d",
        question="q",
        steps=[Step(index=i, text=t) for i, t in enumerate(["a", "b", "wrong", "d"])],
    )
    corrected = Trace(
        id="o~label-s2-x",
        dataset="d-corrected",
        question="q",
        steps=[Step(index=i, text=t) for i, t in enumerate(["a", "b", text, "e", "f"])],
        answer="7",
        correct=True,
        metadata={
            "corrected_from": "o",
            "correction": {
                "run_id": "correct-1",
                "arm": "label",
                "step": 2,
                "location_source": "label:dataset:d",
                "original_step": "wrong",
                "original_step_logprob": -9.5,
                "original_answer": "6",
                "original_correct": False,
                "k": 3,
                "candidates": [
                    {"text": "wrong", "logprob": -1.0, "n_tokens": 2, "differs": False},
                    {"text": text, "logprob": -2.0, "n_tokens": 4, "differs": True},
                    {"text": "other", "logprob": -3.5, "n_tokens": 3, "differs": True},
                ],
                "chosen": 1,
            },
        },
    )
    return original, corrected


def test_side_by_side_marks_roles_and_shows_text_inert() -> None:
    original, corrected = _corrected_pair()
    info = correction_info(corrected)
    assert info.step == 2 and info.chosen == 1 and info.corrected_from == "o"
    assert correction_info(original) is None
    assert first_difference(original, corrected) == 2
    assert step_roles(4, 2, "original", 1) == ["kept", "kept", "replaced", "original"]
    assert step_roles(5, 2, "corrected", 1) == ["kept", "kept", "chosen", "continued", "continued"]
    assert step_roles(3, 1, "corrected", None) == ["kept", "kept_original", "continued"]
    right = side_html(corrected, 2, "corrected", 1, [])
    assert "<script>" not in right and "&lt;script&gt;alert(1)&lt;/script&gt; $x$" in right
    assert right.count('data-role="chosen"') == 1 and "divergence: chosen candidate" in right
    left = side_html(original, 2, "original", 1, [])
    assert left.count('data-role="replaced"') == 1 and left.count('data-role="kept"') == 2
    frame = candidates_frame(info)
    # Most likely first; the original step last, with its own log-probability.
    assert frame["log-prob"].tolist() == [-1.0, -2.0, -3.5, -9.5]
    assert frame["chosen"].tolist() == ["", "✔ chosen", "", "original step"]
    assert frame["differs from original"].tolist() == [False, True, True, False]


def test_runs_and_arms_tables_from_stored_stats() -> None:
    start = utcnow()
    run = Run(
        id="correct-1",
        kind="correct",
        dataset="d-corrected",
        model="m",
        params={
            "source_dataset": "d",
            "location": "label",
            "k": 8,
            "n": 10,
            "control": True,
            "max_new_tokens": 64,
            "batch_size": 4,
            "seed": 1,
        },
        stats={
            "arms": {
                "label": {
                    "arm": "label",
                    "n": 10,
                    "n_with_target": 8,
                    "accuracy_before": 0.25,
                    "accuracy_after": 0.625,
                    "fixed": 3,
                    "broken": 0,
                },
                "random_control": {
                    "arm": "random_control",
                    "n": 10,
                    "n_with_target": 8,
                    "accuracy_before": 0.25,
                    "accuracy_after": 0.375,
                    "fixed": 1,
                    "broken": 0,
                },
            }
        },
        status="done",
        started_at=start,
        finished_at=start + timedelta(seconds=12.5),
    )
    row = runs_frame([run]).iloc[0]
    assert row["from"] == "d" and row["into"] == "d-corrected" and row["seconds"] == 12.5
    assert row["settings"] == ("label locations, k=8, max tokens 64, batch 4, seed 1, with control")
    assert row["result"] == (
        "labelled locations: 25.0% → 62.5% (n=10); random-location control: 25.0% → 37.5% (n=10)"
    )
    frame = arms_frame(run.stats)
    assert frame.loc["correct before"].tolist() == ["2", "2"]
    assert frame.loc["correct after"].tolist() == ["5", "3"]
    assert frame.loc["change (points)"].tolist() == ["+37.5", "+12.5"]
    assert correction_verdict(run.stats) == (
        "The labelled locations help: 62.5% correct after correction at them vs 37.5% at "
        "random steps of the same traces."
    )
