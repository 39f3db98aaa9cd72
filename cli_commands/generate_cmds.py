"""`generate`: a sub-app for verbs that make traces; `generate countdown` lives here.

Other areas add their verbs to the module-level ``generate_app`` (e.g. `generate lm` in
cli_commands/lm_cmds.py, registered after this module because verbs register alphabetically).
"""

from __future__ import annotations

import time
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import typer

from cli_commands.common import fail, open_cli_store, print_json

GENERATE_HELP = """Generate traces (symbolic Countdown search; language models in `generate lm`).

Example:

\b
    python cli.py generate countdown --n 500 --seed 0 --dataset countdown-demo
"""

COUNTDOWN_HELP = """Generate Countdown problems with depth-first search traces into the store.

Each trace tries operations, hits dead ends, backtracks to earlier numbers ("Let's go back to
the numbers [6, 2] ..."), checks results against the target and sometimes reasons backwards
from it. The true search tree and the behaviour of every step are kept in the trace's
metadata; --mistake-rate injects wrong results, and the first mistaken step is stored as the
dataset's label. Same seed, same traces.

Example:

\b
    python cli.py generate countdown --n 500 --seed 0 --dataset countdown-demo
    python cli.py generate countdown --n 100 --seed 1 --mistake-rate 0.1 --out cd.jsonl
"""

generate_app = typer.Typer(
    help=GENERATE_HELP, no_args_is_help=True, add_completion=False, rich_markup_mode=None
)


def register(app: typer.Typer) -> None:
    """Add the `generate` sub-app (with `countdown`) to ``app``."""
    app.add_typer(generate_app, name="generate")


@generate_app.command("countdown", help=COUNTDOWN_HELP)
def generate_countdown_cmd(
    n: int = typer.Option(500, "--n", min=1, help="How many traces to generate."),
    seed: int = typer.Option(0, "--seed", help="Random seed (same seed, same traces)."),
    dataset: str = typer.Option("countdown-demo", "--dataset", help="Dataset name in the store."),
    mistake_rate: float = typer.Option(
        0.0, "--mistake-rate", min=0.0, max=1.0, help="Share of traces with an injected mistake."
    ),
    backward_chaining: float = typer.Option(
        0.3,
        "--backward-chaining",
        min=0.0,
        max=1.0,
        help="Chance of reasoning back from the target when three numbers are left.",
    ),
    max_steps: int = typer.Option(64, "--max-steps", min=8, help="Longest trace, in steps."),
    numbers: int = typer.Option(4, "--numbers", min=3, max=6, help="Numbers per problem."),
    unsolvable_rate: float = typer.Option(
        0.1, "--unsolvable-rate", min=0.0, max=1.0, help="Share of problems with no solution."
    ),
    out: Path | None = typer.Option(
        None, "--out", help="Write JSON Lines of traces to this file instead of the store."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the summary as JSON."),
) -> None:
    from generators.countdown import GENERATOR, generate_countdown

    if not dataset.strip():
        fail("--dataset: expected a non-empty dataset name")
    params = {
        "n": n,
        "seed": seed,
        "dataset": dataset,
        "mistake_rate": mistake_rate,
        "backward_chaining": backward_chaining,
        "max_steps": max_steps,
        "numbers": numbers,
        "unsolvable_rate": unsolvable_rate,
    }
    items = generate_countdown(
        n,
        seed,
        dataset=dataset,
        mistake_rate=mistake_rate,
        backward_chaining=backward_chaining,
        max_steps=max_steps,
        numbers=numbers,
        unsolvable_rate=unsolvable_rate,
    )
    tally: Counter[str] = Counter()
    counted = _counting(items, tally)
    started = time.perf_counter()
    summary: dict[str, Any] = {"dataset": dataset, "generator": GENERATOR, "seed": seed}
    if out is not None:
        _write_jsonl(out, counted)
        summary["out"] = str(out)
    else:
        summary.update(_store_traces(counted, params, tally, started))
    summary.update(_figures(tally, time.perf_counter() - started))
    if as_json:
        print_json(summary)
        return
    typer.echo(
        f"generated {summary['traces']} Countdown traces (seed {seed}): {summary['steps']} steps, "
        f"{summary['correct']} correct, {summary['with_mistake']} with an injected mistake, "
        f"in {summary['seconds']:.1f} s"
    )
    if out is not None:
        typer.echo(f"wrote {out}")
    else:
        typer.echo(
            f"dataset '{dataset}': {summary['added']} added, {summary['unchanged']} unchanged, "
            f"{len(summary['conflicts'])} conflicts"
        )
        for trace_id, message in summary["conflicts"][:10]:
            typer.echo(f"  conflict {trace_id}: {message}", err=True)


def _counting(items: Iterator, tally: Counter[str]) -> Iterator:
    for item in items:
        trace = item.trace
        tally["traces"] += 1
        tally["steps"] += len(trace.steps)
        tally["correct"] += bool(trace.correct)
        tally["with_mistake"] += trace.metadata["first_mistake"] >= 0
        yield item


def _figures(tally: Counter[str], seconds: float) -> dict[str, Any]:
    return {
        "traces": tally["traces"],
        "steps": tally["steps"],
        "correct": tally["correct"],
        "with_mistake": tally["with_mistake"],
        "seconds": round(seconds, 3),
    }


def _write_jsonl(path: Path, items: Iterator) -> None:
    try:
        with path.open("wb") as handle:
            for item in items:
                handle.write(orjson.dumps(item.trace.model_dump(mode="json")) + b"\n")
    except OSError as exc:
        fail(f"cannot write {path}: {exc.strerror or exc}")


def _store_traces(
    items: Iterator, params: dict[str, Any], tally: Counter[str], started: float
) -> dict[str, Any]:
    from generators.countdown import GENERATOR
    from trace_store.schema import Run, utcnow

    run = Run(id=f"generate-countdown-{uuid.uuid4().hex[:12]}", kind="generate", model=GENERATOR)
    run.dataset, run.params = params["dataset"], params
    with open_cli_store() as store:
        result = store.add_traces(items)
        run.status, run.finished_at = "done", utcnow()
        run.stats = {
            **_figures(tally, time.perf_counter() - started),
            "added": result.added,
            "unchanged": result.unchanged,
            "conflicts": len(result.conflicts),
        }
        store.save_run(run)
    return {
        "run_id": run.id,
        "added": result.added,
        "unchanged": result.unchanged,
        "conflicts": [list(c) for c in result.conflicts],
    }
