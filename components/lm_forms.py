"""The LM page's input widgets: backend, generation and correction settings.

Each ``*_fields`` function draws its widgets (keys under the given prefix) and returns the
settings dataclass of components.lm_runs that they describe. Values typed here survive a visit
to another page (``remember_fields``): a model path should not have to be typed twice.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import streamlit as st

from components.lm_runs import (
    CUSTOM_PROMPT,
    EACH_TASK,
    MODES,
    BackendChoice,
    CorrectSettings,
    GenerateSettings,
)

ALL_TASKS = "all tasks"
SAVED_PREFIX = "lm_saved__"
"""Session keys holding copies of the page's widget values (see remember_fields)."""

BACKEND_KINDS = {"local": "Local model folder (transformers)", "server": "OpenAI-compatible server"}
FIELD_DEFAULTS: dict[str, Any] = {
    "lm_gen_n": 20,
    "lm_gen_max_new_tokens_stepwise": 128,
    "lm_gen_max_new_tokens_whole": 1024,
    "lm_gen_max_steps": 0,
    "lm_gen_temperature": 0.0,
    "lm_gen_batch": 8,
    "lm_gen_seed": 0,
    "lm_cor_n": 20,
    "lm_cor_k": 8,
    "lm_cor_max_new_tokens": 128,
    "lm_cor_max_steps": 0,
    "lm_cor_batch": 8,
    "lm_cor_seed": 0,
    "lm_cor_control": True,
}
"""Initial widget values, set in session state (a widget given both a value and a session
value makes Streamlit warn, and the remembered values go through session state)."""

FIELD_PREFIXES: tuple[str, ...] = ("lm_gen_", "lm_cor_")

LOCATION_HELP = {
    "label": "the labelled first mistake (adjudicated, human majority, or the dataset's own)",
    "suggestion": "the best first-mistake suggestion of a mistake finder",
    "random": "a random step of each trace",
}


def is_field(key: Any) -> bool:
    """Return True for the session key of one of the page's input widgets (not a button)."""
    return isinstance(key, str) and key.startswith(FIELD_PREFIXES) and not key.endswith("_go")


def restore_fields() -> None:
    """Set the fields' initial values, and put back remembered ones Streamlit has forgotten."""
    ss = st.session_state
    for key in list(ss.keys()):
        if isinstance(key, str) and key.startswith(SAVED_PREFIX):
            widget = key.removeprefix(SAVED_PREFIX)
            if widget not in ss:
                ss[widget] = ss[key]
    for key, value in FIELD_DEFAULTS.items():
        ss.setdefault(key, value)


def remember_fields() -> None:
    """Copy the fields' current values aside, for restore_fields on a later visit."""
    ss = st.session_state
    for key in list(ss.keys()):
        if is_field(key):
            ss[SAVED_PREFIX + key] = ss[key]


def backend_fields(prefix: str) -> BackendChoice:
    """Draw the model choice (local folder or server) and return it."""
    kind = st.radio(
        "Model",
        list(BACKEND_KINDS),
        format_func=BACKEND_KINDS.get,
        horizontal=True,
        key=f"{prefix}_backend",
    )
    if kind == "server":
        c1, c2, c3 = st.columns([3, 2, 1])
        url = c1.text_input(
            "Server URL", key=f"{prefix}_server_url", placeholder="http://localhost:8000"
        )
        name = c2.text_input(
            "Model name", key=f"{prefix}_server_model", placeholder="(the server's first model)"
        )
        api = c3.selectbox("API", ["completions", "chat"], key=f"{prefix}_api")
        return BackendChoice(kind="server", server_url=url, server_model=name, api=api)
    c1, c2, c3 = st.columns([4, 1, 1])
    path = c1.text_input(
        "Model folder",
        key=f"{prefix}_model_path",
        placeholder="/models/Qwen2.5-0.5B-Instruct (a saved transformers model)",
    )
    device = c2.selectbox("Device", ["auto", "cpu", "cuda"], key=f"{prefix}_device")
    dtype = c3.selectbox("Dtype", ["auto", "float32", "bfloat16", "float16"], key=f"{prefix}_dtype")
    return BackendChoice(kind="local", model_path=path, device=device, dtype=dtype)


def prompt_fields(prefix: str, templates: Sequence[str]) -> tuple[str, str]:
    """Draw the prompt choice (each task's own, one named template, or a file); return both."""
    c1, c2 = st.columns([1, 2])
    options = [EACH_TASK, *templates, CUSTOM_PROMPT]
    drop_stale_choice(f"{prefix}_prompt", options)
    choice = c1.selectbox(
        "Prompt",
        options,
        key=f"{prefix}_prompt",
        help="Few-shot templates live in prompts/<task>.toml; edit them or give your own file.",
    )
    path = ""
    if choice == CUSTOM_PROMPT:
        path = c2.text_input(
            "Prompt file", key=f"{prefix}_prompt_path", placeholder="/path/to/my_prompt.toml"
        )
    return choice, path


def drop_stale_choice(key: str, options: Sequence[Any]) -> None:
    """Forget a select widget's value that is no longer one of its ``options``."""
    ss = st.session_state
    if key in ss and ss[key] not in options:
        del ss[key]


def _task_choice(prefix: str, column: Any, infos: dict[str, Any], dataset: str | None) -> Any:
    tasks = infos[dataset].tasks if dataset in infos else []
    drop_stale_choice(f"{prefix}_task", [ALL_TASKS, *tasks])
    task = column.selectbox("Task", [ALL_TASKS, *tasks], key=f"{prefix}_task")
    return None if task in (None, ALL_TASKS) else task


def _datasets_row(
    prefix: str,
    infos: dict[str, Any],
    source: tuple[str, str],
    target: tuple[str, str],
    target_suffix: str,
) -> tuple[Any, Any, str]:
    """Draw source dataset, task and target dataset in one row; return them (target as typed).

    ``source`` and ``target`` are (key suffix, label); the target's placeholder is the source's
    name plus ``target_suffix``.
    """
    c1, c2, c3 = st.columns([2, 2, 2])
    source_key = f"{prefix}_{source[0]}"
    drop_stale_choice(source_key, list(infos))
    chosen = c1.selectbox(source[1], list(infos), key=source_key, placeholder="no datasets")
    task = _task_choice(prefix, c2, infos, chosen)
    typed = c3.text_input(
        target[1],
        key=f"{prefix}_{target[0]}",
        placeholder=f"{chosen}{target_suffix}" if chosen else "",
    )
    return chosen, task, typed


def generate_fields(infos: dict[str, Any], templates: Sequence[str]) -> GenerateSettings:
    """Draw the generation settings and return them (keys ``lm_gen_*``)."""
    p = "lm_gen"
    backend = backend_fields(p)
    source, task, dataset = _datasets_row(
        p, infos, ("from", "Questions from dataset"), ("dataset", "New traces go to dataset"), "-lm"
    )
    prompt, prompt_path = prompt_fields(p, templates)
    c1, c2, c3, c4, c5 = st.columns(5)
    mode = c1.selectbox(
        "Mode",
        MODES,
        key=f"{p}_mode",
        help="stepwise: one 'Thought N:' step per call (as BIG-Bench Mistake was made); "
        "whole: the whole reasoning at once, split into steps afterwards.",
    )
    n = c2.number_input("Questions (n)", min_value=1, max_value=100_000, key=f"{p}_n")
    max_new = c3.number_input(
        "Max new tokens",
        min_value=1,
        max_value=32_768,
        key=f"{p}_max_new_tokens_{mode}",
        help="Per step in stepwise mode, per trace in whole mode.",
    )
    max_steps = c4.number_input(
        "Max steps",
        min_value=0,
        max_value=10_000,
        key=f"{p}_max_steps",
        help="Step limit of a stepwise trace; 0 = the prompt file's own limit.",
        disabled=mode != "stepwise",
    )
    temperature = c5.number_input(
        "Temperature", min_value=0.0, max_value=5.0, step=0.1, key=f"{p}_temperature"
    )
    c1, c2, _c3, _c4, _c5 = st.columns(5)
    batch = c1.number_input("Batch size", min_value=1, max_value=512, key=f"{p}_batch")
    seed = c2.number_input("Seed", min_value=0, key=f"{p}_seed")
    return GenerateSettings(
        backend=backend,
        from_dataset=source or "",
        dataset=(dataset or "").strip() or (f"{source}-lm" if source else ""),
        task=task,
        prompt=prompt,
        prompt_path=prompt_path,
        mode=mode,
        n=int(n),
        max_new_tokens=int(max_new),
        temperature=float(temperature),
        batch_size=int(batch),
        seed=int(seed),
        max_steps=int(max_steps) if mode == "stepwise" and max_steps else None,
    )


def correct_fields(infos: dict[str, Any], templates: Sequence[str]) -> CorrectSettings:
    """Draw the correction settings and return them (keys ``lm_cor_*``)."""
    p = "lm_cor"
    backend = backend_fields(p)
    dataset, task, out = _datasets_row(
        p,
        infos,
        ("dataset", "Traces of dataset"),
        ("out", "Corrected traces go to dataset"),
        "-corrected",
    )
    if dataset in infos:
        info = infos[dataset]
        st.caption(
            f"'{dataset}': {info.n_traces:,} traces, {info.n_labelled:,} labelled by people."
        )
    location = st.radio(
        "Mistake locations",
        list(LOCATION_HELP),
        key=f"{p}_location",
        horizontal=True,
        captions=list(LOCATION_HELP.values()),
    )
    prompt, prompt_path = prompt_fields(p, templates)
    c1, c2, c3, c4, c5, c6 = st.columns(6)
    n = c1.number_input("Traces (n)", min_value=1, max_value=100_000, key=f"{p}_n")
    k = c2.number_input("Candidates (k)", min_value=1, max_value=64, key=f"{p}_k")
    max_new = c3.number_input(
        "Max new tokens", min_value=1, max_value=4096, key=f"{p}_max_new_tokens"
    )
    batch = c4.number_input("Batch size", min_value=1, max_value=512, key=f"{p}_batch")
    seed = c5.number_input("Seed", min_value=0, key=f"{p}_seed")
    max_steps = c6.number_input(
        "Max steps",
        min_value=0,
        max_value=10_000,
        key=f"{p}_max_steps",
        help="Step limit of a corrected trace; 0 = the prompt's limit (at least the original's).",
    )
    control = st.checkbox(
        "Random control",
        key=f"{p}_control",
        help="Also correct the same traces at a random step: do your locations beat chance?",
        disabled=location == "random",
    )
    return CorrectSettings(
        backend=backend,
        dataset=dataset or "",
        location=location,
        task=task,
        n=int(n),
        k=int(k),
        max_new_tokens=int(max_new),
        batch_size=int(batch),
        seed=int(seed),
        max_steps=int(max_steps) or None,
        control=bool(control),
        out_dataset=(out or "").strip(),
        prompt=prompt,
        prompt_path=prompt_path,
    )
