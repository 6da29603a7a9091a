"""Fixtures: the app on SQLite and on PostgreSQL, and a fresh workspace + token per test.

Every API test runs twice, once per database. Tests never share a workspace, so they need no
clean-up between them: what a token can see is only its own workspace's data.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any, NoReturn

import asyncpg
import httpx
import pytest
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from formcase.app import create_app
from formcase.auth import service as tokens
from formcase.config import Settings
from formcase.db.migrate import upgrade
from formcase.forms.models import Form
from formcase.templates import service as templates
from formcase.workspaces import service as workspaces
from tests.helpers import Tenant

DEMO_TEMPLATES = Path(__file__).parents[1] / "src" / "formcase" / "demo"
PG_URL = os.environ.get("FORMCASE_TEST_DATABASE_URL")
# CI systems set CI=true; there a run that cannot reach PostgreSQL or Redis fails instead of
# skipping half of the suite and passing.
IN_CI = os.environ.get("CI", "").lower() not in ("", "0", "false", "no")


def unavailable(reason: str) -> NoReturn:
    """A service the tests need is missing: skipped on a developer's machine, failed in CI."""
    if IN_CI:
        pytest.fail(f"{reason} (CI is set: nothing may be skipped)", pytrace=False)
    pytest.skip(reason)


async def _pg_admin_connection(url: str) -> asyncpg.Connection:
    """A connection to the server of the given URL, for CREATE/DROP DATABASE: to the URL's own
    database, or to the server's `postgres` database when that one does not exist (the tests
    need a server, not a particular database)."""
    dsn = url.replace("postgresql+asyncpg://", "postgresql://")
    try:
        return await asyncpg.connect(dsn, timeout=5)
    except asyncpg.InvalidCatalogNameError:
        return await asyncpg.connect(dsn.rsplit("/", 1)[0] + "/postgres", timeout=5)


def _create_pg_database(url: str) -> str:
    """A new, empty database on the given URL's server; returns its SQLAlchemy URL."""
    name = f"formcase_test_{os.getpid()}_{secrets.token_hex(3)}"

    async def create() -> None:
        connection = await _pg_admin_connection(url)
        try:
            await connection.execute(f'CREATE DATABASE "{name}"')
        finally:
            await connection.close()

    asyncio.run(create())
    return url.rsplit("/", 1)[0] + "/" + name


def _drop_pg_database(admin_url: str, url: str) -> None:
    name = url.rsplit("/", 1)[1]

    async def drop() -> None:
        connection = await _pg_admin_connection(admin_url)
        try:
            await connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await connection.close()

    asyncio.run(drop())


def pg_database() -> str:
    """A fresh database on FORMCASE_TEST_DATABASE_URL's server (drop it with
    `_drop_pg_database(PG_URL, url)`); skips or, in CI, fails when there is none."""
    if not PG_URL:
        unavailable("PostgreSQL runs skipped: FORMCASE_TEST_DATABASE_URL is not set")
    try:
        return _create_pg_database(PG_URL)
    except (OSError, asyncpg.PostgresError) as exc:
        unavailable(f"PostgreSQL runs skipped: cannot use {PG_URL} ({exc!r})")


@pytest.fixture(scope="session", params=["sqlite", "postgresql"])
def settings(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Settings]:
    """Settings of a migrated database of each kind."""
    data_dir = tmp_path_factory.mktemp(request.param)
    if request.param == "sqlite":
        settings = Settings(data_dir=data_dir, database_url=None, redis_url=None)
        upgrade(settings)
        yield settings
        return
    url = pg_database()
    settings = Settings(data_dir=data_dir, database_url=url, redis_url=None)
    upgrade(settings)
    yield settings
    _drop_pg_database(PG_URL or url, url)


@pytest.fixture(scope="session")
async def app(settings: Settings) -> AsyncIterator[Any]:
    application = create_app(settings)
    async with application.router.lifespan_context(application):
        yield application


@pytest.fixture(scope="session")
def sessionmaker(app: Any) -> async_sessionmaker[AsyncSession]:
    maker: async_sessionmaker[AsyncSession] = app.state.database.sessionmaker
    return maker


@pytest.fixture
async def client(app: Any) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://formcase.test") as c:
        yield c


MakeTenant = Callable[..., Awaitable[Tenant]]


@pytest.fixture
def make_tenant(sessionmaker: async_sessionmaker[AsyncSession]) -> MakeTenant:
    async def make(template_files: list[Path] | None = None, with_token: bool = True) -> Tenant:
        slug = f"ws-{secrets.token_hex(4)}"
        async with sessionmaker() as session:
            workspace = await workspaces.create(session, slug, f"Workspace {slug}")
            member = await workspaces.add_member(session, workspace, f"owner@{slug}.example")
            for path in template_files or sorted(DEMO_TEMPLATES.glob("*.yaml")):
                await templates.publish(session, slug, templates.read_file(path))
            secret = ""
            if with_token:
                _, secret = await tokens.create_token(session, "test", [slug])
            return Tenant(workspace.id, slug, secret, member.email)

    return make


Grant = Callable[..., Awaitable[dict[str, str]]]


@pytest.fixture
def grant(sessionmaker: async_sessionmaker[AsyncSession]) -> Grant:
    """Headers of a new token granting the given workspace slugs."""

    async def make(*slugs: str) -> dict[str, str]:
        async with sessionmaker() as session:
            _, secret = await tokens.create_token(session, "test", list(slugs))
        return {"Authorization": f"Bearer {secret}"}

    return make


@pytest.fixture
async def tenant(make_tenant: MakeTenant) -> Tenant:
    return await make_tenant()


@pytest.fixture
def force_status(
    sessionmaker: async_sessionmaker[AsyncSession],
) -> Callable[[str, str], Awaitable[None]]:
    """Put a form in a status directly (quicker than filling it through the fill API)."""

    async def force(form_id: str, status: str) -> None:
        async with sessionmaker() as session:
            await session.execute(
                update(Form).where(Form.id == uuid.UUID(form_id)).values(status=status)
            )
            await session.commit()

    return force
