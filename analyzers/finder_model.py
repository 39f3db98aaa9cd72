"""A trained mistake finder in memory and on disk: embed, featurise, score, save, load.

``MistakeFinder`` holds the feature groups, the head's arrays, the threshold and the encoder
reference of a finder; ``load_finder`` reads one back from its folder (see finder_card for the
files) and refuses, with the reason, anything that is not one. Training lives in
analyzers/mistake_finder.py.
"""

from __future__ import annotations

import contextlib
import shutil
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from analyzers.finder_card import (
    CARD_FILE,
    CONFIG_FILE,
    ENCODER_DIR,
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
from analyzers.finder_features import TraceInputs, check_groups, trace_features
from analyzers.finder_training import (
    FinderError,
    TrainProgress,
    first_over,
    head_probabilities,
    split_probabilities,
    stack_rows,
)
from trace_store.schema import NO_MISTAKE, Trace

AGENT_PREFIX = "finder:"
"""Suggestions of a finder saved in folder NAME have agent ``finder:NAME``."""

EMBEDDING_GROUPS = frozenset({"embedding", "similarity"})


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
        """Return a prediction per trace (embeddings read through the on-disk cache)."""
        root = cache_root if cache_root is not None else default_cache_root()
        inputs = embed_traces(self.encoder(), traces, cache_root=root, progress=progress)
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
