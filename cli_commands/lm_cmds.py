"""`generate lm` (traces from a language model) and `correct` (backtracking correction)."""

from __future__ import annotations

import sys
from typing import Any

import typer

from cli_commands.common import connect_cli_store, fail, print_json

GENERATE_LM_HELP = """Generate chain-of-thought traces with a language model and store them.

Questions and targets come from the traces of --from-dataset (optionally one --task). Each task
uses its few-shot prompt from prompts/<task>.toml (or --prompt FILE). Step-wise mode (default)
asks for one "Thought N:" step per call with a newline as the stop, as BIG-Bench Mistake traces
were made; --max-new-tokens then limits each step. Whole mode asks for the whole reasoning at
once (R1 style; --max-new-tokens limits the trace) and splits it into steps. The new traces
(with per-step token log-probabilities) go to --dataset, and a Run records model, prompts,
parameters and timings. --server URL uses an OpenAI-compatible server instead of loading the
model (--model is then the name sent to it; omitted, the server's first model).

Example:

\b
    python cli.py generate lm --model Qwen/Qwen2.5-0.5B-Instruct --dataset bbm-regen \\
        --from-dataset bbm --task word_sorting --n 50 --max-new-tokens 128 --batch-size 8

\b
    python cli.py generate lm --server http://localhost:8000 --model my-model \\
        --dataset bbm-regen --from-dataset bbm --task dyck_languages --n 20
"""

CORRECT_HELP = """Backtracking correction: resample the mistaken step, continue greedily.

For the first --n traces of --dataset that have a mistake location (--location label: the
adjudicated, human-majority or dataset label; suggestion: the best first-mistake suggestion of a
mistake finder; random: a random step), keep the steps before it, sample --k candidates for it at
temperature 1, take the most likely one that differs from the original step, and continue
greedily to an answer. Corrected traces are stored in --out-dataset (default
<dataset>-corrected), linked to their originals. The report gives accuracy before/after and,
unless --no-control, the paper's control: the same procedure at a random step of the same
traces, to show whether the locations help.

Example:

\b
    python cli.py correct --dataset bbm --task word_sorting --location label \\
        --model Qwen/Qwen2.5-0.5B-Instruct --n 20 --k 8 --max-new-tokens 128
"""


def _progress_bar(total_hint: int, desc: str) -> tuple[Any, Any]:
    from tqdm import tqdm

    bar = tqdm(total=total_hint, desc=desc, file=sys.stderr, unit="trace", leave=False)

    def update(done: int, total: int) -> None:
        bar.total = total
        bar.n = done
        bar.refresh()

    return bar, update


def _open_backend(
    model: str | None,
    server: str | None,
    api: str,
    device: str,
    dtype: str,
    chat_template: bool | None,
    concurrency: int,
    timeout: float,
) -> Any:
    from generators.lm import LMError, load_backend

    if not model and not server:
        fail("give --model PATH_OR_HUB_ID, or --server URL (with --model NAME, optionally)")
    try:
        return load_backend(
            model,
            server=server,
            api=api,
            device=device,
            dtype=dtype,  # type: ignore[arg-type]
            chat_template=chat_template,
            concurrency=concurrency,
            timeout=timeout,
        )
    except LMError as exc:
        fail(str(exc))


def _print_report_json(report: Any, **fields: Any) -> None:
    """Print a generation or correction report as JSON; ``fields`` go after run_id and dataset."""
    print_json(
        {
            "run_id": report.run_id,
            "dataset": report.dataset,
            **fields,
            "status": report.status,
            **report.stats(),
            "trace_ids": report.trace_ids,
        }
    )


def generate_lm(
    model: str | None = typer.Option(
        None, "--model", help="Local path or hub id (or server model name)."
    ),
    dataset: str = typer.Option(..., "--dataset", help="Dataset the new traces go to."),
    from_dataset: str = typer.Option(
        ..., "--from-dataset", help="Dataset whose questions to answer."
    ),
    task: str | None = typer.Option(None, "--task", help="Only questions of this task."),
    n: int = typer.Option(50, "--n", min=1, help="How many questions (distinct) to answer."),
    mode: str = typer.Option("stepwise", "--mode", help="stepwise (one step per call) or whole."),
    max_new_tokens: int | None = typer.Option(
        None,
        "--max-new-tokens",
        min=1,
        help="Token limit per step (stepwise, 128) or trace (whole, 1024).",
    ),
    temperature: float = typer.Option(0.0, "--temperature", min=0.0, help="0 = greedy."),
    top_p: float = typer.Option(1.0, "--top-p", help="Nucleus sampling mass, in (0, 1]."),
    seed: int = typer.Option(0, "--seed", help="Random seed (same seed, same traces)."),
    stop: list[str] = typer.Option([], "--stop", help="Extra stop string (repeatable)."),
    batch_size: int = typer.Option(8, "--batch-size", min=1, help="Prompts per forward batch."),
    max_steps: int | None = typer.Option(
        None, "--max-steps", min=1, help="Step limit (default: the prompt's)."
    ),
    prompt: str | None = typer.Option(
        None, "--prompt", help="Prompt template .toml for all questions."
    ),
    segment_mode: str = typer.Option(
        "auto", "--segment-mode", help="Segmenter mode for whole mode."
    ),
    server: str | None = typer.Option(None, "--server", help="OpenAI-compatible server base URL."),
    api: str = typer.Option(
        "auto", "--api", help="Server API: auto (completions), completions or chat."
    ),
    concurrency: int = typer.Option(4, "--concurrency", min=1, help="Requests in flight (server)."),
    timeout: float = typer.Option(120.0, "--timeout", min=1.0, help="Seconds per server request."),
    device: str = typer.Option(
        "auto", "--device", help="auto (GPU when present), cpu, cuda, cuda:1..."
    ),
    dtype: str = typer.Option("auto", "--dtype", help="auto, float32, bfloat16, float16."),
    chat_template: bool | None = typer.Option(
        None,
        "--chat-template/--no-chat-template",
        help="Wrap prompts in the chat template (default: when the tokenizer has one).",
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the report as JSON."),
) -> None:
    from generators.lm import LMError, SamplingParams
    from generators.lm_jobs import requests_from_store, run_generation
    from generators.prompts import PromptError, load_template

    if mode not in ("stepwise", "whole"):
        fail(f"--mode must be 'stepwise' or 'whole', got '{mode}'")
    if api not in ("auto", "completions", "chat"):
        fail(f"--api must be auto, completions or chat, got '{api}'")
    try:
        params = SamplingParams(
            max_new_tokens=max_new_tokens or (128 if mode == "stepwise" else 1024),
            temperature=temperature,
            top_p=top_p,
            seed=seed,
            stop=tuple(stop),
        )
        template = load_template(prompt) if prompt else None
    except (ValueError, PromptError) as exc:
        fail(str(exc))
    store = connect_cli_store()
    try:
        requests = requests_from_store(store, from_dataset, task=task, n=n)
        if not requests:
            where = f" with task '{task}'" if task else ""
            fail(f"no traces in dataset '{from_dataset}'{where} to take questions from")
        if template is None:
            try:
                load_template(requests[0].task)
            except PromptError as exc:
                fail(str(exc))
        backend = _open_backend(
            model, server, api, device, dtype, chat_template, concurrency, timeout
        )
        bar, update = _progress_bar(len(requests), "generate")
        try:
            report = run_generation(
                store,
                backend,
                requests,
                dataset=dataset,
                params=params,
                mode=mode,  # type: ignore[arg-type]
                template=template,
                max_steps=max_steps,
                segment_mode=segment_mode,
                batch_size=batch_size,
                progress=update,
                run_params={"from_dataset": from_dataset, "task": task, "n": n},
            )
        except (LMError, PromptError) as exc:
            fail(str(exc))
        finally:
            bar.close()
            backend.close()
    finally:
        store.close()
    if as_json:
        _print_report_json(report, model=report.model)
        return
    acc = "-" if report.accuracy is None else f"{report.accuracy:.1%}"
    tps = "-" if report.tokens_per_s is None else f"{report.tokens_per_s:.1f}"
    typer.echo(
        f"run {report.run_id}: {report.n_generated} traces generated into '{report.dataset}' "
        f"({report.added} added, {report.unchanged} already there)\n"
        f"answered {report.n_answered}/{report.n_generated}, accuracy {acc} "
        f"({report.n_correct}/{report.n_with_target}); {report.tokens} tokens in "
        f"{report.seconds:.1f} s ({tps} tokens/s)"
    )


def correct(
    dataset: str = typer.Option(..., "--dataset", help="Dataset whose traces to correct."),
    location: str = typer.Option("label", "--location", help="label, suggestion or random."),
    model: str | None = typer.Option(
        None, "--model", help="Local path or hub id (or server model name)."
    ),
    n: int | None = typer.Option(
        None, "--n", min=1, help="How many traces (default: all located)."
    ),
    task: str | None = typer.Option(None, "--task", help="Only traces of this task."),
    k: int = typer.Option(8, "--k", min=1, help="Candidates sampled for the mistaken step."),
    max_new_tokens: int = typer.Option(
        128, "--max-new-tokens", min=1, help="Token limit per step."
    ),
    max_steps: int | None = typer.Option(
        None, "--max-steps", min=1, help="Step limit of a corrected trace."
    ),
    seed: int = typer.Option(0, "--seed", help="Random seed (candidates and random locations)."),
    control: bool = typer.Option(
        True, "--control/--no-control", help="Also run the random-location control."
    ),
    out_dataset: str | None = typer.Option(
        None, "--out-dataset", help="Where corrected traces go."
    ),
    batch_size: int = typer.Option(8, "--batch-size", min=1, help="Prompts per forward batch."),
    annotator: str | None = typer.Option(
        None, "--annotator", help="Use only this annotator's labels."
    ),
    agent: str | None = typer.Option(None, "--agent", help="Use only this agent's suggestions."),
    prompt: str | None = typer.Option(
        None, "--prompt", help="Prompt template .toml for all traces."
    ),
    server: str | None = typer.Option(
        None, "--server", help="OpenAI-compatible server (needs log-probs)."
    ),
    api: str = typer.Option(
        "auto", "--api", help="Server API: auto (completions), completions or chat."
    ),
    concurrency: int = typer.Option(4, "--concurrency", min=1, help="Requests in flight (server)."),
    timeout: float = typer.Option(120.0, "--timeout", min=1.0, help="Seconds per server request."),
    device: str = typer.Option("auto", "--device", help="auto (GPU when present), cpu, cuda, ..."),
    dtype: str = typer.Option("auto", "--dtype", help="auto, float32, bfloat16, float16."),
    chat_template: bool | None = typer.Option(
        None,
        "--chat-template/--no-chat-template",
        help="Wrap prompts in the chat template (default: when the tokenizer has one).",
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the report as JSON."),
) -> None:
    from generators.correct_runs import LOCATION_SOURCES, format_correction_report, run_correction
    from generators.lm import LMError
    from generators.prompts import PromptError, load_template

    if location not in LOCATION_SOURCES:
        fail(f"--location must be one of {', '.join(LOCATION_SOURCES)}, got '{location}'")
    try:
        template = load_template(prompt) if prompt else None
    except PromptError as exc:
        fail(str(exc))
    store = connect_cli_store()
    try:
        from trace_store import TraceFilter

        if (
            store.count_traces(
                TraceFilter(datasets=[dataset], tasks=[task] if task else None), cap=1
            )
            == 0
        ):
            where = f" with task '{task}'" if task else ""
            fail(f"no traces in dataset '{dataset}'{where}")
        backend = _open_backend(
            model, server, api, device, dtype, chat_template, concurrency, timeout
        )
        arms = 2 if control and location != "random" else 1
        bar, update = _progress_bar((n or 0) * arms, "correct")
        try:
            report = run_correction(
                store,
                backend,
                dataset=dataset,
                location=location,
                n=n,
                task=task,  # type: ignore[arg-type]
                k=k,
                max_new_tokens=max_new_tokens,
                max_steps=max_steps,
                seed=seed,
                control=control,
                out_dataset=out_dataset,
                batch_size=batch_size,
                annotator=annotator,
                agent=agent,
                template=template,
                progress=update,
            )
        except (LMError, PromptError) as exc:
            fail(str(exc))
        finally:
            bar.close()
            backend.close()
    finally:
        store.close()
    if as_json:
        _print_report_json(report, out_dataset=report.out_dataset, location=report.location)
        return
    if not report.arms or report.arms[0].n == 0:
        typer.echo(f"no trace of '{dataset}' has a {location} location; nothing corrected")
        if report.skipped:
            typer.echo(
                "skipped: " + ", ".join(f"{v} {k}" for k, v in sorted(report.skipped.items()))
            )
        return
    typer.echo(format_correction_report(report))


def register(app: typer.Typer) -> None:
    """Add `generate lm` (to the `generate` sub-app) and `correct` to ``app``."""
    try:
        from cli_commands.generate_cmds import generate_app
    except ModuleNotFoundError as exc:
        if exc.name != "cli_commands.generate_cmds":
            raise
        # The generate sub-app's owner has not added it yet: provide it so `generate lm` works.
        generate_app = typer.Typer(help="Generate traces.", no_args_is_help=True)
        app.add_typer(generate_app, name="generate")
    generate_app.command("lm", help=GENERATE_LM_HELP)(generate_lm)
    app.command("correct", help=CORRECT_HELP)(correct)
