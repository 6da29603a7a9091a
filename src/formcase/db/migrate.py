"""Alembic, driven from code: `formcase db upgrade` and the start-up check use this.

Whether a database is migrated is answered without importing Alembic, which is a good part of
a CLI command's start-up: the head is read from the revision files' `revision` and
`down_revision` lines, the database's revision from Alembic's version table
(tests/test_migrate.py holds both to Alembic's own answers)."""

from __future__ import annotations

import ast
import functools
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING

from sqlalchemy import inspect, text
from sqlalchemy.ext.asyncio import AsyncEngine

from formcase.config import Settings

if TYPE_CHECKING:
    from alembic.config import Config

MIGRATIONS = Path(__file__).with_name("migrations")
VERSION_TABLE = "alembic_version"  # Alembic's default
REVISION_NAMES = frozenset({"revision", "down_revision"})


def alembic_config(settings: Settings) -> Config:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["settings"] = settings
    return config


def upgrade(settings: Settings, revision: str = "head") -> None:
    from alembic import command

    command.upgrade(alembic_config(settings), revision)


@functools.cache
def head_revision() -> str | None:
    """The revision no other builds on (None without any); several heads are an error, as
    they are to Alembic."""
    down: dict[str, tuple[str, ...]] = {}
    for path in (MIGRATIONS / "versions").glob("*.py"):
        values: dict[str, object] = {}
        for node in ast.parse(path.read_text(encoding="utf-8")).body:
            target: ast.expr | None = None
            if isinstance(node, ast.AnnAssign):
                target = node.target
            elif isinstance(node, ast.Assign) and len(node.targets) == 1:
                target = node.targets[0]
            value = getattr(node, "value", None)
            if isinstance(target, ast.Name) and target.id in REVISION_NAMES and value:
                values[target.id] = ast.literal_eval(value)
        revision, previous = values.get("revision"), values.get("down_revision")
        if not isinstance(revision, str):
            continue
        # down_revision: None, one revision, or a merge's tuple of them
        if isinstance(previous, str):
            down[revision] = (previous,)
        elif isinstance(previous, tuple | list):
            down[revision] = tuple(str(parent) for parent in previous)
        else:
            down[revision] = ()
    heads = set(down) - {parent for parents in down.values() for parent in parents}
    if len(heads) > 1:
        raise RuntimeError(f"the migrations have several heads: {sorted(heads)}")
    return heads.pop() if heads else None


def migration(settings: Settings, revision: str) -> ModuleType:
    """A migration's module, as Alembic loads it (for what reuses its statements: the bench's
    seeding, the tests that hold a back-fill to what the server writes)."""
    from alembic.script import ScriptDirectory

    script = ScriptDirectory.from_config(alembic_config(settings)).get_revision(revision)
    assert script is not None and script.module is not None
    return script.module


async def current_revision(engine: AsyncEngine) -> str | None:
    """The database's revision (None before the first migration)."""
    async with engine.connect() as connection:
        if not await connection.run_sync(lambda sync: inspect(sync).has_table(VERSION_TABLE)):
            return None
        rows = (await connection.execute(text(f"SELECT version_num FROM {VERSION_TABLE}"))).all()
    return str(rows[0][0]) if len(rows) == 1 else None
