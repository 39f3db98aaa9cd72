"""The mistake finder: a step classifier trained from first-mistake labels, saved as a folder.

Given the question and the steps up to step i, the finder scores P(step i is the first mistake)
from frozen sentence embeddings (MiniLM by default, any local transformers folder with
``encoder=``) and cheap features of the context, the behaviour cues and the step checkers (see
analyzers/finder_features.py); the trace's prediction is its first step over the threshold
chosen on a validation split, else "no mistake" (-1).

A saved finder is a folder: ``finder.json`` (config, feature groups, threshold, encoder
reference and fingerprint, training data and metrics), ``head.npz`` (the head's arrays),
``MODEL_CARD.md`` (for people) and, after ``finetune=True``, ``encoder/`` (the tuned encoder).
Predictions become Suggestions (kind ``first_mistake``, agent ``finder:<folder name>``), which
the labelling screen shows and ``correct --location suggestion --agent finder:<name>`` uses.
"""

from __future__ import annotations

import contextlib
import shutil
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from analyzers.finder_card import (
    CARD_FILE,
    CONFIG_FILE,
    ENCODER_DIR,
    FINDER_KIND,
    HEAD_FILE,
    read_config,
    write_card,
)
from analyzers.finder_encoder import (
    EncoderUnavailable,
    TextEncoder,
    default_cache_root,
    default_encoder_dir,
    embed_texts,
)
from analyzers.finder_evaluation import Scores, baseline_scores, position_confusion
from analyzers.finder_evaluation import score_predictions as _score
from analyzers.finder_features import (
    DEFAULT_GROUPS,
    TraceInputs,
    check_groups,
    column_weights,
    trace_features,
)
from analyzers.finder_training import (
    FinderError,
    HeadConfig,
    Rows,
    TrainProgress,
    first_over,
    head_probabilities,
    split_probabilities,
    stack_rows,
    train_head,
)
from analyzers.finder_validation import MIN_TASKS, distinct_tasks, train_head_by_task
from trace_store.schema import FORMAT_VERSION, NO_MISTAKE, Suggestion, Trace

AGENT_PREFIX = "finder:"
"""Suggestions of a finder saved in folder NAME have agent ``finder:NAME``."""

EMBEDDING_GROUPS = frozenset({"embedding", "similarity"})

__all__ = [
    "AGENT_PREFIX",
    "FinderError",
    "HeadConfig",
    "LabelledTrace",
    "MistakeFinder",
    "TracePrediction",
    "embed_traces",
    "evaluate_finder",
    "labelled_traces",
    "load_finder",
    "prediction_suggestions",
    "train_finder",
]


@dataclass
class LabelledTrace:
    """A trace and its labelled first mistake (-1 = no mistake)."""

    trace: Trace
    first_mistake: int


@dataclass
class TracePrediction:
    """The finder's verdict on one trace."""

    trace_id: str
    first_mistake: int
    """Predicted first mistaken step, -1 for "no mistake"."""
    score: float
    """P(first mistake) at that step; for "no mistake", the product of (1 - p) over steps."""
    step_probabilities: list[float] = field(default_factory=list)


_ENCODERS: dict[str, TextEncoder] = {}


def get_encoder(folder: str | Path | None = None) -> TextEncoder:
    """Return the encoder for ``folder`` (default MiniLM), loaded once per process."""
    path = Path(folder) if folder is not None else default_encoder_dir()
    key = str(path.resolve())
    if key not in _ENCODERS:
        _ENCODERS[key] = TextEncoder(path)
    return _ENCODERS[key]


def embed_traces(
    encoder: TextEncoder | None,
    traces: Sequence[Trace],
    *,
    cache_root: str | Path | None = None,
    progress: TrainProgress | None = None,
) -> list[TraceInputs]:
    """Return each trace with its question and step embeddings (zeros when no ``encoder``)."""
    if encoder is None:
        return [
            TraceInputs(t, np.zeros(1, np.float32), np.zeros((len(t.steps), 1), np.float32))
            for t in traces
        ]
    texts: list[str] = []
    for t in traces:
        texts.append(t.question)
        texts.extend(t.step_texts)

    def report(done: int, total: int) -> None:
        if progress is not None:
            progress("embed", done, total)

    vectors = embed_texts(encoder, texts, cache_root=cache_root, progress=report)
    out, pos = [], 0
    for t in traces:
        n = len(t.steps)
        out.append(TraceInputs(t, vectors[pos], vectors[pos + 1 : pos + 1 + n]))
        pos += 1 + n
    return out


def compute_features(
    inputs: Sequence[TraceInputs], groups: Sequence[str], progress: TrainProgress | None = None
) -> list[np.ndarray]:
    """Return one feature matrix per trace (see finder_features.trace_features)."""
    out = []
    for k, item in enumerate(inputs):
        out.append(trace_features(item, groups))
        if progress is not None and (k % 50 == 0 or k == len(inputs) - 1):
            progress("features", k + 1, len(inputs))
    return out


class MistakeFinder:
    """A trained finder: feature groups, head arrays, threshold and its encoder reference."""

    def __init__(self, config: dict[str, Any], arrays: dict[str, np.ndarray], folder=None):
        self.config = config
        self.arrays = arrays
        self.folder = Path(folder) if folder is not None else None
        self.groups = check_groups(config["groups"])
        self.threshold = float(config["threshold"])
        self.head = str(config["head"])

    @property
    def name(self) -> str:
        """Return the finder's name (its folder's name once saved)."""
        return self.folder.name if self.folder is not None else str(self.config.get("name"))

    @property
    def agent(self) -> str:
        """Return the suggestion agent, ``finder:<name>``."""
        return AGENT_PREFIX + self.name

    @property
    def uses_encoder(self) -> bool:
        """Return whether the finder's features need sentence embeddings."""
        return bool(EMBEDDING_GROUPS & set(self.groups))

    def encoder(self) -> TextEncoder | None:
        """Return the encoder the finder was trained with; FinderError when it changed."""
        ref = self.config.get("encoder")
        if not self.uses_encoder or not ref:
            return None
        if ref["source"] == "model-folder":
            if self.folder is None:
                raise FinderError("a fine-tuned finder must be saved before it can predict")
            path = self.folder / ENCODER_DIR
        elif ref["source"] == "package":
            path = default_encoder_dir()
        else:
            path = Path(ref["path"])
        try:
            enc = get_encoder(path)
        except EncoderUnavailable as exc:
            raise FinderError(f"{self._where()}: cannot load its encoder: {exc}") from exc
        if enc.fingerprint != ref["fingerprint"]:
            raise FinderError(
                f"{self._where()}: encoder at {path} has fingerprint {enc.fingerprint}, but the "
                f"finder was trained with {ref['fingerprint']} ({ref.get('name')}); its "
                f"predictions would not be the ones it was evaluated with"
            )
        return enc

    def _where(self) -> str:
        return str(self.folder / CONFIG_FILE) if self.folder is not None else "finder"

    def step_probabilities(self, features: Sequence[np.ndarray]) -> list[np.ndarray]:
        """Return P(first mistake) per step for each trace's feature matrix."""
        rows = stack_rows(list(features), [NO_MISTAKE] * len(features), full=True)
        if rows.x.shape[1] and rows.x.shape[1] != len(self.arrays["mean"]):
            raise FinderError(
                f"{self._where()}: features have {rows.x.shape[1]} columns, the head expects "
                f"{len(self.arrays['mean'])}"
            )
        if not len(rows.x):
            return [np.zeros(0) for _ in features]
        return split_probabilities(head_probabilities(self.arrays, self.head, rows.x), rows.offsets)

    def predict_inputs(
        self, inputs: Sequence[TraceInputs], progress: TrainProgress | None = None
    ) -> list[TracePrediction]:
        """Return a prediction per embedded trace."""
        feats = compute_features(inputs, self.groups, progress)
        out = []
        for item, probs in zip(inputs, self.step_probabilities(feats), strict=True):
            first = first_over(probs, self.threshold)
            score = float(probs[first]) if first >= 0 else float(np.prod(1.0 - probs))
            out.append(TracePrediction(item.trace.id, first, score, [float(p) for p in probs]))
        return out

    def predict(
        self,
        traces: Sequence[Trace],
        *,
        cache_root: str | Path | None = None,
        progress: TrainProgress | None = None,
    ) -> list[TracePrediction]:
        """Return a prediction per trace (embedding them first, through the cache)."""
        inputs = embed_traces(self.encoder(), traces, cache_root=cache_root, progress=progress)
        return self.predict_inputs(inputs, progress)

    def save(self, folder: str | Path) -> Path:
        """Return ``folder`` after writing finder.json, head.npz and MODEL_CARD.md into it."""
        import orjson

        out = Path(folder)
        if out.exists() and not out.is_dir():
            raise FinderError(f"{out}: exists and is not a folder")
        out.mkdir(parents=True, exist_ok=True)
        ref = self.config.get("encoder")
        if ref and ref["source"] == "model-folder":
            src, dst = Path(ref["path"]), out / ENCODER_DIR
            if src.resolve() != dst.resolve():
                shutil.copytree(src, dst, dirs_exist_ok=True)
            ref["path"] = str(dst.resolve())
        self.folder = out
        self.config["name"] = out.name
        np.savez(out / HEAD_FILE, **self.arrays)
        (out / CONFIG_FILE).write_bytes(
            orjson.dumps(self.config, option=orjson.OPT_INDENT_2 | orjson.OPT_SERIALIZE_NUMPY)
        )
        write_card(out / CARD_FILE, self.config)
        return out


def load_finder(folder: str | Path) -> MistakeFinder:
    """Return the finder saved in ``folder``; FinderError saying why when it is not one."""
    path = Path(folder)
    config = read_config(path)
    head_file = path / HEAD_FILE
    try:
        with np.load(head_file) as data:
            arrays = {k: data[k] for k in data.files}
    except (OSError, ValueError) as exc:
        raise FinderError(f"{head_file}: cannot read the head weights ({exc})") from exc
    needed = {"mean", "scale"} | ({"coef", "intercept"} if config["head"] == "logreg" else {"w1"})
    missing = sorted(needed - set(arrays))
    if missing:
        raise FinderError(f"{head_file}: missing arrays {', '.join(missing)}")
    return MistakeFinder(config, arrays, path)


def _split(n: int, val_fraction: float, seed: int, gold: Sequence[int]) -> tuple[list, list]:
    """Return (train, validation) trace indices, stratified by mistake / no mistake."""
    rng = np.random.default_rng(seed)
    train, val = [], []
    for has in (True, False):
        idx = [i for i in range(n) if (gold[i] >= 0) == has]
        rng.shuffle(idx)
        cut = int(round(len(idx) * val_fraction))
        cut = min(max(cut, 1), len(idx) - 1) if len(idx) >= 2 else 0
        val.extend(idx[:cut])
        train.extend(idx[cut:])
    return sorted(train), sorted(val)


VALIDATIONS: tuple[str, ...] = ("auto", "split", "tasks")
"""auto: cross-task validation when the traces span 2+ tasks, else a random split."""


def fit_from_features(
    features: Sequence[np.ndarray],
    gold: Sequence[int],
    *,
    groups: Sequence[str],
    head: HeadConfig,
    encoder_ref: dict[str, Any] | None,
    tasks: Sequence[str | None] | None = None,
    validation: str = "auto",
    val_fraction: float = 0.2,
    progress: TrainProgress | None = None,
    data: dict[str, Any] | None = None,
) -> MistakeFinder:
    """Return a finder fitted on precomputed per-trace features (the benchmark's fast path).

    ``validation`` "tasks" chooses the head's settings and threshold by leave-one-task-out over
    ``tasks`` (see finder_validation); "split" holds out a stratified ``val_fraction`` of the
    traces; "auto" takes "tasks" when the traces span two tasks or more.
    """
    if not features:
        raise FinderError("no labelled traces to train on")
    if validation not in VALIDATIONS:
        raise FinderError(f"validation must be one of {', '.join(VALIDATIONS)}, got {validation}")
    if not 0.0 < val_fraction < 1.0:
        raise FinderError(f"val_fraction must be between 0 and 1, got {val_fraction}")
    n_tasks = len(distinct_tasks(tasks or []))
    if validation == "auto":
        validation = "tasks" if n_tasks >= MIN_TASKS else "split"
    started = time.perf_counter()
    if validation == "tasks":
        if tasks is None or len(tasks) != len(features):
            raise FinderError("cross-task validation needs the task of every trace")
        all_rows = stack_rows(list(features), list(gold), full=False)
        if not all_rows.y.sum():
            raise FinderError(
                "the training traces have no labelled first mistake at all, so there is nothing "
                "to learn (every label says 'no mistake')"
            )
        arrays, threshold, report = train_head_by_task(
            features, gold, tasks, groups, head, progress
        )
        val_scores = report.pop("validation_scores")
        n_train, n_val = len(features), len(features)
        n_steps, n_with = len(all_rows.y), int(sum(1 for g in gold if g >= 0))
    else:
        train_idx, val_idx = _split(len(features), val_fraction, head.seed, gold)
        train = stack_rows(
            [features[i] for i in train_idx], [gold[i] for i in train_idx], full=False
        )
        train.weights = column_weights(groups, train.x.shape[1], head.embedding_weight)
        val: Rows = stack_rows(
            [features[i] for i in val_idx], [gold[i] for i in val_idx], full=True
        )
        arrays, threshold, report = train_head(train, val, head, progress)
        report["validation_mode"] = "split"
        report["embedding_weight"] = head.embedding_weight
        val_probs = split_probabilities(head_probabilities(arrays, head.head, val.x), val.offsets)
        val_scores = _score(val.gold, [first_over(p, threshold) for p in val_probs]).to_dict()
        n_train, n_val = len(train_idx), len(val_idx)
        n_steps = int(len(train.y))
        n_with = int(sum(1 for i in train_idx if gold[i] >= 0))
    config: dict[str, Any] = {
        "kind": FINDER_KIND,
        "format_version": FORMAT_VERSION,
        "name": "finder",
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "head": head.head,
        "head_config": {k: v for k, v in vars(head).items()},
        "groups": list(check_groups(groups)),
        "n_features": int(features[0].shape[1]),
        "threshold": threshold,
        "encoder": encoder_ref,
        "data": {
            **(data or {}),
            "n_traces": len(features),
            "n_train": n_train,
            "n_validation": n_val,
            "n_train_steps": n_steps,
            "n_train_with_mistake": n_with,
        },
        "training": {
            **report,
            "threshold": threshold,
            "seconds": round(time.perf_counter() - started, 2),
            "validation": val_scores,
        },
        "evaluations": [],
    }
    return MistakeFinder(config, arrays)


def encoder_reference(encoder: TextEncoder | None, *, finetuned: bool = False) -> dict | None:
    """Return how a saved finder finds its encoder again: source, path, name, fingerprint."""
    if encoder is None:
        return None
    if finetuned:
        source = "model-folder"
    else:
        default = None
        with contextlib.suppress(EncoderUnavailable):
            default = default_encoder_dir().resolve()
        source = "package" if encoder.folder.resolve() == default else "path"
    return {
        "source": source,
        "path": str(encoder.folder.resolve()),
        "name": encoder.name,
        "fingerprint": encoder.fingerprint,
        "max_length": encoder.max_length,
        "dim": encoder.dim,
    }


def train_finder(
    examples: Sequence[LabelledTrace],
    *,
    head: HeadConfig | None = None,
    groups: Sequence[str] = DEFAULT_GROUPS,
    encoder: str | Path | None = None,
    cache_root: str | Path | None = None,
    val_fraction: float = 0.2,
    validation: str = "auto",
    progress: TrainProgress | None = None,
    data: dict[str, Any] | None = None,
    finetune: Callable[[TextEncoder], TextEncoder] | None = None,
) -> MistakeFinder:
    """Return a finder trained on ``examples`` (not yet saved: call ``.save(folder)``).

    ``encoder`` is a local transformers folder (default MiniLM); ``cache_root`` where embeddings
    are cached (default $THOUGHTSCOPE_CACHE/embeddings; pass a folder, or None for the default).
    ``finetune``, when given, receives the encoder and returns a tuned one (see finder_finetune).
    ``validation``: see ``fit_from_features`` (cross-task when the examples span 2+ tasks).
    """
    head = head or HeadConfig()
    groups = check_groups(groups)
    check_labels(examples)
    enc = None
    if EMBEDDING_GROUPS & set(groups):
        try:
            enc = get_encoder(encoder)
        except EncoderUnavailable as exc:
            raise FinderError(str(exc)) from exc
        if finetune is not None:
            enc = finetune(enc)
    root = cache_root if cache_root is not None else default_cache_root()
    traces = [e.trace for e in examples]
    inputs = embed_traces(enc, traces, cache_root=root, progress=progress)
    features = compute_features(inputs, groups, progress)
    return fit_from_features(
        features,
        [e.first_mistake for e in examples],
        groups=groups,
        head=head,
        encoder_ref=encoder_reference(enc, finetuned=finetune is not None),
        tasks=[t.task for t in traces],
        validation=validation,
        val_fraction=val_fraction,
        progress=progress,
        data=data,
    )


def check_labels(examples: Sequence[LabelledTrace]) -> None:
    """Raise FinderError when ``examples`` cannot be trained on: none, or a label off the end."""
    if not examples:
        raise FinderError("no labelled traces: the dataset has no first-mistake labels")
    for e in examples:
        if e.first_mistake >= len(e.trace.steps):
            raise FinderError(
                f"trace {e.trace.id}: first_mistake {e.first_mistake} but the trace has only "
                f"{len(e.trace.steps)} steps (expected -1 or 0..{len(e.trace.steps) - 1})"
            )


@dataclass
class FinderEvaluation:
    """A finder's scores on labelled traces, the baselines beside them, and the confusion."""

    scores: Scores
    baselines: dict[str, Scores]
    confusion: list[list[int]]
    predictions: list[TracePrediction]
    gold: list[int]

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-able summary (no per-step probabilities)."""
        from analyzers.finder_evaluation import POSITION_BINS

        return {
            "finder": self.scores.to_dict(),
            "baselines": {k: v.to_dict() for k, v in self.baselines.items()},
            "confusion_by_relative_position": {
                "bins": list(POSITION_BINS),
                "counts_gold_by_predicted": self.confusion,
            },
        }


def evaluate_predictions(
    traces: Sequence[Trace], gold: Sequence[int], predictions: Sequence[TracePrediction]
) -> FinderEvaluation:
    """Return the evaluation of ``predictions`` against ``gold`` with the baselines."""
    predicted = [p.first_mistake for p in predictions]
    return FinderEvaluation(
        scores=_score(gold, predicted),
        baselines=baseline_scores(traces, gold),
        confusion=position_confusion(gold, predicted, [len(t.steps) for t in traces]),
        predictions=list(predictions),
        gold=list(gold),
    )


def evaluate_finder(
    finder: MistakeFinder,
    examples: Sequence[LabelledTrace],
    *,
    cache_root: str | Path | None = None,
    progress: TrainProgress | None = None,
) -> FinderEvaluation:
    """Return the finder's evaluation on labelled ``examples`` (baselines included)."""
    check_labels(examples)
    traces = [e.trace for e in examples]
    root = cache_root if cache_root is not None else default_cache_root()
    predictions = finder.predict(traces, cache_root=root, progress=progress)
    return evaluate_predictions(traces, [e.first_mistake for e in examples], predictions)


def prediction_suggestions(
    finder: MistakeFinder, predictions: Sequence[TracePrediction]
) -> list[Suggestion]:
    """Return one ``first_mistake`` Suggestion per prediction (agent ``finder:<name>``)."""
    return [
        Suggestion(
            trace_id=p.trace_id,
            agent=finder.agent,
            kind="first_mistake",
            step=p.first_mistake if p.first_mistake >= 0 else None,
            value=p.first_mistake,
            score=round(p.score, 6),
        )
        for p in predictions
    ]


def labelled_traces(
    store: Any,
    dataset: str,
    *,
    tasks: Sequence[str] | None = None,
    exclude_tasks: Sequence[str] = (),
    annotator: str | None = None,
    limit: int | None = None,
) -> list[LabelledTrace]:
    """Return the traces of ``dataset`` with a first-mistake label by ``annotator``.

    ``annotator`` defaults to the dataset's own labels (``dataset:<dataset>``); a trace with
    several submitted labels by that annotator uses the latest. FinderError when no trace of
    the selection has such a label.
    """
    from trace_store.filters import TraceFilter
    from trace_store.schema import DATASET_ANNOTATOR_PREFIX

    who = annotator or DATASET_ANNOTATOR_PREFIX + dataset
    latest: dict[str, int] = {}
    for label in store.iter_labels(dataset=dataset, annotator=who):
        if label.first_mistake is not None:
            latest[label.trace_id] = label.first_mistake
    flt = TraceFilter(datasets=[dataset], tasks=list(tasks) if tasks else None)
    skip = set(exclude_tasks)
    out: list[LabelledTrace] = []
    n_seen = 0
    for trace in store.iter_traces(flt):
        if trace.task in skip:
            continue
        n_seen += 1
        if trace.id in latest:
            out.append(LabelledTrace(trace, latest[trace.id]))
            if limit is not None and len(out) >= limit:
                break
    if not out:
        where = f"dataset '{dataset}'" + (f" (tasks {', '.join(tasks)})" if tasks else "")
        if n_seen == 0:
            raise FinderError(f"{where} has no traces in the store (import it first)")
        raise FinderError(
            f"{where}: none of its {n_seen} traces has a first-mistake label by '{who}' "
            f"(expected labels shipped with the data, or pass --annotator NAME)"
        )
    return out
