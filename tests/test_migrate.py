"""The migrated-or-not check reads the head from the revision files and the database's revision
from Alembic's table without importing Alembic (for the CLI's start-up): both agree with what
Alembic itself says, on each database."""

from __future__ import annotations

import asyncio
from pathlib import Path

from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory

from formcase.config import Settings
from formcase.db.connect import make_engine
from formcase.db.migrate import alembic_config, current_revision, head_revision, upgrade


def test_the_head_is_alembics(settings: Settings) -> None:
    alembic_head = ScriptDirectory.from_config(alembic_config(settings)).get_current_head()
    assert head_revision() == alembic_head is not None


async def test_the_current_revision_is_alembics(settings: Settings) -> None:
    engine = make_engine(settings)
    try:
        async with engine.connect() as connection:
            alembics = await connection.run_sync(
                lambda sync: MigrationContext.configure(sync).get_current_revision()
            )
        assert await current_revision(engine) == alembics == head_revision()
    finally:
        await engine.dispose()


def test_an_empty_and_a_half_migrated_database(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, database_url=None, redis_url=None)

    async def revision() -> str | None:
        engine = make_engine(settings)
        try:
            return await current_revision(engine)
        finally:
            await engine.dispose()

    assert asyncio.run(revision()) is None
    upgrade(settings, "0003")  # Alembic runs its own event loop
    assert asyncio.run(revision()) == "0003" != head_revision()
