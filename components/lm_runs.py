"""What the LM page asks for (backend, generation, correction settings) and how a job starts.

The settings are plain dataclasses filled from the page's widgets; ``check_*`` functions return
the problems a person must fix before a job can start (as sentences naming the field), and
``start_generation`` / ``start_correction`` start a background ``LMJob`` (components.lm_job)
that runs the same functions as the CLI verbs ``generate lm`` and ``correct``.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from components.lm_job import LMJob, start_job
from generators.lm import LMBackend, SamplingParams, load_backend
from generators.prompts import PromptTemplate, load_template

EACH_TASK = "each task's own prompt"
"""Prompt choice: every question uses the template file of its own task (prompts/<task>.toml)."""

CUSTOM_PROMPT = "a .toml file…"
"""Prompt choice: one template file, given by path, for every question."""

MODES: tuple[str, ...] = ("stepwise", "whole")


@dataclass(frozen=True)
class BackendChoice:
    """Which model runs: a local model folder (transformers) or an OpenAI-compatible server."""

    kind: str = "local"
    """'local' or 'server'."""
    model_path: str = ""
    server_url: str = ""
    server_model: str = ""
    api: str = "completions"
    device: str = "auto"
    dtype: str = "auto"

    @property
    def model_label(self) -> str:
        """Return the model as people named it (path, or server model @ URL)."""
        if self.kind == "server":
            return f"{self.server_model or '(server default)'} @ {self.server_url.strip()}"
        return self.model_path.strip()

    def open(self) -> LMBackend:
        """Return the loaded backend (slow for a big local model: call it on the job thread)."""
        if self.kind == "server":
            return load_backend(
                self.server_model.strip() or None,
                server=self.server_url.strip(),
                api=self.api,  # type: ignore[arg-type]
            )
        return load_backend(self.model_path.strip(), device=self.device, dtype=self.dtype)


def check_backend(choice: BackendChoice) -> list[str]:
    """Return what is wrong with ``choice`` (empty when a job may start)."""
    if choice.kind == "server":
        url = choice.server_url.strip()
        if not url:
            return ["Server URL: give the server's base URL, e.g. http://localhost:8000"]
        if not url.startswith(("http://", "https://")):
            return [f"Server URL: expected it to start with http:// or https://, got '{url}'"]
        return []
    path = choice.model_path.strip()
    if not path:
        return ["Model folder: give the path of a local model folder (with config.json)"]
    folder = Path(path).expanduser()
    if not folder.is_dir():
        return [
            f"Model folder: no folder at '{path}' on the app's machine (the app loads local "
            "folders only; the CLI also takes hub ids)"
        ]
    if not (folder / "config.json").is_file():
        return [f"Model folder: '{path}' has no config.json: expected a saved transformers model"]
    return []


def choose_template(choice: str, custom_path: str = "") -> PromptTemplate | None:
    """Return the template for the prompt choice (None: each task's own); raise PromptError."""
    if choice == EACH_TASK:
        return None
    if choice == CUSTOM_PROMPT:
        path = custom_path.strip()
        if not path:
            raise ValueError("Prompt file: give the path of a .toml prompt template")
        return load_template(Path(path).expanduser())
    return load_template(choice)


@dataclass(frozen=True)
class GenerateSettings:
    """A generation job: where questions come from, where traces go, how to sample."""

    backend: BackendChoice
    from_dataset: str
    dataset: str
    task: str | None = None
    prompt: str = EACH_TASK
    prompt_path: str = ""
    mode: str = "stepwise"
    n: int = 20
    max_new_tokens: int = 128
    temperature: float = 0.0
    top_p: float = 1.0
    batch_size: int = 8
    seed: int = 0
    max_steps: int | None = None


def generation_params(settings: GenerateSettings) -> SamplingParams:
    """Return the sampling parameters of ``settings``; raise ValueError for a bad value."""
    return SamplingParams(
        max_new_tokens=settings.max_new_tokens,
        temperature=settings.temperature,
        top_p=settings.top_p,
        seed=settings.seed,
    )


def check_generation(settings: GenerateSettings) -> list[str]:
    """Return what is wrong with ``settings`` besides the backend (empty when fine)."""
    problems = []
    if not settings.from_dataset:
        problems.append("Source dataset: choose the dataset whose questions to answer")
    if not settings.dataset.strip():
        problems.append("New dataset: give the name of the dataset the new traces go to")
    if settings.mode not in MODES:
        problems.append(f"Mode: expected one of {', '.join(MODES)}, got '{settings.mode}'")
    try:
        generation_params(settings)
    except ValueError as exc:
        problems.append(f"Sampling: {exc}")
    return problems


def generation_title(settings: GenerateSettings) -> str:
    """Return the one-line description of a generation job."""
    task = f" ({settings.task})" if settings.task else ""
    return (
        f"generate {settings.n} {settings.mode} traces for questions of "
        f"'{settings.from_dataset}'{task} into '{settings.dataset.strip()}' "
        f"with {settings.backend.model_label}"
    )


def start_generation(
    store: Any,
    settings: GenerateSettings,
    *,
    open_backend: Callable[[], LMBackend] | None = None,
) -> LMJob:
    """Return a started generation job; raise ValueError (PromptError) for a bad setting.

    Questions and prompt templates are read here, before the thread starts, so a missing
    dataset or prompt file is reported at once; ``open_backend`` replaces loading the chosen
    backend (tests wrap the real one).
    """
    from generators.lm_jobs import requests_from_store, run_generation, templates_for

    template = choose_template(settings.prompt, settings.prompt_path)
    requests = requests_from_store(store, settings.from_dataset, task=settings.task, n=settings.n)
    if not requests:
        where = f" with task '{settings.task}'" if settings.task else ""
        raise ValueError(
            f"Source dataset: no traces in '{settings.from_dataset}'{where} to take questions from"
        )
    templates = templates_for(requests, template)
    params = generation_params(settings)
    if settings.mode == "stepwise":
        limit = settings.max_steps or max(t.max_steps for t in templates)
        expected = len(requests) * limit
    else:
        expected = len(requests)

    def work(backend: LMBackend, job: LMJob) -> Any:
        return run_generation(
            store,
            backend,
            requests,
            dataset=settings.dataset.strip(),
            params=params,
            mode=settings.mode,  # type: ignore[arg-type]
            template=template,
            max_steps=settings.max_steps,
            batch_size=settings.batch_size,
            run_params={
                "from_dataset": settings.from_dataset,
                "task": settings.task,
                "n": settings.n,
                "started_from": "app",
            },
            progress=job.on_progress,
            cancel=job.cancel,
        )

    return start_job(
        "generate",
        generation_title(settings),
        open_backend or settings.backend.open,
        work,
        expected_completions=expected,
    )


@dataclass(frozen=True)
class CorrectSettings:
    """A correction job: which traces, where the mistake locations come from, how to sample."""

    backend: BackendChoice
    dataset: str
    location: str = "label"
    task: str | None = None
    n: int | None = 20
    k: int = 8
    max_new_tokens: int = 128
    max_steps: int | None = None
    batch_size: int = 8
    seed: int = 0
    control: bool = True
    out_dataset: str = ""
    prompt: str = EACH_TASK
    prompt_path: str = ""


def check_correction(settings: CorrectSettings) -> list[str]:
    """Return what is wrong with ``settings`` besides the backend (empty when fine)."""
    from generators.correct_runs import LOCATION_SOURCES

    problems = []
    if not settings.dataset:
        problems.append("Dataset: choose the dataset whose traces to correct")
    if settings.location not in LOCATION_SOURCES:
        problems.append(
            f"Mistake locations: expected one of {', '.join(LOCATION_SOURCES)}, "
            f"got '{settings.location}'"
        )
    if settings.k < 1:
        problems.append(f"Candidates (k): expected at least 1, got {settings.k}")
    if settings.max_new_tokens < 1:
        problems.append(f"Max new tokens: expected at least 1, got {settings.max_new_tokens}")
    return problems


def correction_arms(settings: CorrectSettings) -> int:
    """Return how many arms the correction runs (2 with the random-location control)."""
    return 2 if settings.control and settings.location != "random" else 1


def correction_title(settings: CorrectSettings) -> str:
    """Return the one-line description of a correction job."""
    how_many = "all located" if settings.n is None else f"up to {settings.n}"
    control = " + random-location control" if correction_arms(settings) == 2 else ""
    return (
        f"correct {how_many} traces of '{settings.dataset}' at {settings.location} locations"
        f"{control} (k={settings.k}) with {settings.backend.model_label}"
    )


def start_correction(
    store: Any,
    settings: CorrectSettings,
    *,
    open_backend: Callable[[], LMBackend] | None = None,
) -> LMJob:
    """Return a started correction job; raise ValueError (PromptError) for a bad setting."""
    from generators.correct_runs import run_correction
    from trace_store import TraceFilter

    template = choose_template(settings.prompt, settings.prompt_path)
    flt = TraceFilter(datasets=[settings.dataset], tasks=[settings.task] if settings.task else None)
    available = store.count_traces(flt, cap=None if settings.n is None else settings.n)
    if available == 0:
        where = f" with task '{settings.task}'" if settings.task else ""
        raise ValueError(f"Dataset: no traces in '{settings.dataset}'{where}")
    n = available if settings.n is None else min(settings.n, available)
    step_limit = settings.max_steps or (template.max_steps if template else 40)
    expected = correction_arms(settings) * n * (settings.k + step_limit)

    def work(backend: LMBackend, job: LMJob) -> Any:
        return run_correction(
            store,
            backend,
            dataset=settings.dataset,
            location=settings.location,  # type: ignore[arg-type]
            n=settings.n,
            task=settings.task,
            k=settings.k,
            max_new_tokens=settings.max_new_tokens,
            max_steps=settings.max_steps,
            seed=settings.seed,
            control=settings.control,
            out_dataset=settings.out_dataset.strip() or None,
            batch_size=settings.batch_size,
            template=template,
            progress=job.on_progress,
            cancel=job.cancel,
        )

    return start_job(
        "correct",
        correction_title(settings),
        open_backend or settings.backend.open,
        work,
        expected_completions=max(1, math.ceil(expected)),
    )
