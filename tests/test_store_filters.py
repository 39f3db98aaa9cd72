"""Store: every TraceFilter field, ordering, paging, capped counts, full-text search."""

from __future__ import annotations

import pytest

from tests.store_backends import BACKENDS, new_store_url
from tests.store_samples import imported, make_trace
from trace_store import TraceFilter, open_store, planner
from trace_store.schema import Analysis, Label


def _counts(trace_id: str, bt: int, ver: int, sg: int = 0, bc: int = 0) -> Analysis:
    return Analysis(
        trace_id=trace_id,
        analyzer="behaviors",
        version="rules@1",
        counts={
            "backtracking": bt,
            "verification": ver,
            "subgoal_setting": sg,
            "backward_chaining": bc,
        },
    )


@pytest.fixture(scope="module", params=BACKENDS)
def filled(request, tmp_path_factory):
    """A store of 6 traces over 2 datasets, 3 tasks, 2 models, with analyses and labels.

    Built once per backend for the module: the tests below only read it.
    """
    with new_store_url(request.param, request, tmp_path_factory.mktemp("filled")) as url:
        store = open_store(url)
        try:
            _fill(store)
            yield store
        finally:
            store.close()


def _fill(store) -> None:
    traces = [
        make_trace("a1", dataset="alpha", task="sort", model="m1", correct=True,
                   question="Sort these words alphabetically: pear apple",
                   steps=["The first letter of pear is p.", "Apple comes first."]),
        make_trace("a2", dataset="alpha", task="sort", model="m2", correct=False,
                   question="Sort: zebra yak",
                   steps=["Wait, let me check again.", "Verify: yak before zebra."]),
        make_trace("a3", dataset="alpha", task="math", model="m1", correct=None,
                   question="Compute 12 * 7", steps=["12 * 7 = 84", "Café crème costs 3 euros"]),
        make_trace("b1", dataset="beta", task="logic", model="m2", correct=True,
                   question="Who sits first?", steps=["Backtrack to the previous guess."]),
        make_trace("b2", dataset="beta", task="logic", model="m1", correct=False,
                   question="Order the books", steps=["Goal: place the red book."]),
        make_trace("b3", dataset="beta", task=None, model=None, correct=None,
                   question="Untitled", steps=[]),
    ]  # fmt: skip
    mistakes = {"a1": -1, "a2": 1, "a3": 0, "b1": -1, "b2": 0}
    store.add_traces([imported(t, mistakes.get(t.id), labelled=t.id in mistakes) for t in traces])
    store.save_analyses(
        [_counts("a1", 0, 1), _counts("a2", 2, 1, 1), _counts("b1", 3, 0), _counts("b2", 0, 0, 2)]
    )
    store.save_label(Label(trace_id="a1", annotator="ann", first_mistake=-1))
    store.save_label(Label(trace_id="a2", annotator="ann", first_mistake=0))
    store.save_label(Label(trace_id="a2", annotator="bob", first_mistake=1))
    store.save_label(Label(trace_id="b1", annotator="ann", first_mistake=0, status="draft"))


def ids(store, flt=None, **kwargs) -> list[str]:
    kwargs.setdefault("limit", 100)
    return [row.id for row in store.list_traces(flt, **kwargs)]


def test_no_filter_lists_everything_by_id(filled):
    assert ids(filled) == ["a1", "a2", "a3", "b1", "b2", "b3"]
    assert filled.count_traces() == 6


@pytest.mark.parametrize(
    ("flt", "expected"),
    [
        (TraceFilter(datasets=["beta"]), ["b1", "b2", "b3"]),
        (TraceFilter(datasets=["alpha", "beta"]), ["a1", "a2", "a3", "b1", "b2", "b3"]),
        (TraceFilter(datasets=[]), []),
        (TraceFilter(tasks=["sort", "logic"]), ["a1", "a2", "b1", "b2"]),
        (TraceFilter(models=["m2"]), ["a2", "b1"]),
        (TraceFilter(correct=True), ["a1", "b1"]),
        (TraceFilter(correct=False), ["a2", "b2"]),
        (TraceFilter(ids=["b2", "a1", "zzz"]), ["a1", "b2"]),
        (TraceFilter(behavior="backtracking"), ["a2", "b1"]),
        (TraceFilter(behavior="backtracking", behavior_min=3), ["b1"]),
        (TraceFilter(behavior="backtracking", behavior_max=0), ["a1", "b2"]),
        (TraceFilter(behavior="verification", behavior_min=1, behavior_max=1), ["a1", "a2"]),
        (TraceFilter(behavior="subgoal_setting", behavior_min=2), ["b2"]),
        (TraceFilter(behavior="backward_chaining"), []),
        (TraceFilter(label_state="labelled"), ["a1", "a2"]),
        (TraceFilter(label_state="unlabelled"), ["a3", "b1", "b2", "b3"]),
        (TraceFilter(label_state="disagreement"), ["a2"]),
        (TraceFilter(datasets=["alpha"], correct=False, label_state="labelled"), ["a2"]),
        (TraceFilter(text="first"), ["a1", "b1"]),
    ],
)
def test_each_filter(filled, flt, expected):
    assert ids(filled, flt) == expected
    assert filled.count_traces(flt) == len(expected)


def test_large_id_lists_go_through_one_parameter(filled):
    many = [f"x{i}" for i in range(6000)] + ["b3", "a2"]
    assert ids(filled, TraceFilter(ids=many)) == ["a2", "b3"]


def test_rows_carry_list_columns(filled):
    rows = {row.id: row for row in filled.list_traces(limit=10)}
    assert rows["a2"].behavior_counts == {
        "backtracking": 2,
        "verification": 1,
        "subgoal_setting": 1,
        "backward_chaining": 0,
    }
    assert rows["a3"].behavior_counts == {}
    assert (rows["a2"].n_labels, rows["a2"].label_disagreement) == (2, True)
    assert rows["b1"].n_labels == 0  # a draft is not a submitted label
    assert [rows[i].dataset_mistake for i in ("a1", "a2", "b3")] == [-1, 1, None]
    assert rows["a1"].question_preview == "Sort these words alphabetically: pear apple"
    assert (rows["b3"].n_steps, rows["b3"].task, rows["b3"].correct) == (0, None, None)


def test_question_preview_is_one_line_of_at_most_120_chars(store):
    long_question = "Line one\n\n  " + "word " * 100
    store.add_traces([imported(make_trace("p", question=long_question))])
    preview = store.list_traces()[0].question_preview
    assert len(preview) == 120
    assert preview.startswith("Line one word word")
    assert "\n" not in preview


def test_ordering_missing_values_lowest_and_ties_by_insertion(filled):
    # Not analysed (a3, b3) counts as lowest; equal counts keep insertion order.
    assert ids(filled, order_by="backtracking") == ["a3", "b3", "a1", "b2", "a2", "b1"]
    assert ids(filled, order_by="backtracking", descending=True) == [
        "b1", "a2", "b2", "a1", "b3", "a3",
    ]  # fmt: skip
    assert ids(filled, order_by="id", descending=True) == ["b3", "b2", "b1", "a3", "a2", "a1"]
    assert ids(filled, order_by="n_labels", descending=True)[:2] == ["a2", "a1"]
    assert ids(filled, order_by="added") == ["a1", "a2", "a3", "b1", "b2", "b3"]
    assert ids(filled, order_by="task") == ["b3", "b1", "b2", "a3", "a1", "a2"]
    assert ids(filled, order_by="n_steps") == ["b3", "b1", "b2", "a1", "a2", "a3"]


def test_paging_and_capped_count(filled):
    pages = [ids(filled, limit=4, offset=o) for o in (0, 4, 8)]
    assert pages == [["a1", "a2", "a3", "b1"], ["b2", "b3"], []]
    assert filled.list_traces(limit=0) == []
    assert filled.count_traces(cap=4) == 4
    assert filled.count_traces(cap=100) == 6
    assert filled.count_traces(TraceFilter(datasets=["beta"]), cap=2) == 2
    assert filled.count_traces(cap=0) == 0


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"flt": TraceFilter(behavior="dancing")}, "unknown behaviour"),
        ({"flt": TraceFilter(behavior_min=1)}, "need a behavior"),
        ({"flt": TraceFilter(label_state="maybe")}, "unknown label_state"),
        ({"order_by": "colour"}, "cannot order by"),
        ({"limit": -1}, "must not be negative"),
    ],
)
def test_bad_filters_raise_value_error(filled, kwargs, message):
    with pytest.raises(ValueError, match=message):
        filled.list_traces(**kwargs)


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("letter", ["a1"]),  # a word in step text
        ("alphabetically", ["a1"]),  # a word in the question only
        ("LETTER PEAR", ["a1"]),  # all words, any case, question or steps
        ("pear zebra", []),  # AND, not OR
        ('"let me check"', ["a2"]),  # phrase
        ('"check me"', []),  # phrase order matters
        ("verif*", ["a2"]),  # prefix
        ("cafe", ["a3"]),  # accents ignored
        ("CRÈME", ["a3"]),
        ("84", ["a3"]),  # numbers are words
        ("12*7", ["a3"]),  # punctuation separates words: the phrase "12 7"
        ("backtrack", ["b1"]),
        ("don't", []),
        ("   ", ["a1", "a2", "a3", "b1", "b2", "b3"]),  # blank: no text filter
        ("!!!", ["a1", "a2", "a3", "b1", "b2", "b3"]),  # no word: no text filter
    ],
)
def test_full_text_search(filled, query, expected):
    assert ids(filled, TraceFilter(text=query)) == expected


def test_search_combines_with_other_filters_and_counts(filled):
    flt = TraceFilter(text="first", datasets=["beta"])
    assert ids(filled, flt) == ["b1"]
    assert filled.count_traces(TraceFilter(text="the"), cap=1) == 1


@pytest.mark.parametrize("dense_from", [1, 3, 1000])
@pytest.mark.parametrize(
    "flt",
    [
        TraceFilter(text="first"),
        TraceFilter(text="the"),
        TraceFilter(text="first", datasets=["beta"]),
        TraceFilter(text="the", correct=False),
        TraceFilter(text="step*", behavior="backtracking"),
        TraceFilter(text="nothing-matches"),
    ],
)
def test_every_text_plan_gives_the_same_answers(filled, monkeypatch, dense_from, flt):
    """Rare or common words are joined differently on SQLite (trace_store.planner)."""
    expected = ids(filled, flt)  # the default plan for this tiny store: matches drive
    monkeypatch.setattr(planner, "DENSE_MATCHES", dense_from)
    assert ids(filled, flt) == expected
    added = ["a1", "a2", "a3", "b1", "b2", "b3"]
    by_steps = sorted(expected, key=lambda i: (-len(filled.get_trace(i).steps), -added.index(i)))
    assert ids(filled, flt, order_by="n_steps", descending=True) == by_steps
    assert filled.count_traces(flt) == len(expected)
    assert filled.count_traces(flt, cap=1) == min(1, len(expected))
    assert [t.id for t in filled.iter_traces(flt, batch_size=1)] == sorted(
        expected, key=added.index
    )


def test_trace_ids_with_metadata_match_json_strings_in_the_database(store):
    metas = {
        "g1": {"generation": {"run_id": "run-1"}},
        "g2": {"generation": {"run_id": "run-2"}},
        "c1": {"generation": {"run_id": "run-1"}, "correction": {"run_id": "run-1", "k": 4}},
        "n5": {"generation": {"run_id": 5}},  # a number is not the string "5"
        "flat": {"generation": "run-1"},  # not an object: no run_id inside
        "objtext": {"generation": {"run_id": {"a": 1}}},
        "odd key": {"gen.x": {"run id": "run-1"}},
        "g3": {"generation": {"run_id": "run-1"}},
    }
    store.add_traces(
        imported(make_trace(tid, dataset="gen", metadata=meta, question=f"q {tid}"))
        for tid, meta in metas.items()
    )
    store.add_traces([imported(make_trace("elsewhere", dataset="other", metadata=metas["g1"]))])
    paths = [("correction", "run_id"), ("generation", "run_id")]
    run1 = store.trace_ids_with_metadata(paths, "run-1", TraceFilter(datasets=["gen"]))
    assert run1 == ["g1", "c1", "g3"]  # in the order added
    assert store.trace_ids_with_metadata(paths, "run-1") == ["g1", "c1", "g3", "elsewhere"]
    assert store.trace_ids_with_metadata([("correction", "run_id")], "run-1") == ["c1"]
    assert store.trace_ids_with_metadata(paths, "5") == []
    assert store.trace_ids_with_metadata(paths, '{"a":1}') == []
    assert store.trace_ids_with_metadata([("gen.x", "run id")], "run-1") == ["odd key"]
    assert store.trace_ids_with_metadata(paths, "run-1", TraceFilter(text="g3")) == ["g3"]
    with pytest.raises(ValueError, match="key path"):
        store.trace_ids_with_metadata([('a"b',)], "x")
    with pytest.raises(ValueError, match="at least one path"):
        store.trace_ids_with_metadata([], "x")
