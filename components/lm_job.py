"""Background LM jobs for the app: a thread, its progress, a cancel flag, its result or error.

A page starts a job with ``start_job`` and keeps the returned ``LMJob`` in session state; the
job's thread loads the backend, runs the generator function (generators.lm_jobs.run_generation
or generators.correct_runs.run_correction) and closes the backend. The page only reads the
job's fields (progress, status, result) and calls ``request_cancel``: no Streamlit call happens
on the job's thread. Cancelling sets the ``threading.Event`` the generators check between
batches (and the transformers backend between tokens), so the job stops at the next batch and
its Run is recorded as cancelled.

Progress is counted two ways: the run's own ``progress(done, total)`` (traces finished) and
every completion the backend returns (``ProgressBackend``), against an upper bound of the
completions the job can need; the bar shows the larger fraction, so it moves while a step-wise
round is still running even though no trace has finished yet.
"""

from __future__ import annotations

import contextlib
import threading
import time
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from generators.lm import (
    Completion,
    LMBackend,
    LMError,
    ProgressFn,
    Prompt,
    SamplingParams,
    WrappedBackend,
)

USER_ERRORS: tuple[type[BaseException], ...] = (LMError, ValueError, OSError)
"""Exceptions that are the person's input or environment (model, server, prompt file), shown
as a message without a traceback. PromptError is a ValueError."""


@dataclass
class LMJob:
    """One background job: what it is, how far it got, how it ended."""

    kind: str
    """'generate' or 'correct'."""
    title: str
    """One line for people, e.g. "generate 50 traces of bbm into bbm-regen"."""
    expected_completions: int
    """Upper bound on the completions the job can need (for the progress bar)."""
    cancel: threading.Event = field(default_factory=threading.Event)
    phase: str = "starting"
    done: int = 0
    total: int = 0
    completions: int = 0
    status: str = "running"
    result: Any = None
    error: str | None = None
    error_details: str | None = None
    started: float = field(default_factory=time.monotonic)
    finished: float | None = None
    acknowledged: bool = False
    """Set by the page once it has reacted to the job's end (caches cleared, results shown)."""
    thread: threading.Thread | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @property
    def running(self) -> bool:
        """Return True while the job's thread has not ended."""
        return self.status == "running"

    @property
    def cancel_requested(self) -> bool:
        """Return True once someone asked the job to stop."""
        return self.cancel.is_set()

    def request_cancel(self) -> None:
        """Ask the job to stop at the next batch."""
        self.cancel.set()

    def on_progress(self, done: int, total: int) -> None:
        """Record the run's own progress (traces finished of total)."""
        with self._lock:
            self.done, self.total = done, total

    def on_completions(self, n: int) -> None:
        """Count ``n`` more completions returned by the backend."""
        with self._lock:
            self.completions += n

    def set_phase(self, phase: str) -> None:
        """Record what the job is doing now (shown beside the bar)."""
        self.phase = phase

    def fraction(self) -> float:
        """Return how far the job is, in [0, 1]; below 1 until it has ended."""
        if not self.running:
            return 1.0
        with self._lock:
            by_traces = self.done / self.total if self.total else 0.0
            by_work = (
                self.completions / self.expected_completions if self.expected_completions else 0.0
            )
        return min(max(by_traces, by_work), 0.99)

    def elapsed(self) -> float:
        """Return seconds since the job started (until it ended, once it has)."""
        end = self.finished if self.finished is not None else time.monotonic()
        return end - self.started

    def progress_text(self) -> str:
        """Return the line shown on the progress bar."""
        with self._lock:
            done, total, completions = self.done, self.total, self.completions
        unit = "traces" if self.kind == "generate" else "corrections"
        parts = [self.phase]
        if total:
            parts.append(f"{done:,} of {total:,} {unit} finished")
        if completions:
            parts.append(f"{completions:,} model calls answered")
        parts.append(f"{self.elapsed():.1f} s")
        if self.cancel_requested and self.running:
            parts.append("stopping at the next batch…")
        return " · ".join(parts)

    def wait(self, timeout: float | None = None) -> bool:
        """Return True once the job's thread has ended (waiting up to ``timeout`` seconds)."""
        if self.thread is not None:
            self.thread.join(timeout)
        return not self.running


class ProgressBackend(WrappedBackend):
    """Wraps a backend so every completion it returns is counted on ``job`` (progress bar)."""

    def __init__(self, inner: LMBackend, job: LMJob) -> None:
        super().__init__(inner)
        self.job = job

    def complete(
        self,
        prompts: Sequence[Prompt],
        params: SamplingParams,
        *,
        batch_size: int = 8,
        progress: ProgressFn | None = None,
        cancel: threading.Event | None = None,
    ) -> list[Completion]:
        """Return the wrapped backend's completions, counting each batch as it ends."""
        seen = 0

        def counted(done: int, total: int) -> None:
            nonlocal seen
            self.job.on_completions(done - seen)
            seen = done
            if progress is not None:
                progress(done, total)

        outs = super().complete(
            prompts, params, batch_size=batch_size, progress=counted, cancel=cancel
        )
        answered = sum(o.finish_reason != "cancelled" for o in outs)
        if answered > seen:  # a backend that reports no progress: count on return
            self.job.on_completions(answered - seen)
        return outs


JobWork = Callable[[LMBackend, LMJob], Any]
"""What a job does once its backend is loaded: returns a report with a ``status``."""


def _run(job: LMJob, open_backend: Callable[[], LMBackend], work: JobWork) -> None:
    """Run ``work`` on ``job``'s thread and record how it ended (never raises)."""
    backend: LMBackend | None = None
    try:
        job.set_phase("loading the model")
        backend = open_backend()
        if job.cancel_requested:
            job.status = "cancelled"
            return
        job.set_phase("generating" if job.kind == "generate" else "correcting")
        report = work(ProgressBackend(backend, job), job)  # type: ignore[arg-type]
        job.result = report
        job.status = getattr(report, "status", "done")
    except USER_ERRORS as exc:
        job.status = "failed"
        job.error = str(exc) or type(exc).__name__
    except Exception as exc:  # noqa: BLE001 - the thread must record every failure
        job.status = "failed"
        job.error = f"{type(exc).__name__}: {exc}"
        job.error_details = traceback.format_exc()
    finally:
        if backend is not None:
            # Closing must not hide how the job ended.
            with contextlib.suppress(Exception):
                backend.close()
        job.set_phase({"done": "finished", "cancelled": "cancelled"}.get(job.status, job.status))
        job.finished = time.monotonic()


def start_job(
    kind: str,
    title: str,
    open_backend: Callable[[], LMBackend],
    work: JobWork,
    *,
    expected_completions: int,
) -> LMJob:
    """Return a started job that opens a backend and runs ``work(backend, job)`` in a thread."""
    job = LMJob(kind=kind, title=title, expected_completions=max(1, expected_completions))
    job.thread = threading.Thread(
        target=_run, args=(job, open_backend, work), name=f"thoughtscope-{kind}", daemon=True
    )
    job.thread.start()
    return job
