from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from formcase.cases import templates
from tests.conftest import MakeTenant
from tests.helpers import Tenant

HERE = Path(__file__).parent


@pytest.fixture
async def claims(make_tenant: MakeTenant, sessionmaker: async_sessionmaker[AsyncSession]) -> Tenant:
    """A workspace with the `claim` case template and the form template of its form step."""
    tenant = await make_tenant(template_files=[HERE / "claim-details.yaml"])
    async with sessionmaker() as session:
        await templates.import_template(
            session, tenant.slug, templates.read_file(HERE / "claim.yaml")
        )
    return tenant
