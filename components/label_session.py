"""The open label of the labelling screen: loaded from the store, changed, autosaved, submitted.

Every change goes through ``apply_change``, which remembers the values before it (undo) and
saves a draft at once with the version the editor holds. A save that finds a newer version in
the store (another tab, another window) is a LabelConflict: nothing is merged, the editor keeps
the unsaved values, stops saving and asks for a reload. All writes go through the annotation
service, so the UI obeys exactly the rules the CLI and the tests check.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import streamlit as st

from components.label_editor import (
    LabelValues,
    UndoStack,
    missing_for_submit,
    values_from_label,
)
from trace_store.annotation import (
    Identity,
    LabelConflict,
    NotAllowed,
    my_label,
    record_label,
)
from trace_store.schema import Label, Trace

EDITOR_KEY = "label_editor"
"""Session key of the open EditorState."""


@dataclass
class EditorState:
    """One annotator's label on one trace as the editor holds it (values + what is stored)."""

    trace_id: str
    annotator: str
    values: LabelValues
    label_id: int | None = None
    version: int | None = None
    status: str | None = None
    saved_at: datetime | None = None
    undo: UndoStack = field(default_factory=UndoStack)
    conflict: str = ""
    notice: str = ""
    error: str = ""

    def take_saved(self, label: Label) -> None:
        """Remember what the store now holds after a save or load of ``label``."""
        self.label_id = label.id
        self.version = label.version
        self.status = label.status
        self.saved_at = label.updated_at


def load_editor(store: Any, who: Identity, trace: Trace, modes: Sequence[str]) -> EditorState:
    """Return a fresh editor on ``who``'s stored label of ``trace`` (draft or submitted)."""
    label = my_label(store, who, trace.id)
    state = EditorState(
        trace_id=trace.id,
        annotator=who.name,
        values=values_from_label(label, len(trace.steps), modes),
    )
    if label is not None:
        state.take_saved(label)
    return state


def current_editor(store: Any, who: Identity, trace: Trace, modes: Sequence[str]) -> EditorState:
    """Return the session's editor for (trace, who), loading it from the store when absent."""
    state = st.session_state.get(EDITOR_KEY)
    if (
        not isinstance(state, EditorState)
        or state.trace_id != trace.id
        or state.annotator != who.name
    ):
        state = load_editor(store, who, trace, modes)
        st.session_state[EDITOR_KEY] = state
    return state


def reload_editor(store: Any, who: Identity, trace: Trace, modes: Sequence[str]) -> EditorState:
    """Return the editor reloaded from the store, dropping unsaved values and the undo list."""
    state = load_editor(store, who, trace, modes)
    st.session_state[EDITOR_KEY] = state
    return state


def forget_editor() -> None:
    """Drop the open editor (another trace is opened next)."""
    st.session_state.pop(EDITOR_KEY, None)


def _save(
    store: Any, who: Identity, state: EditorState, modes: Sequence[str], *, submit: bool
) -> bool:
    """Return whether the editor's values were saved (draft, or submitted when ``submit``).

    Edits of a submitted label stay submitted while they are complete; an edit that leaves it
    incomplete turns it back into a draft, and says so.
    """
    if state.conflict:
        return False
    missing = missing_for_submit(state.values, modes)
    if submit and missing:
        state.error = "Cannot submit yet: " + "; ".join(missing) + "."
        return False
    draft = not submit
    if state.status == "submitted" and not submit:
        draft = bool(missing)
        if missing:
            state.notice = (
                "Your submitted label is a draft again: it now lacks "
                + "; ".join(missing)
                + ". Submit it again when done."
            )
    try:
        saved = record_label(
            store,
            who,
            state.trace_id,
            draft=draft,
            expected_version=state.version,
            **state.values.record_fields(),
        )
    except LabelConflict as exc:
        state.conflict = str(exc)
        return False
    except (NotAllowed, ValueError) as exc:
        state.error = str(exc)
        return False
    state.take_saved(saved)
    state.error = ""
    return True


def apply_change(
    store: Any,
    who: Identity,
    state: EditorState,
    new_values: LabelValues | None,
    step: int | None,
    modes: Sequence[str],
) -> bool:
    """Return whether ``new_values`` changed the label; if so remember the old ones and autosave."""
    if new_values is None or new_values == state.values or state.conflict:
        return False
    state.undo.push(state.values, step)
    state.values = new_values
    state.notice = ""
    _save(store, who, state, modes, submit=False)
    return True


def undo_change(store: Any, who: Identity, state: EditorState, modes: Sequence[str]) -> int | None:
    """Return the step of the undone change (None when nothing was undone); autosaves."""
    if state.conflict:
        return None
    item = state.undo.pop()
    if item is None:
        return None
    values, step = item
    state.values = values
    state.notice = ""
    _save(store, who, state, modes, submit=False)
    return step


def submit_label(store: Any, who: Identity, state: EditorState, modes: Sequence[str]) -> bool:
    """Return whether the label was submitted (saved with status submitted, lease released)."""
    state.notice = ""
    return _save(store, who, state, modes, submit=True)
