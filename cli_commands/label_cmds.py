"""Labelling verbs: `label`, `adjudicate`, `users add|list|remove`, `project set|show`.

They go through trace_store.annotation, the same functions the labelling page calls, so the
rules (validation, one label per annotator, conflict detection, history) are the same. The CLI
is run by whoever owns the store, so it acts as a local admin; `label --annotator NAME` records
the label as NAME.
"""

from __future__ import annotations

import getpass
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from cli_commands.common import fail, open_cli_store, print_json
from cli_commands.label_values import (
    BEHAVIORS_EXAMPLE,
    decision_text,
    parse_behaviors,
    parse_mistake_step,
    parse_ratings,
)

if TYPE_CHECKING:
    from collections.abc import Callable

    from trace_store.annotation import Identity, Project
    from trace_store.schema import Label

LABEL_HELP = """Record a person's label on one trace, exactly as the labelling page does.

--mistake-step is the 0-based index of the first wrong step, or `none` when every step is
right. --ratings gives one rating per step (1 good, 0 neutral, -1 bad; `?` or an empty item
leaves a step unrated). --behaviors corrects the behaviours of some steps (`STEP=NAME+NAME`
items joined with `;`; `STEP=` says the step shows none). --draft saves a draft instead of
submitting (submitting releases the annotator's lease on the trace). Re-running it updates
NAME's label; the history keeps every version. If NAME's label changed since
--expected-version (default: the version stored when this command reads it), the save is
refused as a conflict (exit code 1).

Example:

\b
    python cli.py label bbm-0001 --annotator ann --mistake-step 2
    python cli.py label bbm-0001 --annotator ann --mistake-step none --ratings "1,1,1,1" --json
    python cli.py label bbm-0002 --annotator bob --mistake-step 0 --draft --note "check step 0"
    python cli.py label cd-0007 --annotator ann --behaviors "3=backtracking;5=" --mistake-step none
"""

ADJUDICATE_HELP = """Record the final (adjudicated) label of a trace, as on the Adjudicate page.

The decision is any of: --mistake-step (the first wrong step, 0-based, or `none` for no
mistake), --ratings (one per step: 1 good, 0 neutral, -1 bad; an empty item or `?` leaves a step
unrated) and --behaviors (the corrected behaviours of some steps: `STEP=NAME+NAME` items joined
with `;`, names from backtracking, verification, subgoal_setting, backward_chaining; `STEP=`
with no name says the step shows none). At least one is needed. The reviewer must be registered
as reviewer or admin (`cli.py users add NAME --role reviewer`). There is one adjudicated label
per trace; re-running it replaces the whole decision (what is not given is cleared), and the
label's history names the reviewer of each version. Exports take it with `--labels adjudicated`.

Example:

\b
    python cli.py adjudicate bbm-0001 --reviewer rita --mistake-step 2 --note "step 2 drops pear"
    python cli.py adjudicate bbm-0002 --reviewer rita --mistake-step none
    python cli.py adjudicate bbm-0003 --reviewer rita --ratings "1,0,-1,,1"
    python cli.py adjudicate bbm-0004 --reviewer rita --behaviors "3=backtracking+verification;5="
"""

USERS_HELP = """Register people for team labelling and give them a role.

Roles: annotator (labels traces), reviewer (also adjudicates disagreements), admin (also
changes roles and projects). In team mode (THOUGHTSCOPE_AUTH=oidc or header) the app takes a
logged-in person's role from here; unregistered people are annotators.

Example:

\b
    python cli.py users add rita --role reviewer
    python cli.py users list
"""

PROJECT_HELP = """Show or change how a dataset is labelled (modes, overlap, blind mode, guidelines).

Example:

\b
    python cli.py project set --dataset bbm --modes first_mistake,step_rating --overlap 2
    python cli.py project set --dataset bbm --guidelines docs/bbm-guidelines.md --no-blind
    python cli.py project show --dataset bbm
"""


PROJECT_SET_HELP = """Change how a dataset is labelled; options not given keep their saved value.

--modes: which judgements a label holds (first_mistake, step_rating, behaviors; a submit needs
each mode's part). --overlap: how many annotators label each trace. --blind: annotators see
others' labels only after submitting their own. --lease-seconds: how long the queue keeps a
trace for the annotator it gave it to. --guidelines: a Markdown file shown beside the trace.

Example:

\b
    python cli.py project set --dataset bbm --modes first_mistake,step_rating --overlap 2
    python cli.py project set --dataset bbm --guidelines docs/bbm-guidelines.md --no-blind
"""

USERS_ADD_HELP = """Register a person with a role (annotator, reviewer or admin), or change it.

Example:

\b
    python cli.py users add rita --role reviewer
"""


def cli_identity() -> Identity:
    """Return the identity the CLI acts as: the local user, as an admin."""
    from trace_store.annotation import Identity

    try:
        user = getpass.getuser()
    except (KeyError, OSError):  # no passwd entry for the uid, e.g. in a container
        user = "local"
    return Identity(f"cli:{user}", "admin")


def _project_lines(project: Project) -> list[str]:
    guide = project.guidelines.strip().splitlines()
    shown = f"{len(project.guidelines)} characters: {guide[0][:60]}" if guide else "(none)"
    return [
        f"dataset        {project.dataset}" + ("" if project.saved else "  (defaults, not saved)"),
        f"modes          {','.join(project.modes)}",
        f"overlap        {project.overlap}",
        f"blind          {'yes' if project.blind else 'no'}",
        f"lease_seconds  {project.lease_seconds}",
        f"guidelines     {shown}",
    ]


def _registered_identity(store, name: str) -> Identity:
    """Return ``name`` (stripped) with their registered role, or as a plain annotator."""
    from trace_store.annotation import Identity, role_of

    name = name.strip()
    return Identity(name, role_of(store, name) or "annotator")


def _saved_or_fail(save: Callable[[], Label]) -> Label:
    """Return the label ``save`` stored; a conflict or a refused save ends the command."""
    from trace_store.annotation import LabelConflict, NotAllowed

    try:
        return save()
    except LabelConflict as exc:
        fail(f"conflict: {exc}")
    except (NotAllowed, ValueError) as exc:
        fail(str(exc))


def register(app: typer.Typer) -> None:
    """Add the `label`, `users` and `project` verbs to ``app``."""

    @app.command("label", help=LABEL_HELP)
    def label(
        trace_id: str = typer.Argument(..., help="Id of the trace to label."),
        annotator: str = typer.Option(..., "--annotator", help="Who gives the label."),
        mistake_step: str | None = typer.Option(
            None, "--mistake-step", help="First wrong step (0-based) or 'none'."
        ),
        ratings: str | None = typer.Option(
            None, "--ratings", help='Per-step ratings, e.g. "1,1,-1" (? = unrated).'
        ),
        behaviors: str | None = typer.Option(
            None,
            "--behaviors",
            help=f'Corrected behaviours of some steps, e.g. "{BEHAVIORS_EXAMPLE}" (5= : none).',
        ),
        draft: bool = typer.Option(False, "--draft", help="Save a draft, do not submit."),
        note: str | None = typer.Option(None, "--note", help="Free-text note (default: kept)."),
        expected_version: int | None = typer.Option(
            None, "--expected-version", help="Version you last read; refuse if it changed."
        ),
        as_json: bool = typer.Option(False, "--json", help="Print the saved label as JSON."),
    ) -> None:
        from trace_store.annotation import my_label, record_label

        first_mistake = parse_mistake_step(mistake_step)
        step_ratings = parse_ratings(ratings)
        corrections = parse_behaviors(behaviors)
        with open_cli_store() as store:
            who = _registered_identity(store, annotator)
            current = my_label(store, who, trace_id)
            if expected_version is None and current is not None:
                expected_version = current.version
            if note is None:
                note = current.note if current is not None else ""
            saved = _saved_or_fail(
                lambda: record_label(
                    store, who, trace_id, first_mistake=first_mistake, step_ratings=step_ratings,
                    behavior_corrections=corrections, note=note, draft=draft,
                    expected_version=expected_version,
                )
            )  # fmt: skip
        if as_json:
            print_json(saved)
            return
        typer.echo(
            f"saved {saved.status} label {saved.id} (version {saved.version}) by "
            f"{saved.annotator} on {saved.trace_id}: {decision_text(saved)}"
        )

    @app.command("adjudicate", help=ADJUDICATE_HELP)
    def adjudicate_cmd(
        trace_id: str = typer.Argument(..., help="Id of the trace."),
        reviewer: str = typer.Option(..., "--reviewer", help="Who decides (a reviewer)."),
        mistake_step: str | None = typer.Option(
            None, "--mistake-step", help="Final first wrong step (0-based) or 'none'."
        ),
        ratings: str | None = typer.Option(
            None,
            "--ratings",
            help='Final per-step ratings, e.g. "1,0,-1,,1" (empty or ? = unrated).',
        ),
        behaviors: str | None = typer.Option(
            None,
            "--behaviors",
            help=f'Final behaviours of some steps, e.g. "{BEHAVIORS_EXAMPLE}" (5= : none).',
        ),
        note: str = typer.Option("", "--note", help="Why this decision."),
        as_json: bool = typer.Option(False, "--json", help="Print the saved label as JSON."),
    ) -> None:
        from trace_store.annotation import ADJUDICATED_ANNOTATOR, adjudicate

        if mistake_step is None and ratings is None and behaviors is None:
            fail(
                "nothing to record: give the decision with --mistake-step, --ratings and/or "
                "--behaviors (see --help)"
            )
        first_mistake = parse_mistake_step(mistake_step)
        step_ratings = parse_ratings(ratings)
        corrections = parse_behaviors(behaviors)
        unrated = step_ratings is not None and all(r is None for r in step_ratings)
        if unrated and first_mistake is None and corrections is None:
            fail(f"--ratings {ratings!r} leaves every step unrated, and nothing else was given")
        with open_cli_store() as store:
            who = _registered_identity(store, reviewer)
            current = store.labels_for(trace_id, annotator=ADJUDICATED_ANNOTATOR)
            saved = _saved_or_fail(
                lambda: adjudicate(
                    store, who, trace_id, first_mistake=first_mistake, step_ratings=step_ratings,
                    behavior_corrections=corrections, note=note,
                    expected_version=current[0].version if current else None,
                )
            )  # fmt: skip
        if as_json:
            print_json(saved)
            return
        typer.echo(
            f"saved adjudicated label {saved.id} (version {saved.version}) by {who.name} on "
            f"{saved.trace_id}: {decision_text(saved)}"
        )

    users_app = typer.Typer(help=USERS_HELP, no_args_is_help=True)

    @users_app.command("add", help=USERS_ADD_HELP)
    def users_add(
        name: str = typer.Argument(..., help="The person's name (as they log in)."),
        role: str = typer.Option("annotator", "--role", help="annotator, reviewer or admin."),
    ) -> None:
        from trace_store.annotation import set_role

        with open_cli_store() as store:
            try:
                set_role(store, cli_identity(), name, role)  # type: ignore[arg-type]
            except ValueError as exc:
                fail(str(exc))
        typer.echo(f"{name.strip()} is now {role}")

    @users_app.command("list")
    def users_list(
        as_json: bool = typer.Option(False, "--json", help="Print JSON."),
    ) -> None:
        """List registered people and their roles.

        Example:

        \b
            python cli.py users list --json
        """
        from trace_store.annotation import list_users

        with open_cli_store() as store:
            people = list_users(store)
        if as_json:
            print_json([{"name": n, "role": r} for n, r in people])
            return
        if not people:
            typer.echo("no users registered (everyone who logs in is an annotator)")
        for name, role in people:
            typer.echo(f"{name}\t{role}")

    @users_app.command("remove")
    def users_remove(name: str = typer.Argument(..., help="The person to unregister.")) -> None:
        """Unregister a person (their labels stay; they become a plain annotator).

        Example:

        \b
            python cli.py users remove rita
        """
        from trace_store.annotation import remove_user

        with open_cli_store() as store:
            if not remove_user(store, cli_identity(), name):
                fail(f"no registered user {name!r}; see `python cli.py users list`")
        typer.echo(f"removed {name}")

    app.add_typer(users_app, name="users")

    project_app = typer.Typer(help=PROJECT_HELP, no_args_is_help=True)

    @project_app.command("set", help=PROJECT_SET_HELP)
    def project_set(
        dataset: str = typer.Option(..., "--dataset", help="Dataset the settings are for."),
        modes: str | None = typer.Option(
            None, "--modes", help="Comma-separated: first_mistake, step_rating, behaviors."
        ),
        overlap: int | None = typer.Option(
            None, "--overlap", help="How many annotators label each trace."
        ),
        blind: bool | None = typer.Option(
            None, "--blind/--no-blind", help="Hide others' labels until one's own is submitted."
        ),
        lease_seconds: int | None = typer.Option(
            None, "--lease-seconds", help="How long a trace stays reserved for its annotator."
        ),
        guidelines: Path | None = typer.Option(
            None, "--guidelines", help="Markdown file shown beside the trace."
        ),
        as_json: bool = typer.Option(False, "--json", help="Print the saved settings as JSON."),
    ) -> None:
        from dataclasses import replace

        from trace_store.annotation import get_project, save_project

        changes: dict[str, object] = {}
        if modes is not None:
            changes["modes"] = tuple(m.strip() for m in modes.split(",") if m.strip())
        if overlap is not None:
            changes["overlap"] = overlap
        if blind is not None:
            changes["blind"] = blind
        if lease_seconds is not None:
            changes["lease_seconds"] = lease_seconds
        if guidelines is not None:
            try:
                changes["guidelines"] = guidelines.read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError) as exc:
                fail(f"--guidelines {guidelines}: cannot read it as UTF-8 text ({exc})")
        with open_cli_store() as store:
            try:
                saved = save_project(
                    store, cli_identity(), replace(get_project(store, dataset), **changes)
                )
            except ValueError as exc:
                fail(str(exc))
            known = dataset in {d.name for d in store.datasets()}
        if as_json:
            print_json(saved)
            return
        typer.echo("\n".join(_project_lines(saved)))
        if not known:
            typer.echo(f"note: the store has no traces in dataset {dataset!r} yet", err=True)

    @project_app.command("show")
    def project_show(
        dataset: str | None = typer.Option(
            None, "--dataset", help="Dataset to show (default: every saved project)."
        ),
        as_json: bool = typer.Option(False, "--json", help="Print JSON."),
    ) -> None:
        """Show a dataset's labelling settings (defaults when never set).

        Example:

        \b
            python cli.py project show --dataset bbm
        """
        from trace_store.annotation import get_project, list_projects

        with open_cli_store() as store:
            shown = [get_project(store, dataset)] if dataset else list_projects(store)
        if as_json:
            print_json(shown[0] if dataset else shown)
            return
        if not shown:
            typer.echo("no projects saved; every dataset uses the defaults")
        typer.echo("\n\n".join("\n".join(_project_lines(p)) for p in shown))

    app.add_typer(project_app, name="project")
