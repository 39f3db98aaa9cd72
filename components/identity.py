"""Who is using the app: single-user mode, Streamlit's OIDC login, or a proxy's header.

THOUGHTSCOPE_AUTH picks the mode:
- unset or ``single``: one person per browser; their name is asked once and kept in the
  session and the URL (``?annotator=NAME``); they act as admin.
- ``oidc``: Streamlit's built-in login (``st.login``; provider settings in the ``[auth]``
  section of ``.streamlit/secrets.toml``); the role is the one registered with
  ``annotation.set_role`` (``cli.py`` bootstraps it), else annotator.
- ``header``: behind an authenticating reverse proxy that sets the user name in a header
  (THOUGHTSCOPE_AUTH_HEADER, default ``X-Forwarded-User``). Only safe when the proxy strips
  that header from client requests and nothing reaches Streamlit except through the proxy.
In both team modes nobody logged in means ``authenticated=False``: the annotation service
refuses every write from such an identity, and the pages show a login prompt.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from typing import Any

import streamlit as st

from components.url_state import apply_query_params, query_value
from trace_store.annotation import ADJUDICATED_ANNOTATOR, Identity, role_of
from trace_store.schema import DATASET_ANNOTATOR_PREFIX

AUTH_ENV = "THOUGHTSCOPE_AUTH"
HEADER_ENV = "THOUGHTSCOPE_AUTH_HEADER"
DEFAULT_HEADER = "X-Forwarded-User"
AUTH_MODES: tuple[str, ...] = ("single", "oidc", "header")
NAME_MAX = 64

NAME_KEY = "identity_name"
"""Session key of the single-user name."""

NOBODY = Identity(name="", role="annotator", authenticated=False)


def auth_mode(env: Mapping[str, str] | None = None) -> str:
    """Return the identity mode THOUGHTSCOPE_AUTH names; ValueError for an unknown one."""
    value = (env if env is not None else os.environ).get(AUTH_ENV, "").strip().lower()
    if not value:
        return "single"
    if value not in AUTH_MODES:
        raise ValueError(
            f"environment variable {AUTH_ENV}={value!r}: expected one of {', '.join(AUTH_MODES)}"
        )
    return value


def auth_header(env: Mapping[str, str] | None = None) -> str:
    """Return the name of the header that carries the user in header mode."""
    value = (env if env is not None else os.environ).get(HEADER_ENV, "").strip()
    return value or DEFAULT_HEADER


def name_problem(name: str) -> str | None:
    """Return why ``name`` cannot be an annotator's name, or None when it can."""
    if not name.strip():
        return "expected a name"
    if len(name) > NAME_MAX:
        return f"expected at most {NAME_MAX} characters, got {len(name)}"
    if name.strip() == ADJUDICATED_ANNOTATOR or name.strip().startswith(DATASET_ANNOTATOR_PREFIX):
        return "names 'adjudicated' and 'dataset:…' are reserved for adjudicated and dataset labels"
    if any(not ch.isprintable() for ch in name):
        return "expected printable characters only"
    return None


def single_user_identity(name: str | None) -> Identity:
    """Return the single-user identity for ``name`` (admin), or nobody for a missing/bad name."""
    name = (name or "").strip()
    if not name or name_problem(name):
        return NOBODY
    return Identity(name=name, role="admin", authenticated=True)


def header_identity(
    headers: Mapping[str, Any], header: str, role_lookup: Callable[[str], str | None]
) -> Identity:
    """Return the identity a proxy's header names (case-insensitive), or nobody without one."""
    wanted = header.lower()
    value = next((str(v) for k, v in headers.items() if str(k).lower() == wanted), "")
    name = value.strip()
    if not name or name_problem(name):
        return NOBODY
    return Identity(name=name, role=role_lookup(name) or "annotator", authenticated=True)


def oidc_identity(user: Mapping[str, Any], role_lookup: Callable[[str], str | None]) -> Identity:
    """Return the identity of an OIDC user (email, else name, else subject), or nobody."""
    if not user.get("is_logged_in"):
        return NOBODY
    name = str(user.get("email") or user.get("name") or user.get("sub") or "").strip()
    if not name or name_problem(name):
        return NOBODY
    return Identity(name=name, role=role_lookup(name) or "annotator", authenticated=True)


def _single_name() -> str:
    """Return the single-user name: the session's, else the URL's (kept in the session)."""
    ss = st.session_state
    if not ss.get(NAME_KEY):
        from_url = (query_value("annotator") or "").strip()
        if from_url and not name_problem(from_url):
            ss[NAME_KEY] = from_url
    return ss.get(NAME_KEY) or ""


def current_identity(store: Any) -> Identity:
    """Return who is using the app now, per THOUGHTSCOPE_AUTH (see the module docstring)."""
    mode = auth_mode()
    if mode == "single":
        return single_user_identity(_single_name())

    def lookup(name: str) -> str | None:
        return role_of(store, name)

    if mode == "header":
        return header_identity(dict(st.context.headers), auth_header(), lookup)
    return oidc_identity(st.user.to_dict(), lookup)


def _set_single_name() -> None:
    """Keep the typed name (form callback); a bad name is reported by the form."""
    ss = st.session_state
    typed = (ss.get("identity_typed") or "").strip()
    problem = name_problem(typed)
    ss["identity_problem"] = problem
    if problem is None:
        ss[NAME_KEY] = typed


def render_identity(store: Any, *, where: Any = None) -> Identity:
    """Return the current identity after drawing who is logged in, or how to log in.

    Single-user mode asks for a name once; OIDC mode offers Streamlit's login; header mode
    explains which header the proxy must send. Who is logged in is drawn in ``where`` (the
    sidebar by default); a login prompt always goes to the page itself.
    """
    box = st.container()
    side = where if where is not None else st.sidebar
    try:
        mode = auth_mode()
    except ValueError as exc:
        box.error(str(exc))
        return NOBODY
    who = current_identity(store)
    if who.logged_in:
        if mode == "single":
            apply_query_params({"annotator": who.name})
        # Plain text: a name typed by a person or sent by a proxy is not markdown.
        side.text(f"Labelling as {who.name}\nrole: {who.role} · login: {mode}")
        if mode == "oidc" and side.button("Log out", key="identity_logout"):
            st.logout()
        if mode == "single" and side.button("Switch annotator", key="identity_switch"):
            st.session_state.pop(NAME_KEY, None)
            apply_query_params({"annotator": None})
            st.rerun()
        return who
    if mode == "single":
        with box.form("identity_form", border=True):
            st.markdown("**Who is labelling?** Your name is asked once and kept in the link.")
            st.text_input("Your name", key="identity_typed", max_chars=NAME_MAX)
            st.form_submit_button("Start labelling", on_click=_set_single_name)
        problem = st.session_state.get("identity_problem")
        if problem:
            box.error(f"Your name: {problem}.")
    elif mode == "oidc":
        box.warning("Team mode: log in to label. Nothing can be saved until you do.")
        if "is_logged_in" not in st.user.to_dict():
            box.error(
                f"{AUTH_ENV}=oidc but .streamlit/secrets.toml has no [auth] section: "
                "add the provider's redirect_uri, cookie_secret, client_id, client_secret "
                "and server_metadata_url there."
            )
        elif box.button("Log in", key="identity_login", type="primary"):
            st.login()
    else:
        box.warning(
            f"Team mode behind a proxy: this request carried no {auth_header()} header, so "
            "nobody is logged in and nothing can be saved. Open the app through the "
            "authenticating proxy."
        )
    return who
