"""Language-model backends: what a prompt, sampling parameters and a completion are; which backend.

Two backends implement ``LMBackend``: ``TransformersBackend`` (generators/lm_transformers.py, a
local causal LM by path or hub id) and ``OpenAIBackend`` (generators/lm_openai.py, any
OpenAI-compatible server: vLLM, SGLang, llama.cpp server, ``transformers serve``). Both take a
list of ``Prompt`` and one ``SamplingParams`` and return one ``Completion`` each, with the
generated text (stop string removed), why it ended, and per-token log-probabilities when the
backend can give them. Long calls take ``progress(done, total)`` and a ``threading.Event`` cancel
flag so an app page can drive them.

Log-probabilities are always the model's own next-token distribution (temperature 1, no top-p),
whatever the sampling parameters, so candidates sampled differently stay comparable.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol, runtime_checkable

ProgressFn = Callable[[int, int], None]
"""Progress callback: ``progress(done, total)``."""

FinishReason = Literal["stop", "eos", "length", "cancelled"]


class LMError(Exception):
    """A backend could not do what was asked (model missing, server down or talking nonsense)."""


class GenerationCancelled(Exception):
    """Raised by long-running jobs when their cancel flag was set."""


@dataclass(frozen=True)
class SamplingParams:
    """How to sample: length limit, temperature (0 = greedy), top-p, seed and stop strings."""

    max_new_tokens: int = 256
    temperature: float = 0.0
    top_p: float = 1.0
    seed: int | None = 0
    stop: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.max_new_tokens < 1:
            raise ValueError(f"max_new_tokens must be at least 1, got {self.max_new_tokens}")
        if self.temperature < 0:
            raise ValueError(f"temperature must be >= 0, got {self.temperature}")
        if not 0 < self.top_p <= 1:
            raise ValueError(f"top_p must be in (0, 1], got {self.top_p}")
        if any(not s for s in self.stop):
            raise ValueError("stop strings must not be empty")

    @property
    def greedy(self) -> bool:
        """Return True when decoding is greedy (temperature 0)."""
        return self.temperature == 0

    def as_dict(self) -> dict[str, Any]:
        """Return the parameters as a JSON-able dict (for Run.params)."""
        return {
            "max_new_tokens": self.max_new_tokens,
            "temperature": self.temperature,
            "top_p": self.top_p,
            "seed": self.seed,
            "stop": list(self.stop),
        }


@dataclass(frozen=True)
class Prompt:
    """One request: the user message and, optionally, the start of the assistant's reply.

    With a chat template the user text becomes the user turn and ``assistant_prefix`` is appended
    after the generation prompt, so the model continues it; without one the backend sends
    ``system + user + assistant_prefix`` as plain text.
    """

    user: str
    assistant_prefix: str = ""
    system: str | None = None


@dataclass
class Completion:
    """What one prompt produced: text (stop string removed), finish reason, tokens, log-probs.

    ``token_ids``/``token_logprobs``/``token_offsets`` are parallel lists over the generated
    tokens up to and including the one that completed a stop string or was the end-of-sequence
    token; ``token_offsets[i]`` is where token i's text starts in ``text`` (``len(text)`` for a
    token that lies wholly inside the removed stop string). Each is None when the backend cannot
    give it (e.g. a server without log-probability support).
    """

    text: str
    finish_reason: FinishReason
    n_tokens: int = 0
    token_ids: list[int] | None = None
    token_logprobs: list[float] | None = None
    token_offsets: list[int] | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def logprob(self) -> float | None:
        """Return the sum of the token log-probabilities, or None when unknown."""
        return None if self.token_logprobs is None else float(sum(self.token_logprobs))


@runtime_checkable
class LMBackend(Protocol):
    """A text generator: ``complete`` prompts with one set of sampling parameters."""

    model_name: str
    """The model's name or path, as recorded on traces and runs."""
    supports_logprobs: bool
    """Whether completions carry token log-probabilities."""
    uses_chat_template: bool
    """Whether prompts are wrapped in the model's chat template."""

    def complete(
        self,
        prompts: Sequence[Prompt],
        params: SamplingParams,
        *,
        batch_size: int = 8,
        progress: ProgressFn | None = None,
        cancel: threading.Event | None = None,
    ) -> list[Completion]:
        """Return one completion per prompt, in order (cancelled ones have finish 'cancelled')."""
        ...

    def describe(self) -> dict[str, Any]:
        """Return what the backend is (kind, model, device, ...) as a JSON-able dict."""
        ...

    def close(self) -> None:
        """Release the model or connection."""
        ...


class WrappedBackend:
    """A backend that passes everything through to ``inner``; subclasses add to ``complete``."""

    def __init__(self, inner: LMBackend) -> None:
        self.inner = inner

    def __getattr__(self, name: str) -> Any:
        # score_texts, tokenizer, ...: whatever the wrapped backend offers.
        return getattr(self.inner, name)

    @property
    def model_name(self) -> str:
        """Return the wrapped backend's model name."""
        return self.inner.model_name

    @property
    def supports_logprobs(self) -> bool:
        """Return whether the wrapped backend gives log-probabilities."""
        return self.inner.supports_logprobs

    @property
    def uses_chat_template(self) -> bool:
        """Return whether the wrapped backend uses a chat template."""
        return self.inner.uses_chat_template

    def complete(
        self,
        prompts: Sequence[Prompt],
        params: SamplingParams,
        *,
        batch_size: int = 8,
        progress: ProgressFn | None = None,
        cancel: threading.Event | None = None,
    ) -> list[Completion]:
        """Return the wrapped backend's completions."""
        return self.inner.complete(
            prompts, params, batch_size=batch_size, progress=progress, cancel=cancel
        )

    def describe(self) -> dict[str, Any]:
        """Return the wrapped backend's description."""
        return self.inner.describe()

    def close(self) -> None:
        """Close the wrapped backend."""
        self.inner.close()


def truncate_at_stop(text: str, stop: Sequence[str]) -> tuple[str, bool]:
    """Return ``text`` cut before the earliest stop string, and whether one was found."""
    cut = min((i for i in (text.find(s) for s in stop) if i >= 0), default=-1)
    return (text[:cut], True) if cut >= 0 else (text, False)


def load_backend(
    model: str | None = None,
    *,
    server: str | None = None,
    api: Literal["auto", "completions", "chat"] = "auto",
    device: str = "auto",
    dtype: str = "auto",
    chat_template: bool | None = None,
    concurrency: int = 4,
    timeout: float = 120.0,
    max_retries: int = 3,
) -> LMBackend:
    """Return a backend: an OpenAI-compatible client when ``server`` is given, else transformers.

    ``model`` is a local path or hub id for transformers, and the model name sent to the server
    otherwise (None asks the server's /v1/models). ``api='auto'`` means completions for a server.
    """
    if server:
        from generators.lm_openai import OpenAIBackend

        return OpenAIBackend(
            server,
            model,
            api="completions" if api == "auto" else api,
            concurrency=concurrency,
            timeout=timeout,
            max_retries=max_retries,
        )
    if not model:
        raise LMError("give a model (local path or hub id) or a server URL")
    from generators.lm_transformers import TransformersBackend

    return TransformersBackend(model, device=device, dtype=dtype, chat_template=chat_template)
