"""Alembic, driven from code: `formcase db upgrade` and the start-up check use this."""

from __future__ import annotations

from pathlib import Path
from types import ModuleType

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.ext.asyncio import AsyncEngine

from formcase.config import Settings

MIGRATIONS = Path(__file__).with_name("migrations")


def alembic_config(settings: Settings) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["settings"] = settings
    return config


def upgrade(settings: Settings, revision: str = "head") -> None:
    command.upgrade(alembic_config(settings), revision)


def head_revision(settings: Settings) -> str | None:
    return ScriptDirectory.from_config(alembic_config(settings)).get_current_head()


def migration(settings: Settings, revision: str) -> ModuleType:
    """A migration's module, as Alembic loads it (for what reuses its statements: the bench's
    seeding, the tests that hold a back-fill to what the server writes)."""
    script = ScriptDirectory.from_config(alembic_config(settings)).get_revision(revision)
    assert script is not None and script.module is not None
    return script.module


async def current_revision(engine: AsyncEngine) -> str | None:
    async with engine.connect() as connection:
        return await connection.run_sync(
            lambda sync: MigrationContext.configure(sync).get_current_revision()
        )
