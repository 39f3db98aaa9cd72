"""Shared CLI plumbing: the root typer app, the --db option, JSON output, user-facing errors."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from types import ModuleType
from typing import TYPE_CHECKING, Any, NoReturn

import orjson
import typer

if TYPE_CHECKING:
    from trace_store.store import Store

ROOT_HELP = """Thoughtscope: load, analyse, view and label chain-of-thought traces.

Example:

    python cli.py import ../shared/data/big-bench-mistake/*.jsonl --dataset bbm

    python cli.py list --dataset bbm --limit 5

The store is chosen with --db URL or THOUGHTSCOPE_DB (default: SQLite file data/thoughtscope.db).
"""


class UserError(Exception):
    """An error caused by the user's input: printed as one clear line, never a traceback."""


def build_app(modules: Sequence[ModuleType]) -> typer.Typer:
    """Return the root typer app with every module's verbs registered."""
    app = typer.Typer(
        help=ROOT_HELP,
        no_args_is_help=True,
        add_completion=False,
        pretty_exceptions_enable=False,
        rich_markup_mode=None,
    )

    @app.callback()
    def _root(
        ctx: typer.Context,
        db: str | None = typer.Option(
            None, "--db", help="Store URL (sqlite:///path.db or postgresql+psycopg://...)."
        ),
    ) -> None:
        ctx.ensure_object(dict)
        if db:
            os.environ["THOUGHTSCOPE_DB"] = db
        ctx.obj["db"] = db or os.environ.get("THOUGHTSCOPE_DB")

    for module in modules:
        module.register(app)
    return app


def fail(message: str, code: int = 1) -> NoReturn:
    """Print ``message`` to stderr as an error and exit with ``code``."""
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code)


def shown_url(url: str) -> str:
    """Return ``url`` fit to print: password hidden, an unparsable URL shown as given."""
    import sqlalchemy as sa

    try:
        return sa.engine.make_url(url).render_as_string(hide_password=True)
    except sa.exc.ArgumentError:
        return url


@contextmanager
def open_cli_store() -> Iterator[Store]:
    """Yield the store named by --db / THOUGHTSCOPE_DB; a clear error when it cannot open."""
    store = connect_cli_store()
    try:
        yield store
    finally:
        store.close()


def connect_cli_store() -> Store:
    """Return the open store named by --db / THOUGHTSCOPE_DB (the caller closes it).

    A store that cannot be opened is a one-line error naming the URL (password hidden).
    """
    import sqlalchemy as sa

    from trace_store.db import default_db_url
    from trace_store.store import open_store

    url = default_db_url()
    try:
        return open_store(url)
    except (sa.exc.SQLAlchemyError, ValueError, OSError) as exc:
        # The driver's own message (exc.orig) without SQLAlchemy's wrapping, first line only.
        detail = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]
        fail(f"cannot open store {shown_url(url)}: {detail}")


def print_json(value: Any) -> None:
    """Write ``value`` to stdout as indented JSON (pydantic models and datetimes allowed)."""
    sys.stdout.write(
        orjson.dumps(value, option=orjson.OPT_INDENT_2, default=_to_jsonable).decode() + "\n"
    )


def _to_jsonable(value: Any) -> Any:
    if hasattr(value, "model_dump"):
        return value.model_dump(mode="json")
    if hasattr(value, "__dataclass_fields__"):
        return {k: getattr(value, k) for k in value.__dataclass_fields__}
    raise TypeError(f"cannot serialise {type(value).__name__}")
