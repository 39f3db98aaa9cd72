"""Helpers for the mistake-finder tests: a tiny local BERT encoder and small BBM slices.

The tiny encoder (2 layers, width 32, random weights from a fixed seed, a character-level
WordPiece vocabulary) loads through the same transformers code path as MiniLM in well under a
second and embeds hundreds of steps per second, so the tests exercise ``--encoder PATH`` end
to end without spending their time budget on MiniLM.
"""

from __future__ import annotations

import string
from pathlib import Path

from trace_store.schema import RecordError, Trace

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
BBM = DATA / "big-bench-mistake"


def tiny_encoder_dir(folder: Path) -> Path:
    """Return ``folder`` after writing a tiny random BERT and its tokenizer into it."""
    import torch
    from transformers import BertConfig, BertModel, BertTokenizerFast

    folder.mkdir(parents=True, exist_ok=True)
    chars = string.ascii_lowercase + string.digits + string.punctuation
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *chars, *(f"##{c}" for c in chars)]
    (folder / "vocab.txt").write_text("\n".join(vocab) + "\n", encoding="utf-8")
    tokenizer = BertTokenizerFast(vocab_file=str(folder / "vocab.txt"), do_lower_case=True)
    tokenizer.save_pretrained(str(folder))
    torch.manual_seed(0)
    config = BertConfig(
        vocab_size=len(vocab),
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=512,
    )
    BertModel(config).save_pretrained(str(folder))
    return folder


def bbm_slice(task: str, n: int) -> list[tuple[Trace, int]]:
    """Return the first ``n`` traces of a BBM task file with their first mistake (-1 = none)."""
    from trace_store.formats import read_records

    out = []
    for item in read_records(BBM / f"{task}.jsonl", dataset="bbm"):
        assert not isinstance(item, RecordError), str(item)
        gold = next(lab.first_mistake for lab in item.labels if lab.source == "dataset")
        out.append((item.trace, -1 if gold is None else gold))
        if len(out) >= n:
            break
    return out
