"""The demo `make serve` creates on a new database: a workspace, two templates, a token."""

from __future__ import annotations

import json
import os
import shlex
import sys
from pathlib import Path

from sqlalchemy.ext.asyncio import AsyncSession

from formcase.auth import service as tokens
from formcase.config import Settings
from formcase.templates import service as templates
from formcase.workspaces import repository as workspace_repository
from formcase.workspaces import service as workspaces

HERE = Path(__file__).parent
WORKSPACE = "demo"
OWNER = "owner@demo.example"


def _command() -> str:
    """How the user ran formcase (`.venv/bin/formcase` from `make serve`), to say it back."""
    invoked = Path(sys.argv[0])
    if invoked.name == "formcase" and invoked.is_file():
        return os.path.relpath(invoked)
    return "formcase"


async def seed(session: AsyncSession, settings: Settings) -> str:
    """Seed an empty database and say how to try it; leave a used one alone."""
    command = _command()
    if await workspace_repository.count(session):
        return (
            "formcase: the database already has workspaces; no demo created.\n"
            f"  A new token: {command} token create --workspace {WORKSPACE} --name me"
        )
    workspace = await workspaces.create(
        session, WORKSPACE, "Demo workspace", secret_key=settings.resolved_secret_key
    )
    await workspaces.add_member(session, workspace, OWNER, "Demo", "Owner")
    for path in sorted(HERE.glob("*.yaml")):
        await templates.publish(session, WORKSPACE, templates.read_file(path))
    _, secret = await tokens.create_token(session, "demo", [WORKSPACE])
    body = {
        "flow": {"slug": "contact-details"},
        "user": {"email": "jane@example.com", "given_name": "Jane", "family_name": "Doe"},
        "owner": {"email": OWNER},
        "external_args": {"crm_id": "42"},
    }
    curl = (
        f"curl -s -X POST {settings.public_url}/v1/forms \\\n"
        f"    -H 'Authorization: Bearer {secret}' \\\n"
        "    -H 'Content-Type: application/json' \\\n"
        f"    -d {shlex.quote(json.dumps(body))}"
    )
    return (
        "\n"
        "formcase demo ready: workspace 'demo', templates contact-details and "
        "client-onboarding.\n"
        f"  API token (shown once; keep it): {secret}\n"
        "  Create a form:\n"
        f"  {curl}\n"
        f"  API docs: {settings.public_url}/docs\n"
    )
