"""Benchmark: the mistake finder on BIG-Bench Mistake and the Countdown demo; prints figures.

Protocol (issue 7):

1. leave-one-task-out: train on four BBM tasks, test on the fifth, for each of the five;
2. 5-fold cross-validation within each task (stratified by mistake / no mistake);
3. train on all of BBM, predict the Countdown demo traces (300, seed 0, 20% injected mistakes).

Every figure is printed beside the baselines (always no mistake, always first step, uniform
random step, behaviour cues) and the step checkers used alone as a rule (their first confident
finding), and for several feature sets, so what each part adds is visible. Embeddings come from
the cache (a first run embeds every BBM step with MiniLM: slow on a CPU; later runs read it).

    python bench/finder_bench.py                      # all of the above, logistic head
    python bench/finder_bench.py --head mlp --skip-cv
    python bench/finder_bench.py --json bench-finder.json
"""

from __future__ import annotations

import argparse
import sys
import time
from collections import defaultdict
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from analyzers.checkers import check_trace  # noqa: E402
from analyzers.finder_encoder import default_cache_root  # noqa: E402
from analyzers.finder_evaluation import (  # noqa: E402
    Scores,
    baseline_scores,
    format_scores_table,
    score_predictions,
)
from analyzers.finder_features import FEATURE_GROUPS, group_columns  # noqa: E402
from analyzers.finder_training import HeadConfig, first_over  # noqa: E402
from analyzers.mistake_finder import (  # noqa: E402
    compute_features,
    embed_traces,
    fit_from_features,
    get_encoder,
)
from trace_store.schema import RecordError, Trace  # noqa: E402

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "big-bench-mistake"
TASKS = (
    "dyck_languages",
    "logical_deduction",
    "multistep_arithmetic",
    "tracking_shuffled_objects",
    "word_sorting",
)
FEATURE_SETS: dict[str, tuple[str, ...]] = {
    "all features": FEATURE_GROUPS,
    "no checkers": ("embedding", "similarity", "position", "behaviors"),
    "embedding only": ("embedding",),
    "checkers+position+cues": ("position", "behaviors", "checkers"),
}
"""Feature sets compared; the first is the default finder."""

HEADER = f"{'':<24}" + "".join(f"{t[:12]:>14}" for t in TASKS) + f"{'mean':>8}"


def load_bbm(folder: Path) -> tuple[list[Trace], list[int]]:
    """Return the BBM traces and their first mistakes (-1 = none)."""
    from trace_store.formats import read_records

    traces, gold = [], []
    for item in read_records(folder, dataset="bbm"):
        if isinstance(item, RecordError):
            raise SystemExit(f"bad record: {item}")
        label = next(lab.first_mistake for lab in item.labels if lab.source == "dataset")
        traces.append(item.trace)
        gold.append(-1 if label is None else label)
    return traces, gold


def load_countdown() -> tuple[list[Trace], list[int]]:
    """Return the Countdown demo traces (as `cli.py demo` makes them) and injected mistakes."""
    from generators.countdown import generate_countdown
    from generators.demo import DEMO_DATASET, DEMO_MISTAKE_RATE, DEMO_SEED, DEMO_TRACES

    items = list(
        generate_countdown(
            DEMO_TRACES, DEMO_SEED, dataset=DEMO_DATASET, mistake_rate=DEMO_MISTAKE_RATE
        )
    )
    return [i.trace for i in items], [i.labels[0].first_mistake for i in items]


def checker_rule(traces: list[Trace]) -> list[int]:
    """Return each trace's first confidently flagged step (-1 when none): checkers alone."""
    out = []
    for t in traces:
        first = check_trace(t).first_flagged_step
        out.append(-1 if first is None else first)
    return out


class Fitter:
    """Fits and applies finders on precomputed features (all groups computed once)."""

    def __init__(
        self,
        features: list[np.ndarray],
        gold: list[int],
        tasks: list[str | None],
        dim: int,
        head: HeadConfig,
        validation: str,
    ) -> None:
        self.features, self.gold, self.tasks, self.dim = features, gold, tasks, dim
        self.head, self.validation = head, validation
        self.head_seconds: dict[str, list[float]] = defaultdict(list)

    def run(
        self, train: list[int], test: list[int], groups: tuple[str, ...], name: str = ""
    ) -> list[int]:
        """Return predictions on ``test`` of a finder fitted on ``train`` with ``groups``."""
        cols = group_columns(FEATURE_GROUPS, groups, self.dim)
        finder = fit_from_features(
            [self.features[i][:, cols] for i in train],
            [self.gold[i] for i in train],
            groups=groups,
            head=self.head,
            encoder_ref=None,
            tasks=[self.tasks[i] for i in train],
            validation=self.validation,
        )
        self.head_seconds[name].append(finder.config["training"]["seconds"])
        probs = finder.step_probabilities([self.features[i][:, cols] for i in test])
        return [first_over(p, finder.threshold) for p in probs]


def _table(
    title: str,
    gold: list[int],
    traces: list[Trace],
    finders: dict[str, list[int]],
    rule: list[int],
) -> dict[str, Scores]:
    rows: dict[str, Scores] = {name: score_predictions(gold, p) for name, p in finders.items()}
    rows["checkers alone (rule)"] = score_predictions(gold, rule)
    rows.update(baseline_scores(traces, gold))
    print(f"\n{title}")
    print(format_scores_table(rows))
    return rows


def _summary_row(name: str, per: dict[str, float]) -> str:
    return f"{name:<24}" + "".join(f"{per[t]:>14.3f}" for t in TASKS) + f"{per['mean']:>8.3f}"


def stratified_folds(gold: list[int], k: int, seed: int) -> list[list[int]]:
    """Return ``k`` folds of indices, each with a share of mistaken and clean traces."""
    rng = np.random.default_rng(seed)
    folds: list[list[int]] = [[] for _ in range(k)]
    for has in (True, False):
        idx = [i for i, g in enumerate(gold) if (g >= 0) == has]
        rng.shuffle(idx)
        for j, i in enumerate(idx):
            folds[j % k].append(i)
    return [sorted(f) for f in folds]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--cache", type=Path, default=None)
    parser.add_argument("--head", default="logreg", choices=("logreg", "mlp"))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--validation",
        default="auto",
        choices=("auto", "split", "tasks"),
        help="auto: cross-task when the training traces span 2+ tasks (LOTO, Countdown), else "
        "a random split (CV within a task)",
    )
    parser.add_argument("--sets", default=",".join(FEATURE_SETS), help="feature sets to compare")
    parser.add_argument("--skip-cv", action="store_true")
    parser.add_argument("--skip-countdown", action="store_true")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    if not args.data.exists():
        raise SystemExit(f"BBM not found at {args.data} (see /work/shared/data/README.md)")
    sets = {name: FEATURE_SETS[name] for name in args.sets.split(",")}
    cache = args.cache or default_cache_root()
    head = HeadConfig(head=args.head, seed=args.seed)

    traces, gold = load_bbm(args.data)
    tasks = [t.task for t in traces]
    n_steps = sum(len(t.steps) for t in traces)
    print(
        f"BBM: {len(traces)} traces, {n_steps} steps; head {args.head}; validation "
        f"{args.validation}; cache {cache}"
    )
    t0 = time.perf_counter()
    encoder = get_encoder()
    inputs = embed_traces(encoder, traces, cache_root=cache)
    print(f"embeddings ({encoder.name}, {encoder.fingerprint}): {time.perf_counter() - t0:.1f} s")
    t0 = time.perf_counter()
    features = compute_features(inputs, FEATURE_GROUPS)
    width = features[0].shape[1]
    print(f"features (all groups, {width} columns): {time.perf_counter() - t0:.1f} s")
    rule = checker_rule(traces)
    fitter = Fitter(features, gold, tasks, encoder.dim, head, args.validation)
    results: dict[str, object] = {}

    # 1. leave-one-task-out
    loto: dict[str, dict[str, float]] = defaultdict(dict)
    for task in TASKS:
        test = [i for i, t in enumerate(tasks) if t == task]
        train = [i for i, t in enumerate(tasks) if t != task]
        preds = {name: fitter.run(train, test, groups, name) for name, groups in sets.items()}
        rows = _table(
            f"leave-one-task-out: test on {task} ({len(test)} traces)",
            [gold[i] for i in test],
            [traces[i] for i in test],
            preds,
            [rule[i] for i in test],
        )
        for name, s in rows.items():
            loto[name][task] = s.location_accuracy
    print("\nleave-one-task-out location accuracy")
    print(HEADER)
    for name, per in loto.items():
        mean = float(np.mean([per[t] for t in TASKS]))
        per["mean"] = mean
        print(_summary_row(name, per))
    results["loto"] = loto
    for name, secs in fitter.head_seconds.items():
        print(
            f"head training incl. validation, {name} (CPU, {args.head}, {len(secs)} "
            f"trainings): mean {np.mean(secs):.1f} s, max {max(secs):.1f} s"
        )

    # 2. 5-fold cross-validation within each task
    if not args.skip_cv:
        cv: dict[str, dict[str, float]] = defaultdict(dict)
        for task in TASKS:
            idx = [i for i, t in enumerate(tasks) if t == task]
            folds = stratified_folds([gold[i] for i in idx], 5, args.seed)
            preds: dict[str, list[int]] = {name: [0] * len(idx) for name in sets}
            for fold in folds:
                rest = [idx[j] for j in range(len(idx)) if j not in set(fold)]
                for name, groups in sets.items():
                    out = fitter.run(rest, [idx[j] for j in fold], groups)
                    for j, p in zip(fold, out, strict=True):
                        preds[name][j] = p
            rows = _table(
                f"5-fold CV within {task} ({len(idx)} traces)",
                [gold[i] for i in idx],
                [traces[i] for i in idx],
                preds,
                [rule[i] for i in idx],
            )
            for name, s in rows.items():
                cv[name][task] = s.location_accuracy
        print("\n5-fold CV location accuracy")
        print(HEADER)
        for name, per in cv.items():
            per["mean"] = float(np.mean([per[t] for t in TASKS]))
            print(
                f"{name:<24}" + "".join(f"{per[t]:>14.3f}" for t in TASKS) + f"{per['mean']:>8.3f}"
            )
        results["cv"] = cv

    # 3. train on BBM, predict the Countdown demo traces
    if not args.skip_countdown:
        cd_traces, cd_gold = load_countdown()
        t0 = time.perf_counter()
        cd_inputs = embed_traces(encoder, cd_traces, cache_root=cache)
        print(f"\nCountdown embeddings: {time.perf_counter() - t0:.1f} s")
        cd_features = compute_features(cd_inputs, FEATURE_GROUPS)
        both = Fitter(
            features + cd_features,
            gold + cd_gold,
            tasks + [t.task for t in cd_traces],
            encoder.dim,
            head,
            args.validation,
        )
        train = list(range(len(traces)))
        test = list(range(len(traces), len(traces) + len(cd_traces)))
        preds = {name: both.run(train, test, groups) for name, groups in sets.items()}
        rows = _table(
            f"train on BBM, predict Countdown demo ({len(cd_traces)} traces)",
            cd_gold,
            cd_traces,
            preds,
            checker_rule(cd_traces),
        )
        results["countdown"] = {k: v.to_dict() for k, v in rows.items()}
    if args.json:
        import orjson

        args.json.write_bytes(orjson.dumps(results, option=orjson.OPT_INDENT_2))


if __name__ == "__main__":
    main()
