"""schemathesis against the app with every check, on SQLite and on PostgreSQL: each answer's
status, headers and body are those the OpenAPI document lists, schema-valid requests are
accepted and invalid ones refused. Bounded (a few examples per operation) to stay a test."""

from __future__ import annotations

import asyncio
import secrets
from typing import Any

import schemathesis
import schemathesis.engine
from schemathesis.engine import Status, events
from schemathesis.python.asgi import shutdown_lifespans

from formcase.app import create_app
from formcase.auth import service as tokens
from formcase.config import Settings
from formcase.db.engine import Database
from formcase.templates import service as templates
from formcase.workspaces import service as workspaces
from tests.conftest import DEMO_TEMPLATES

MAX_EXAMPLES = 10


async def _tenant(config: Settings) -> str:
    """A workspace with a member and the demo templates; the secret of a token for it."""
    database = Database(config)
    try:
        async with database.sessionmaker() as session:
            slug = f"fuzz-{secrets.token_hex(4)}"
            workspace = await workspaces.create(session, slug, "Fuzzed")
            await workspaces.add_member(session, workspace, f"owner@{slug}.example")
            for path in sorted(DEMO_TEMPLATES.glob("*.yaml")):
                await templates.publish(session, slug, templates.read_file(path))
            _, secret = await tokens.create_token(session, "fuzz", [slug])
            return secret
    finally:
        await database.dispose()


def _described(recorder: Any, case_id: str, check: Any) -> str:
    """A failure as a person reads it: the check, the operation, what formcase answered,
    and the request to reproduce it."""
    case = recorder.cases[case_id].value
    interaction = recorder.interactions.get(case_id)
    answer = ""
    if interaction is not None and interaction.response is not None:
        response = interaction.response
        answer = f"{response.status_code} {response.content[:300]!r}"
    failure = check.failure_info.failure
    return (
        f"{check.name} on {case.operation.label}: {failure.title}: {answer}\n"
        f"{failure.message}\n{check.failure_info.code_sample}"
    )


def fuzz(config: Settings, token: str) -> tuple[list[str], int]:
    """One bounded schemathesis run, every check and every phase (examples, coverage,
    fuzzing, stateful), as `schemathesis run --checks all` would make it; the failures found,
    each with the request that shows it, and how many scenarios ran."""
    schema = schemathesis.openapi.from_asgi("/v1/openapi.json", create_app(config))
    schema.config.update(headers={"Authorization": f"Bearer {token}"}, continue_on_failure=True)
    schema.config.checks.update(included_check_names=["all"])
    schema.config.generation.update(max_examples=MAX_EXAMPLES, deterministic=True)
    failures: list[str] = []
    scenarios = 0
    try:
        for event in schemathesis.engine.from_schema(schema).execute():
            if isinstance(event, events.ScenarioFinished):
                scenarios += 1
                for case_id, checks in event.recorder.checks.items():
                    for check in checks:
                        if check.status is Status.FAILURE and check.failure_info is not None:
                            failures.append(_described(event.recorder, case_id, check))
                        elif check.status is Status.ERROR:
                            failures.append(f"{check.name} crashed on {case_id}")
            elif isinstance(event, events.NonFatalError | events.FatalError):
                failures.append(f"error: {event}")
    finally:
        shutdown_lifespans()
    return sorted(set(failures)), scenarios


def test_the_api_is_what_its_description_says(settings: Settings) -> None:
    # No rate limits (the fuzzer sends far more than 100 requests a minute) and no worker
    # (what it would deliver is not under test here).
    config = settings.model_copy(
        update={"rate_limit_token": "", "rate_limit_client": "", "run_worker": False}
    )
    failures, scenarios = fuzz(config, asyncio.run(_tenant(config)))
    assert scenarios > 100
    assert not failures, f"{len(failures)} failures:\n\n" + "\n\n".join(failures)
