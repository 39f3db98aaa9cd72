"""The swap checker (tracking shuffled objects): who holds what after each stated swap.

The question names the people, what each holds at the start and the swaps in order ("First,
Alice and Claire swap books. Then, ..."). A step usually names a swap and the resulting holdings
("Alice and Claire swap: Alice: Moby Dick, Bob: Ulysses, Claire: Gatsby", "A: red, D: green") or
one person's holding ("Alice has pink ball"). The checker applies the swap to what the trace
believed before the step and compares; it also flags a swap taken out of the question's order
and a final option that is not what the trace's own last state gives.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any

from analyzers.checkers.base import Finding, make_finding, register_checker
from trace_store.schema import Trace

_OPTION_RE = re.compile(r"^\(([A-G])\)\s*(.+?)\.?\s*$", re.M)
_SWAP_WORDS = r"(?:swap|switch|trade)"
_GENERIC = {"the", "a", "an", "ball", "balls", "present", "gift", "book", "books", "new"}
_ANSWER_RE = re.compile(r"answer is\s*\(([A-G])\)")


def _norm(text: str) -> tuple[str, ...]:
    words = re.findall(r"[a-z0-9'-]+", text.lower())
    return tuple(w for w in words if w not in _GENERIC)


class _Problem:
    """What the question says: people, items, the starting holdings, the swaps, the options."""

    def __init__(self, question: str):
        self.people: list[str] = []
        self.items: list[str] = []
        self.start: dict[str, str] = {}
        self.swaps: list[tuple[str, str]] = []
        self.options: dict[str, str] = {}
        self.asked: str | None = None
        self._norm_items: list[tuple[str, tuple[str, ...]]] = []
        self._item_sets: list[tuple[str, frozenset[str]]] = []
        self._matches: dict[str, str | None] = {}
        head = question.split("\n", 1)[0]
        m = re.match(r"^(.*?) are ", head)
        if not m:
            return
        self.people = [p for p in re.split(r",\s*(?:and\s+)?|\s+and\s+", m.group(1)) if p]
        if len(self.people) < 2 or not all(re.fullmatch(r"[A-Z][a-z]+", p) for p in self.people):
            self.people = []
            return
        self.options = {k: v.strip() for k, v in _OPTION_RE.findall(question)}
        self.items = list(self.options.values())
        self._norm_items = [(it, _norm(it)) for it in self.items]
        self._item_sets = [(it, frozenset(norm)) for it, norm in self._norm_items]
        colon = head.find(":")
        clauses = re.split(r",\s*(?:and\s+)?|\s+and\s+(?=[A-Z])", head[colon + 1 :].rstrip("."))
        for clause in clauses:
            who = next((p for p in self.people if clause.strip().startswith(p)), None)
            item = self.match_item(clause[len(who) :] if who else "")
            if who and item:
                self.start[who] = item
        names = "|".join(self.people)
        initials = "".join(sorted({p[0] for p in self.people}))
        self.swap_re = re.compile(rf"\b({names}) and ({names}) {_SWAP_WORDS}")
        self.short_swap_re = re.compile(rf"^\s*([{initials}])\s+([{initials}])\s*:")
        self.pair_re = re.compile(
            rf"\b(?P<who>{names}|[{initials}])\s*:\s*(?P<what>[^,.;:]+?)(?=\s*(?:,|\.|;|$|So\b))"
            rf"|\b(?P<who2>{names})\s+(?:has|gets|is dancing with|is playing|is holding)\s+"
            rf"(?:the\s+|a\s+|an\s+)?(?P<what2>[^,.;]+?)(?=\s*(?:,|\.|;|$|So\b))"
        )
        self.short_pair_re = re.compile(rf"\b(?P<who>[{initials}])\s+(?P<what>[A-Za-z][\w-]*)\b")
        self.swaps = self.swap_re.findall(question)
        tail = question.split("Options:")[0].rstrip()
        last = re.findall(rf"\b({names})\b", tail.rsplit(".", 1)[-1])
        self.asked = last[-1] if last else None

    @property
    def usable(self) -> bool:
        """Return whether the question was fully understood."""
        return bool(self.people) and len(self.start) == len(self.people) and bool(self.swaps)

    def match_item(self, mention: str) -> str | None:
        """Return the item ``mention`` names ("Gatsby" -> "The Great Gatsby"), or None."""
        if mention in self._matches:
            return self._matches[mention]
        words = _norm(mention)
        found: str | None = None
        if words:
            exact = [it for it, norm in self._norm_items if norm == words]
            if len(exact) == 1:
                found = exact[0]
            else:
                mine = frozenset(words)
                hits = [it for it, norm in self._item_sets if norm <= mine or mine <= norm]
                found = hits[0] if len(hits) == 1 else None
        self._matches[mention] = found
        return found

    def person(self, name: str) -> str | None:
        """Return the person ``name`` or an initial ("A") stands for, or None."""
        if name in self.people:
            return name
        if len(name) == 1:
            hits = [p for p in self.people if p[0] == name]
            return hits[0] if len(hits) == 1 else None
        return None


@lru_cache(maxsize=256)
def _problem(question: str) -> _Problem:
    """Return the parsed question (cached: applies_to and new_state both need it)."""
    return _Problem(question)


def _pairs(problem: _Problem, text: str) -> list[tuple[str, str, int, int]]:
    """Return (person, item, start, end) for each holding a step states."""
    out: list[tuple[str, str, int, int]] = []
    pattern = problem.pair_re
    # "C D: C Black, D White": a swap named by initials, then "initial item" pairs
    short = problem.short_swap_re.match(text)
    if short is not None:
        pattern = problem.short_pair_re
        text_from = short.end()
    else:
        text_from = 0
    for m in pattern.finditer(text, text_from):
        group = "what" if m.group("what") else "what2"
        who = problem.person(m.group("who") or m.group("who2"))
        item = problem.match_item(m.group(group))
        if who and item:
            out.append((who, item, *m.span(group)))
    return out


def _named_swap(problem: _Problem, text: str) -> tuple[str, str, tuple[int, int]] | None:
    """Return the two people a step says swap (by name, or 'C D:' by initials) and the span."""
    m = problem.swap_re.search(text)
    if m is not None:
        return m.group(1), m.group(2), m.span()
    m = problem.short_swap_re.match(text)
    if m is not None:
        a, b = problem.person(m.group(1)), problem.person(m.group(2))
        if a and b and a != b:
            return a, b, m.span()
    return None


class TrackingSwapChecker:
    """Checks holdings after each swap, the order of swaps and the chosen option."""

    name = "tracking_swaps"
    version = "1"

    def applies_to(self, trace: Trace) -> bool:
        """Return whether the question lists people, their items and swaps between them."""
        q = trace.question
        if " swap" not in q and " switch" not in q and " trade" not in q:
            return False
        return _problem(q).usable

    def new_state(self, trace: Trace) -> dict[str, Any]:
        """Return the per-trace state: the parsed question, swaps done, believed holdings."""
        problem = _problem(trace.question)
        return {"problem": problem, "done": 0, "belief": dict(problem.start), "started": False}

    def check_step(self, trace: Trace, step_index: int, state: dict[str, Any]) -> list[Finding]:
        """Return findings for swaps out of order, wrong holdings and a wrong final option."""
        if "problem" not in state:
            state.update(self.new_state(trace))
        problem: _Problem = state["problem"]
        if not problem.usable:
            return []
        text = trace.steps[step_index].text
        out: list[Finding] = []
        swap = _named_swap(problem, text)
        pairs = _pairs(problem, text)
        belief: dict[str, str] = state["belief"]
        expected = dict(belief)
        label = "at the start"
        final = re.search(r"\bAt the end\b|\bFinally\b", text) is not None and swap is None
        if swap is not None:
            a, b, swap_span = swap
            done = state["done"]
            if done < len(problem.swaps) and {a, b} != set(problem.swaps[done]):
                want = problem.swaps[done]
                swaps = problem.swaps
                later = [j for j in range(done + 1, len(swaps)) if set(swaps[j]) == {a, b}]
                out.append(
                    make_finding(
                        self.name,
                        step_index,
                        text,
                        *swap_span,
                        stated=f"{a} and {b}",
                        actual=f"{want[0]} and {want[1]}",
                        message=f"swap {done + 1} in the question is {want[0]} and {want[1]}, "
                        f"not {a} and {b}",
                    )
                )
                if later:
                    done = later[0]
            elif done >= len(problem.swaps):
                out.append(
                    make_finding(
                        self.name,
                        step_index,
                        text,
                        *swap_span,
                        stated=f"{a} and {b}",
                        actual="no swaps left",
                        message=f"the question has only {len(problem.swaps)} swaps",
                    )
                )
            expected[a], expected[b] = belief.get(b, ""), belief.get(a, "")
            state["done"] = done + 1
            state["started"] = True
            label = f"after {a} and {b} swap"
        elif pairs and not final:
            # the first holdings a trace states are the starting ones; later ones follow a swap
            opening = "start" in text.lower() or not state["started"]
            if not (opening and state["done"] == 0) and state["done"] < len(problem.swaps):
                a, b = problem.swaps[state["done"]]
                expected[a], expected[b] = belief.get(b, ""), belief.get(a, "")
                state["done"] += 1
                label = f"after {a} and {b} swap"
            state["started"] = True
        elif final:
            label = "at the end"
        for who, item, start, end in pairs:
            want = expected.get(who)
            if want and item != want:
                out.append(
                    make_finding(
                        self.name,
                        step_index,
                        text,
                        start,
                        end,
                        stated=f"{who}: {item}",
                        actual=f"{who}: {want}",
                        message=f"{label}, {who} has {want}, not {item}",
                    )
                )
        for who, item, _, _ in pairs:
            expected[who] = item
        state["belief"] = expected
        answer = _ANSWER_RE.search(text)
        if answer is not None and problem.asked:
            chosen = problem.options.get(answer.group(1))
            want = expected.get(problem.asked)
            if chosen and want and chosen != want:
                letter = next((k for k, v in problem.options.items() if v == want), "?")
                out.append(
                    make_finding(
                        self.name,
                        step_index,
                        text,
                        *answer.span(),
                        stated=f"({answer.group(1)}) {chosen}",
                        actual=f"({letter}) {want}",
                        message=f"by the trace's own last state {problem.asked} has {want}, "
                        f"which is option ({letter})",
                    )
                )
        return out


register_checker(TrackingSwapChecker())
