"""Store verbs: `list`, `show`, `search`, `stats`, `datasets`, `db upgrade`, `db check`."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import typer

from cli_commands.common import fail, open_cli_store, print_json, shown_url

if TYPE_CHECKING:
    from trace_store.filters import TraceRow
    from trace_store.store import Store

LIST_CAP = 10_000
BEHAVIOUR_SHORT = {
    "backtracking": "bt",
    "verification": "ver",
    "subgoal_setting": "sg",
    "backward_chaining": "bc",
}


def _url(ctx: typer.Context) -> str:
    from trace_store.db import default_db_url

    obj = ctx.find_root().obj or {}
    return obj.get("db") or default_db_url()


def _table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """Return ``rows`` as aligned plain text under ``headers`` (last column left unpadded)."""
    cells = [[str(h) for h in headers]] + [["" if v is None else str(v) for v in r] for r in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    lines = []
    for row in cells:
        padded = [c.ljust(w) for c, w in zip(row[:-1], widths, strict=False)] + [row[-1]]
        lines.append("  ".join(padded).rstrip())
    return "\n".join(lines)


def _yes_no(value: bool | None) -> str:
    return "?" if value is None else ("yes" if value else "no")


def _row_cells(row: TraceRow) -> list[Any]:
    counts = row.behavior_counts
    behaviours = (
        " ".join(f"{BEHAVIOUR_SHORT[b]}={n}" for b, n in counts.items() if n) or "-"
        if counts
        else ""
    )
    mistake = (
        ""
        if row.dataset_mistake is None
        else ("none" if row.dataset_mistake < 0 else row.dataset_mistake)
    )
    labels = f"{row.n_labels}!" if row.label_disagreement else row.n_labels
    return [
        row.id,
        row.dataset,
        row.task or "",
        row.model or "",
        row.n_steps,
        _yes_no(row.correct),
        mistake,
        labels,
        behaviours,
        row.question_preview[:60],
    ]


ROW_HEADERS = (
    "ID", "DATASET", "TASK", "MODEL", "STEPS", "CORRECT", "MISTAKE", "LABELS", "BEHAVIOURS",
    "QUESTION",
)  # fmt: skip


def _print_rows(rows: list[TraceRow], total: int, offset: int, capped: bool) -> None:
    if not rows:
        typer.echo("no traces match")
        return
    typer.echo(_table(ROW_HEADERS, [_row_cells(r) for r in rows]))
    shown_total = f"{total:,}+" if capped else f"{total:,}"
    typer.echo(f"\nshowing {offset + 1:,}-{offset + len(rows):,} of {shown_total}")


def _list_and_count(
    store: Store, flt: Any, limit: int, offset: int, order_by: str, descending: bool
) -> tuple[list[TraceRow], int, bool]:
    try:
        rows = store.list_traces(
            flt, limit=limit, offset=offset, order_by=order_by, descending=descending
        )
    except ValueError as exc:
        fail(str(exc))
    total = store.count_traces(flt, cap=LIST_CAP + 1)
    return rows, min(total, LIST_CAP), total > LIST_CAP


def register(app: typer.Typer) -> None:
    """Add the store verbs to ``app``."""

    @app.command("list")
    def list_cmd(
        ctx: typer.Context,
        dataset: list[str] | None = typer.Option(None, "--dataset", help="Dataset (repeatable)."),
        task: list[str] | None = typer.Option(None, "--task", help="Task (repeatable)."),
        model: list[str] | None = typer.Option(None, "--model", help="Model (repeatable)."),
        limit: int = typer.Option(20, "--limit", min=0, help="Rows to show."),
        offset: int = typer.Option(0, "--offset", min=0, help="Rows to skip."),
        order_by: str = typer.Option(
            "id", "--order-by", help="id, added, n_steps, n_labels, a behaviour name, ..."
        ),
        desc: bool = typer.Option(False, "--desc", help="Sort in descending order."),
        as_json: bool = typer.Option(False, "--json", help="Print the rows as JSON."),
    ) -> None:
        """List stored traces, one line each (counts above 10,000 are shown as 10,000+).

        Example:

            python cli.py list --dataset bbm --task word_sorting --limit 5

            python cli.py list --order-by backtracking --desc --json
        """
        from trace_store.filters import TraceFilter

        flt = TraceFilter(datasets=dataset or None, tasks=task or None, models=model or None)
        with open_cli_store() as store:
            rows, total, capped = _list_and_count(store, flt, limit, offset, order_by, desc)
        if as_json:
            print_json({"total": total, "total_capped": capped, "offset": offset, "rows": rows})
        else:
            _print_rows(rows, total, offset, capped)

    @app.command("search")
    def search_cmd(
        ctx: typer.Context,
        query: str = typer.Argument(..., help='Words (all must occur), "a phrase", prefix*.'),
        dataset: list[str] | None = typer.Option(None, "--dataset", help="Dataset (repeatable)."),
        limit: int = typer.Option(20, "--limit", min=0, help="Rows to show."),
        as_json: bool = typer.Option(False, "--json", help="Print the rows as JSON."),
    ) -> None:
        """Find traces whose question or steps contain the query's words.

        Example:

            python cli.py search '"first letter" alphabet*' --dataset bbm --limit 5
        """
        from trace_store.filters import TraceFilter
        from trace_store.search import parse_query

        if not parse_query(query):
            fail(f"search query {query!r} holds no word to look for")
        flt = TraceFilter(datasets=dataset or None, text=query)
        with open_cli_store() as store:
            rows, total, capped = _list_and_count(store, flt, limit, 0, "id", False)
        if as_json:
            print_json({"query": query, "total": total, "total_capped": capped, "rows": rows})
        else:
            _print_rows(rows, total, 0, capped)

    @app.command("show")
    def show_cmd(
        ctx: typer.Context,
        trace_id: str = typer.Argument(..., help="Id of the trace."),
        as_json: bool = typer.Option(False, "--json", help="Print everything as JSON."),
    ) -> None:
        """Show one trace: question, steps, answer, labels, suggestions and analyses.

        Example:

            python cli.py show bbm-word_sorting-0001

            python cli.py show bbm-word_sorting-0001 --json
        """
        with open_cli_store() as store:
            trace = store.get_trace(trace_id)
            if trace is None:
                fail(f"no trace with id {trace_id!r} in store {shown_url(store.url)}")
            labels = store.labels_for(trace_id)
            suggestions = store.suggestions_for(trace_id)
            analyses = store.analyses_for(trace_id)
        if as_json:
            print_json(
                {"trace": trace, "labels": labels, "suggestions": suggestions, "analyses": analyses}
            )
            return
        from cli_commands.store_show import render_trace

        typer.echo(render_trace(trace, labels, suggestions, analyses))

    @app.command("stats")
    def stats_cmd(
        ctx: typer.Context,
        dataset: str | None = typer.Option(None, "--dataset", help="Only this dataset."),
        as_json: bool = typer.Option(False, "--json", help="Print the figures as JSON."),
    ) -> None:
        """Print counts: traces, steps, tasks, correctness, labels, behaviours, suggestions.

        Example:

            python cli.py stats --dataset bbm
        """
        with open_cli_store() as store:
            stats = store.stats(dataset)
        if dataset is not None and stats["traces"] == 0:
            fail(f"no traces in dataset {dataset!r}")
        if as_json:
            print_json(stats)
            return
        from cli_commands.store_show import render_stats

        typer.echo(render_stats(stats))

    @app.command("datasets")
    def datasets_cmd(
        ctx: typer.Context,
        as_json: bool = typer.Option(False, "--json", help="Print the datasets as JSON."),
    ) -> None:
        """List the datasets in the store with their size, tasks and models.

        Example:

            python cli.py datasets
        """
        with open_cli_store() as store:
            infos = store.datasets()
        if as_json:
            print_json(infos)
            return
        if not infos:
            typer.echo("the store holds no dataset")
            return
        rows = [
            [i.name, f"{i.n_traces:,}", f"{i.n_labelled:,}", ",".join(i.models), ",".join(i.tasks)]
            for i in infos
        ]
        typer.echo(_table(("DATASET", "TRACES", "LABELLED", "MODELS", "TASKS"), rows))

    db_app = typer.Typer(
        help="Store schema: migrate it, check it.", no_args_is_help=True, rich_markup_mode=None
    )

    @db_app.command("upgrade")
    def db_upgrade(
        ctx: typer.Context,
        as_json: bool = typer.Option(False, "--json", help="Print the result as JSON."),
    ) -> None:
        """Migrate the store's schema to the newest revision and print the revision.

        Example:

            python cli.py db upgrade

            python cli.py --db postgresql+psycopg://me@localhost/traces db upgrade
        """
        import sqlalchemy as sa

        from trace_store.db import (
            StoreURLError,
            create_store_engine,
            current_revision,
            upgrade_to_head,
        )

        url = _url(ctx)
        try:
            engine = create_store_engine(url)
            try:
                before = current_revision(engine)
                after = upgrade_to_head(engine)
            finally:
                engine.dispose()
        except StoreURLError as exc:
            fail(str(exc))
        except sa.exc.OperationalError as exc:
            fail(f"cannot open store {shown_url(url)}: {str(exc.orig).strip().splitlines()[0]}")
        shown = shown_url(url)
        if as_json:
            print_json({"url": shown, "from": before, "revision": after, "head": after})
        elif before == after:
            typer.echo(f"store {shown} is at revision {after} (head); nothing to do")
        else:
            typer.echo(f"store {shown} upgraded from {before or 'empty'} to {after} (head)")

    @db_app.command("check")
    def db_check(
        ctx: typer.Context,
        as_json: bool = typer.Option(False, "--json", help="Print the problems as JSON."),
    ) -> None:
        """Check the store's integrity; exit 1 when a problem is found.

        Example:

            python cli.py db check
        """
        with open_cli_store() as store:
            problems = store.integrity_errors()
            shown = shown_url(store.url)
        if as_json:
            print_json({"url": shown, "ok": not problems, "problems": problems})
        else:
            for problem in problems:
                typer.echo(f"problem: {problem}")
            if not problems:
                typer.echo(f"store {shown}: no problem found")
        if problems:
            raise typer.Exit(1)

    app.add_typer(db_app, name="db")
