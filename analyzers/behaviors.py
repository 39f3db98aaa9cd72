"""Behaviour tagging: the Tagger protocol, a registry of taggers, tags and counts for a trace.

A tagger turns a list of step texts (and optionally the question) into BehaviorTags over exactly
``schema.BEHAVIORS``. The default is the rule tagger ("rules"); a learned or LLM-prompted tagger
is added with ``register_tagger`` and then chosen by name everywhere (CLI ``--tagger``, pages),
with no change elsewhere.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Protocol, runtime_checkable

from analyzers.behavior_rules import RuleTagger
from analyzers.segment import ensure_steps
from trace_store.schema import BEHAVIORS, BehaviorTag, Trace

DEFAULT_TAGGER = "rules"
"""Name of the tagger used when none is given."""


class TaggerUnavailable(RuntimeError):
    """A registered tagger cannot be built here (weights or a dependency missing); says why."""


@runtime_checkable
class Tagger(Protocol):
    """What every behaviour tagger provides."""

    name: str
    version: str

    def tag(self, steps: list[str], question: str | None = None) -> list[BehaviorTag]:
        """Return the behaviour tags found in ``steps`` (step indices into that list)."""
        ...


_FACTORIES: dict[str, Callable[[], Tagger]] = {}
_INSTANCES: dict[str, Tagger] = {}


def register_tagger(name: str, factory: Callable[[], Tagger], *, replace: bool = False) -> None:
    """Make ``factory`` (called once, on first use) the tagger known as ``name``."""
    if name in _FACTORIES and not replace:
        raise ValueError(f"a tagger named {name!r} is already registered")
    _FACTORIES[name] = factory
    _INSTANCES.pop(name, None)


def unregister_tagger(name: str) -> None:
    """Forget the tagger registered as ``name`` (the default one cannot be removed)."""
    if name == DEFAULT_TAGGER:
        raise ValueError(f"the default tagger {DEFAULT_TAGGER!r} cannot be unregistered")
    _FACTORIES.pop(name, None)
    _INSTANCES.pop(name, None)


def tagger_names() -> list[str]:
    """Return the names of the registered taggers, sorted."""
    return sorted(_FACTORIES)


def get_tagger(name: str | None = None) -> Tagger:
    """Return the tagger registered as ``name`` (default: "rules").

    Raises KeyError for an unknown name and TaggerUnavailable when the tagger cannot be built.
    """
    key = name or DEFAULT_TAGGER
    if key not in _FACTORIES:
        raise KeyError(f"unknown tagger {key!r}; known taggers: {', '.join(tagger_names())}")
    if key not in _INSTANCES:
        _INSTANCES[key] = _FACTORIES[key]()
    return _INSTANCES[key]


register_tagger(DEFAULT_TAGGER, RuleTagger)


def _learned_ta() -> Tagger:
    """Return the "learned-ta" tagger (imported here so torch loads only when it is chosen)."""
    from analyzers.learned_tagger import LearnedTagger

    return LearnedTagger()


register_tagger("learned-ta", _learned_ta)


def resolve_tagger(tagger: Tagger | str | None) -> Tagger:
    """Return a tagger given as an instance, a registered name or None (the default).

    Raises KeyError for an unknown name and TaggerUnavailable when it cannot be built here.
    """
    if tagger is None or isinstance(tagger, str):
        return get_tagger(tagger)
    return tagger


def tag_behaviors(trace: Trace, tagger: Tagger | str | None = None) -> list[BehaviorTag]:
    """Return the behaviour tags of ``trace``'s steps (segmenting its raw text if it has none)."""
    trace = ensure_steps(trace)
    return resolve_tagger(tagger).tag(trace.step_texts, trace.question or None)


def behavior_counts(tags: Iterable[BehaviorTag]) -> dict[str, int]:
    """Return, for each behaviour, how many distinct steps show it (zeros included)."""
    steps: dict[str, set[int]] = {b: set() for b in BEHAVIORS}
    for tag in tags:
        steps[tag.behavior].add(tag.step)
    return {b: len(s) for b, s in steps.items()}


def step_behaviors(tags: Iterable[BehaviorTag], n_steps: int) -> list[list[str]]:
    """Return, for each of ``n_steps`` steps, its behaviours in schema.BEHAVIORS order."""
    per_step: list[set[str]] = [set() for _ in range(n_steps)]
    for tag in tags:
        if 0 <= tag.step < n_steps:
            per_step[tag.step].add(tag.behavior)
    return [[b for b in BEHAVIORS if b in s] for s in per_step]
