"""An LLM-prompted behaviour tagger ("llm") that runs through the generation backend.

``LLMTagger(backend)`` asks a language model (an OpenAI-compatible server such as vLLM, or a
local transformers model) to tag windows of ``batch_steps`` numbered steps, each window showing
a few earlier steps as context, so every step is tagged exactly once however long the trace.
Decoding is greedy. The prompt and the reading of answers live in generators/llm_tagger_prompt.py.

Failures are per window, never per trace: an answer that cannot be read is asked for once more
(with a note saying what was wrong); if the second answer cannot be read either, that window gets
no tags, ``failed_windows`` goes up by one and a warning is kept in ``warnings``. A backend that
cannot answer at all (server down, model refused) raises ``LLMTaggerError``, which is both a
``TaggerUnavailable`` and an ``LMError`` and names the server or model.

``register_llm_tagger()`` registers the name "llm" (the CLI does this at start-up); its factory
reads THOUGHTSCOPE_TAGGER_SERVER and/or THOUGHTSCOPE_TAGGER_MODEL (see ``llm_tagger_from_env``).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import threading
from collections import Counter, OrderedDict
from collections.abc import Mapping
from pathlib import Path

from analyzers.behaviors import TaggerUnavailable, register_tagger, tagger_names
from generators.llm_tagger_prompt import (
    CONF_WHOLE_STEP,
    PROMPT_VERSION,
    MalformedOutput,
    StepClaim,
    build_tagging_prompt,
    extract_tagging_object,
    locate_evidence,
    read_claims,
    retry_prompt,
)
from generators.lm import LMBackend, LMError, Prompt, SamplingParams
from trace_store.schema import BEHAVIORS, BehaviorTag

log = logging.getLogger(__name__)

TAGGER_NAME = "llm"
ENV_SERVER = "THOUGHTSCOPE_TAGGER_SERVER"
ENV_MODEL = "THOUGHTSCOPE_TAGGER_MODEL"
ENV_API = "THOUGHTSCOPE_TAGGER_API"
ENV_MAX_TOKENS = "THOUGHTSCOPE_TAGGER_MAX_TOKENS"
ENV_BATCH_STEPS = "THOUGHTSCOPE_TAGGER_BATCH_STEPS"
MAX_WARNINGS = 100
"""Warnings kept on a tagger (the count of failed windows keeps going past it)."""


class LLMTaggerError(TaggerUnavailable, LMError):
    """The tagger's model cannot answer (server down, model missing); names server and model."""


def plan_windows(steps: list[str], batch_steps: int, max_chars: int) -> list[tuple[int, int]]:
    """Return consecutive (start, end) step ranges covering ``steps`` once each.

    A window holds at most ``batch_steps`` steps and, unless it is a single step, at most
    ``max_chars`` characters of step text, so a few very long steps do not make one huge prompt.
    """
    windows: list[tuple[int, int]] = []
    start, chars = 0, 0
    for i, text in enumerate(steps):
        if i > start and (i - start >= batch_steps or chars + len(text) > max_chars):
            windows.append((start, i))
            start, chars = i, 0
        chars += len(text)
    if steps:
        windows.append((start, len(steps)))
    return windows


class LLMTagger:
    """Behaviour tagger that prompts a language model; version "<prompt version>:<model>"."""

    name = TAGGER_NAME

    def __init__(
        self,
        backend: LMBackend,
        *,
        batch_steps: int = 12,
        context_steps: int = 2,
        max_tokens: int = 1024,
        max_window_chars: int = 8000,
        unmatched_evidence: str = "whole_step",
        batch_size: int = 8,
        cache_size: int = 256,
    ) -> None:
        if batch_steps < 1:
            raise ValueError(f"batch_steps must be at least 1, got {batch_steps}")
        if context_steps < 0:
            raise ValueError(f"context_steps must be >= 0, got {context_steps}")
        if unmatched_evidence not in ("whole_step", "drop"):
            raise ValueError(
                f"unmatched_evidence must be 'whole_step' or 'drop', got {unmatched_evidence!r}"
            )
        self.backend = backend
        self.version = f"{PROMPT_VERSION}:{backend.model_name}"
        self.batch_steps = batch_steps
        self.context_steps = context_steps
        self.max_window_chars = max_window_chars
        self.unmatched_evidence = unmatched_evidence
        self.batch_size = batch_size
        self.params = SamplingParams(max_new_tokens=max_tokens, temperature=0.0, seed=0)
        self.windows = 0
        """Windows sent to the model so far (retries not counted)."""
        self.retried_windows = 0
        """Windows whose first answer could not be read."""
        self.failed_windows = 0
        """Windows left untagged because neither answer could be read."""
        self.dropped: Counter = Counter()
        """Claims dropped so far, by reason (unknown_behavior, step_out_of_range, bad_entry,
        evidence_not_found when unmatched_evidence is 'drop')."""
        self.warnings: list[str] = []
        """What went wrong with failed windows (the latest MAX_WARNINGS)."""
        self.cache_size = cache_size
        # Greedy answers to the same steps repeat: evaluate-tags scores a gold file once per
        # split and the app reruns pages, so a trace is asked about once per process.
        self._cache: OrderedDict[str, list[BehaviorTag]] = OrderedDict()
        self._lock = threading.Lock()

    def _where(self) -> str:
        """Return the backend's server or model, for error messages."""
        info = self.backend.describe()
        return f"server {info['server']}" if "server" in info else f"model {info.get('model')}"

    def _complete(self, users: list[str], params: SamplingParams | None = None) -> list[str]:
        """Return the model's answer to each user message (greedy)."""
        try:
            outs = self.backend.complete(
                [Prompt(user=u) for u in users], params or self.params, batch_size=self.batch_size
            )
        except LMError as exc:
            raise LLMTaggerError(f"llm tagger ({self._where()}): {exc}") from exc
        return [o.text for o in outs]

    def _warn(self, message: str) -> None:
        log.warning("%s", message)
        with self._lock:
            self.failed_windows += 1
            self.warnings.append(message)
            del self.warnings[:-MAX_WARNINGS]

    def tag(self, steps: list[str], question: str | None = None) -> list[BehaviorTag]:
        """Return the behaviour tags the model gives ``steps``, at most one per (step, behaviour).

        Windows whose answers cannot be read (twice) get no tags; see ``failed_windows``.
        The last ``cache_size`` results are kept and given again for the same steps and question.
        Raises LLMTaggerError when the backend cannot answer.
        """
        key = hashlib.sha256(json.dumps([question, steps]).encode()).hexdigest()
        with self._lock:
            if key in self._cache:
                self._cache.move_to_end(key)
                return list(self._cache[key])
        tags = self._tag_windows(steps, question)
        if self.cache_size > 0:
            with self._lock:
                self._cache[key] = tags
                while len(self._cache) > self.cache_size:
                    self._cache.popitem(last=False)
        return list(tags)

    def _tag_windows(self, steps: list[str], question: str | None) -> list[BehaviorTag]:
        """Return the tags of ``steps`` asked for window by window (one retry per window)."""
        windows = plan_windows(steps, self.batch_steps, self.max_window_chars)
        if not windows:
            return []
        users = [
            build_tagging_prompt(steps, s, e, question, self.context_steps) for s, e in windows
        ]
        answers = self._complete(users)
        entries: list[list[dict] | None] = [None] * len(windows)
        problems: dict[int, str] = {}
        for w, answer in enumerate(answers):
            try:
                entries[w] = extract_tagging_object(answer)
            except MalformedOutput as exc:
                problems[w] = str(exc)
        if problems:
            redo = sorted(problems)
            again = self._complete([retry_prompt(users[w], problems[w]) for w in redo])
            for w, answer in zip(redo, again, strict=True):
                try:
                    entries[w] = extract_tagging_object(answer)
                except MalformedOutput as exc:
                    s, e = windows[w]
                    self._warn(
                        f"llm tagger: steps {s + 1}-{e}: no readable answer after a retry "
                        f"({exc}); those steps are left untagged"
                    )
        with self._lock:
            self.windows += len(windows)
            self.retried_windows += len(problems)
        claims: list[StepClaim] = []
        for (s, e), found in zip(windows, entries, strict=True):
            if found is not None:
                got, dropped = read_claims(found, s, e)
                claims.extend(got)
                with self._lock:
                    self.dropped.update(dropped)
        return self._tags(steps, claims)

    def _tags(self, steps: list[str], claims: list[StepClaim]) -> list[BehaviorTag]:
        """Return one tag per (step, behaviour) of ``claims``, the best-located evidence kept."""
        label = f"{self.name}@{self.version}"
        best: dict[tuple[int, str], tuple[int, int, float]] = {}
        for claim in claims:
            text = steps[claim.step]
            span = locate_evidence(text, claim.evidence)
            if span is None:
                if self.unmatched_evidence == "drop":
                    with self._lock:
                        self.dropped["evidence_not_found"] += 1
                    continue
                span = (0, len(text), CONF_WHOLE_STEP)
            key = (claim.step, claim.behavior)
            if key not in best or span[2] > best[key][2]:
                best[key] = span
        return [
            BehaviorTag(
                step=step,
                behavior=behavior,  # type: ignore[arg-type]
                start=start,
                end=end,
                evidence=steps[step][start:end],
                confidence=confidence,
                tagger=label,
            )
            for (step, behavior), (start, end, confidence) in sorted(
                best.items(), key=lambda kv: (kv[0][0], BEHAVIORS.index(kv[0][1]))
            )
        ]

    def check(self) -> None:
        """Raise LLMTaggerError unless the model answers a one-token request."""
        self._complete(["Reply with {}."], SamplingParams(max_new_tokens=1))

    def close(self) -> None:
        """Release the backend (model or connection)."""
        self.backend.close()


def _positive_int(environ: Mapping[str, str], key: str, default: int) -> int:
    """Return the positive integer in ``environ[key]`` (default when unset); names a bad one."""
    raw = environ.get(key, "").strip()
    if not raw:
        return default
    if not raw.isdigit() or int(raw) < 1:
        raise TaggerUnavailable(f"{key}={raw!r}: expected a positive whole number")
    return int(raw)


def llm_tagger_from_env(environ: Mapping[str, str] | None = None) -> LLMTagger:
    """Return an LLMTagger on the model named by the THOUGHTSCOPE_TAGGER_* variables.

    THOUGHTSCOPE_TAGGER_SERVER: OpenAI-compatible base URL (e.g. http://localhost:8000/v1);
    THOUGHTSCOPE_TAGGER_MODEL: the model name on that server (default: the server's first), or
    without a server a local model folder for transformers; THOUGHTSCOPE_TAGGER_API: chat
    (default) or completions; THOUGHTSCOPE_TAGGER_MAX_TOKENS, THOUGHTSCOPE_TAGGER_BATCH_STEPS.
    A served model is asked for one token first, so a wrong URL or model name fails here.
    Raises TaggerUnavailable with what to set or what went wrong.
    """
    env = os.environ if environ is None else environ
    server = env.get(ENV_SERVER, "").strip()
    model = env.get(ENV_MODEL, "").strip()
    if not server and not model:
        raise TaggerUnavailable(
            f"the llm tagger needs a model: set {ENV_SERVER} to an OpenAI-compatible server "
            f"(e.g. {ENV_SERVER}=http://localhost:8000/v1 for vLLM) and/or {ENV_MODEL} to the "
            "model's name on that server, or to a local model folder (transformers)"
        )
    api = env.get(ENV_API, "").strip() or "chat"
    if api not in ("chat", "completions"):
        raise TaggerUnavailable(f"{ENV_API}={api!r}: expected 'chat' or 'completions'")
    max_tokens = _positive_int(env, ENV_MAX_TOKENS, 1024)
    batch_steps = _positive_int(env, ENV_BATCH_STEPS, 12)
    if not server and not Path(model).is_dir():
        # Nothing may download at run time: a hub id needs a server that already holds it.
        raise TaggerUnavailable(
            f"{ENV_MODEL}={model!r} is not a local model folder; give a folder, or set "
            f"{ENV_SERVER} to a server that serves this model"
        )
    from generators.lm import load_backend

    try:
        backend = load_backend(
            model or None, server=server or None, api="chat" if api == "chat" else "completions"
        )
    except LMError as exc:
        raise TaggerUnavailable(f"the llm tagger cannot reach its model: {exc}") from None
    tagger = LLMTagger(backend, batch_steps=batch_steps, max_tokens=max_tokens)
    if server:
        tagger.check()
    return tagger


def register_llm_tagger(*, replace: bool = False) -> None:
    """Register "llm" (built from the environment on first use); a no-op if already there.

    ``replace=True`` registers it anew, dropping a tagger already built (e.g. after the
    environment changed).
    """
    if TAGGER_NAME in tagger_names() and not replace:
        return
    register_tagger(TAGGER_NAME, llm_tagger_from_env, replace=True)
