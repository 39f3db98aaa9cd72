"""Optional fine-tuning of the finder's encoder on first-mistake labels (``--finetune``).

The encoder is tuned end to end on the same view of a step that the head's embedding features
take: the pooled embeddings of the step, of the previous step and of the question, combined as
[s, s - previous, s * question] into a linear layer that predicts "step i is the first mistake"
(weighted binary cross-entropy). Only steps up to the first mistake are used, as for the head,
and at most ``max_rows`` of them (all first-mistake steps first, then a random sample of the
others), because on a CPU every row costs three forward and backward passes. The tuned encoder is
saved into the finder's folder (``encoder/``) and the head is then trained on its embeddings.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from analyzers.finder_encoder import TextEncoder
from analyzers.finder_features import training_rows
from analyzers.finder_training import FinderError, TrainProgress


@dataclass
class FinetuneConfig:
    """How to fine-tune the encoder."""

    epochs: int = 1
    max_rows: int = 2000
    learning_rate: float = 2e-5
    batch_size: int = 16
    seed: int = 0
    device: str = "cpu"


def finetune_rows(
    examples: Sequence[Any], max_rows: int, seed: int
) -> list[tuple[str, str, str, float]]:
    """Return (question, previous step, step, target) rows: first mistakes first, then others."""
    positives, negatives = [], []
    for ex in examples:
        steps = ex.trace.step_texts
        keep, targets = training_rows(len(steps), ex.first_mistake)
        for i in range(keep):
            row = (ex.trace.question, steps[i - 1] if i else "", steps[i], float(targets[i]))
            (positives if targets[i] else negatives).append(row)
    rng = random.Random(seed)
    rng.shuffle(positives)
    rng.shuffle(negatives)
    chosen = positives[: max_rows // 2]
    chosen += negatives[: max_rows - len(chosen)]
    rng.shuffle(chosen)
    return chosen


def finetune_encoder(
    encoder: TextEncoder,
    examples: Sequence[Any],
    out_dir: str | Path,
    cfg: FinetuneConfig | None = None,
    progress: TrainProgress | None = None,
) -> TextEncoder:
    """Return the encoder tuned on ``examples`` (LabelledTrace), saved in ``out_dir``."""
    cfg = cfg or FinetuneConfig()
    rows = finetune_rows(examples, cfg.max_rows, cfg.seed)
    if not any(r[3] for r in rows):
        raise FinderError("fine-tuning needs traces with a labelled first mistake; found none")
    tuned = TextEncoder(encoder.folder, max_length=encoder.max_length, device=cfg.device)
    torch = tuned.torch
    torch.manual_seed(cfg.seed)
    linear = torch.nn.Linear(3 * tuned.dim, 1).to(cfg.device)
    params = list(tuned.model.parameters()) + list(linear.parameters())
    opt = torch.optim.AdamW(params, lr=cfg.learning_rate)
    n_pos = sum(r[3] for r in rows)
    pos_weight = torch.tensor((len(rows) - n_pos) / max(n_pos, 1.0), device=cfg.device)
    loss_fn = torch.nn.BCEWithLogitsLoss(pos_weight=pos_weight)
    tuned.model.train()
    total = cfg.epochs * ((len(rows) + cfg.batch_size - 1) // cfg.batch_size)
    done = 0
    for _ in range(cfg.epochs):
        for lo in range(0, len(rows), cfg.batch_size):
            batch = rows[lo : lo + cfg.batch_size]
            q = tuned.pooled(tuned.tokenize([r[0] for r in batch]))
            prev = tuned.pooled(tuned.tokenize([r[1] for r in batch]))
            step = tuned.pooled(tuned.tokenize([r[2] for r in batch]))
            logits = linear(torch.cat([step, step - prev, step * q], dim=1)).squeeze(1)
            target = torch.tensor([r[3] for r in batch], device=cfg.device)
            opt.zero_grad()
            loss_fn(logits, target).backward()
            opt.step()
            done += 1
            if progress is not None:
                progress("finetune", done, total)
    tuned.model.eval()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    tuned.model.save_pretrained(str(out))
    tuned.tokenizer.save_pretrained(str(out))
    return TextEncoder(out, max_length=encoder.max_length, device=encoder.device)
