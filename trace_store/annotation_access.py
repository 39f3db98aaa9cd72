"""Who may do what in labelling: identities, roles, and per-dataset labelling projects.

Identities come from the app (components/identity.py) or the CLI; the registered roles and the
projects live in the store (tables ``users`` and ``projects``). Only admins change either.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Literal, get_args

import orjson
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from trace_store.db import write_transaction
from trace_store.orm import projects, users
from trace_store.schema import DATASET_ANNOTATOR_PREFIX, utcnow

if TYPE_CHECKING:
    from trace_store.store import Store

Role = Literal["annotator", "reviewer", "admin"]
ROLES: tuple[str, ...] = get_args(Role)
ROLE_RANK: dict[str, int] = {"annotator": 0, "reviewer": 1, "admin": 2}
ADJUDICATED_ANNOTATOR = "adjudicated"
"""The annotator name of the one adjudicated label a trace may have."""

MODES: tuple[str, ...] = ("first_mistake", "step_rating", "behaviors")
"""Labelling modes a project may switch on."""


_PROJECT = sa.select(projects).where(projects.c.dataset == sa.bindparam("dataset"))


@dataclass(frozen=True)
class Identity:
    """Who is acting: a name ('' when nobody is logged in), a role, and whether logged in."""

    name: str
    role: Role = "annotator"
    authenticated: bool = True

    def can(self, role: Role) -> bool:
        """Return whether this identity is logged in with ``role`` or a higher one."""
        return self.logged_in and ROLE_RANK.get(self.role, -1) >= ROLE_RANK[role]

    @property
    def logged_in(self) -> bool:
        """Return whether this identity is authenticated and has a name."""
        return bool(self.authenticated and self.name and self.name.strip())


class NotAllowed(PermissionError):
    """An action refused to this identity; the message says who tried what and why."""


@dataclass
class Project:
    """Labelling settings of one dataset (defaults until an admin saves them)."""

    dataset: str
    modes: tuple[str, ...] = ("first_mistake",)
    overlap: int = 1
    blind: bool = True
    lease_seconds: int = 900
    guidelines: str = ""
    saved: bool = field(default=False, compare=False)
    """True when read from the store, False for the defaults of a never-saved project."""


def describe(who: Identity) -> str:
    """Return how messages name ``who`` ('nobody (not logged in)' or "'ann' (annotator)")."""
    if not who.logged_in:
        return "nobody (not logged in)"
    return f"{who.name!r} ({who.role})"


def require_writer(who: Identity, action: str) -> None:
    """Raise NotAllowed unless ``who`` may write labels under their own name."""
    if not who.logged_in:
        raise NotAllowed(f"cannot {action}: nobody is logged in; log in first")
    if who.name == ADJUDICATED_ANNOTATOR or who.name.startswith(DATASET_ANNOTATOR_PREFIX):
        raise NotAllowed(
            f"cannot {action} as {who.name!r}: that name is reserved for "
            "adjudicated and dataset labels"
        )


def require_role(who: Identity, role: Role, action: str) -> None:
    """Raise NotAllowed unless ``who`` is logged in with ``role`` or a higher one."""
    if not who.logged_in:
        raise NotAllowed(f"cannot {action}: nobody is logged in; log in first")
    if not who.can(role):
        raise NotAllowed(f"{describe(who)} cannot {action}: only a {role} or above may")


# ------------------------------------------------------------------------------------ roles


def set_role(store: Store, who: Identity, name: str, role: Role) -> None:
    """Register ``name`` with ``role`` (replacing an earlier role); only admins may."""
    require_role(who, "admin", f"give {name!r} a role")
    name = name.strip()
    if not name:
        raise ValueError("user name: expected a non-empty name")
    if name == ADJUDICATED_ANNOTATOR or name.startswith(DATASET_ANNOTATOR_PREFIX):
        raise ValueError(f"user name {name!r} is reserved for adjudicated and dataset labels")
    if role not in ROLES:
        raise ValueError(f"role: expected one of {', '.join(ROLES)}, got {role!r}")
    values = {"role": role, "updated_at": utcnow(), "updated_by": who.name}
    with write_transaction(store.engine) as conn:
        changed = conn.execute(sa.update(users).where(users.c.name == name).values(**values))
        if changed.rowcount == 0:
            conn.execute(sa.insert(users).values(name=name, **values))


def role_of(store: Store, name: str) -> Role | None:
    """Return the role registered for ``name``, or None when ``name`` is not registered."""
    with store.engine.connect() as conn:
        role = conn.scalar(sa.select(users.c.role).where(users.c.name == name))
    return role  # type: ignore[return-value]


def list_users(store: Store) -> list[tuple[str, Role]]:
    """Return every registered (name, role), by name."""
    with store.engine.connect() as conn:
        rows = conn.execute(sa.select(users.c.name, users.c.role).order_by(users.c.name)).all()
    return [(name, role) for name, role in rows]


def remove_user(store: Store, who: Identity, name: str) -> bool:
    """Return whether ``name`` was registered, after removing its role; only admins may."""
    require_role(who, "admin", f"remove user {name!r}")
    with write_transaction(store.engine) as conn:
        return bool(conn.execute(sa.delete(users).where(users.c.name == name)).rowcount)


# --------------------------------------------------------------------------------- projects


def validate_project(project: Project) -> Project:
    """Return ``project`` with modes de-duplicated; raise ValueError naming a bad field."""
    if not project.dataset or not project.dataset.strip():
        raise ValueError("project dataset: expected a dataset name")
    modes = tuple(dict.fromkeys(project.modes))
    unknown = [m for m in modes if m not in MODES]
    if unknown or not modes:
        raise ValueError(
            f"project modes: expected one or more of {', '.join(MODES)}, got {list(project.modes)}"
        )
    if not isinstance(project.overlap, int) or project.overlap < 1:
        raise ValueError(f"project overlap: expected a whole number >= 1, got {project.overlap!r}")
    if not isinstance(project.lease_seconds, int) or project.lease_seconds < 1:
        raise ValueError(
            f"project lease_seconds: expected a whole number >= 1, got {project.lease_seconds!r}"
        )
    return replace(project, modes=modes, blind=bool(project.blind))


def save_project(store: Store, who: Identity, project: Project) -> Project:
    """Return ``project`` as stored, replacing the dataset's settings; only admins may."""
    require_role(who, "admin", f"change the labelling project of {project.dataset!r}")
    project = validate_project(project)
    values = {
        "modes": orjson.dumps(list(project.modes)).decode(),
        "overlap": project.overlap,
        "blind": project.blind,
        "lease_seconds": project.lease_seconds,
        "guidelines": project.guidelines or "",
        "updated_at": utcnow(),
        "updated_by": who.name,
    }
    with write_transaction(store.engine) as conn:
        where = projects.c.dataset == project.dataset
        if conn.execute(sa.update(projects).where(where).values(**values)).rowcount == 0:
            conn.execute(sa.insert(projects).values(dataset=project.dataset, **values))
    return replace(project, saved=True)


def get_project(store: Store, dataset: str) -> Project:
    """Return the labelling settings of ``dataset`` (the defaults when never saved)."""
    with store.engine.connect() as conn:
        return project_in(conn, dataset)


def project_in(conn: Connection, dataset: str) -> Project:
    """Return the settings of ``dataset`` read through ``conn`` (defaults when never saved)."""
    row = conn.execute(_PROJECT, {"dataset": dataset}).mappings().first()
    if row is None:
        return Project(dataset=dataset)
    return Project(
        dataset=dataset,
        modes=tuple(orjson.loads(row["modes"])),
        overlap=int(row["overlap"]),
        blind=bool(row["blind"]),
        lease_seconds=int(row["lease_seconds"]),
        guidelines=row["guidelines"] or "",
        saved=True,
    )


def list_projects(store: Store) -> list[Project]:
    """Return every saved project, by dataset."""
    with store.engine.connect() as conn:
        names = conn.scalars(sa.select(projects.c.dataset).order_by(projects.c.dataset)).all()
        return [project_in(conn, name) for name in names]
