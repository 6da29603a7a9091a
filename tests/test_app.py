"""What every endpoint shares: OpenAPI, docs, health, JSON errors for unknown routes."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import Any

import httpx
import pytest

from formcase import app as app_module
from formcase.app import create_app
from formcase.config import Settings
from formcase.kit import tallies
from formcase.worker.runner import Worker
from tests.helpers import Tenant, assert_error


async def test_openapi_describes_the_api(client: httpx.AsyncClient) -> None:
    response = await client.get("/v1/openapi.json")
    assert response.status_code == 200
    spec = response.json()
    assert spec["openapi"].startswith("3.1")
    for path in (
        "/v1/forms",
        "/v1/forms/{form_id}",
        "/v1/forms/count",
        "/v1/form_templates",
        "/v1/form_templates/{slug}/steps",
        "/v1/workspaces",
        "/v1/companies",
    ):
        assert path in spec["paths"], path
    form = spec["components"]["schemas"]["FormOut"]
    assert {"links", "responses", "notifications", "external_args"} <= set(form["properties"])
    parameters = {p["name"] for p in spec["paths"]["/v1/forms"]["get"]["parameters"]}
    assert {
        "page[number]",
        "page[size]",
        "flow[slug]",
        "user[email]",
        "filter",
        "sort",
    } <= parameters
    # Client generators name methods after operation ids: each must be unique.
    operation_ids = [op["operationId"] for path in spec["paths"].values() for op in path.values()]
    assert len(operation_ids) == len(set(operation_ids))
    assert "/v1/document_intelligence/{job_id}" in spec["paths"]
    docs = await client.get("/docs")
    assert docs.status_code == 200 and "swagger" in docs.text.lower()


async def test_health(client: httpx.AsyncClient) -> None:
    assert (await client.get("/healthz")).json() == {"status": "ok"}
    ready = await client.get("/readyz")
    assert ready.status_code == 200
    assert ready.json()["checks"] == {"database": "ok", "rate_limit_store": "ok"}


async def test_unknown_routes_and_methods_are_json(
    client: httpx.AsyncClient, tenant: Tenant
) -> None:
    assert_error(await client.get("/v1/nothing", headers=tenant.headers), 404, "No such endpoint")
    assert_error(await client.delete("/v1/forms", headers=tenant.headers), 405)


async def test_readyz_says_what_is_not_ready(tmp_path: Path) -> None:
    app = create_app(Settings(data_dir=tmp_path, database_url=None))  # never migrated
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            ready = await client.get("/readyz")
            assert_error(ready, 503, "database at migration None")
            assert (await client.get("/healthz")).status_code == 200


async def test_a_background_task_that_will_not_stop_does_not_keep_the_app_from_stopping(
    settings: Settings, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """Shutdown cancels the background tasks and waits for them a bounded time: a task stuck
    in its clean-up (say, on a database that no longer answers) is logged, not waited for."""
    released = asyncio.Event()

    async def stubborn(*_: Any) -> None:
        try:
            await asyncio.sleep(3600)
        except asyncio.CancelledError:
            await released.wait()  # ignores the cancellation until the test lets it go

    monkeypatch.setattr(tallies, "keep_compact", stubborn)
    monkeypatch.setattr(app_module, "SHUTDOWN_SECONDS", 0.5)
    app = create_app(settings)

    async def start_and_stop() -> None:
        async with app.router.lifespan_context(app):
            await asyncio.sleep(0)

    try:
        with caplog.at_level(logging.WARNING, logger="formcase.app"):
            # The guard only turns a hang into a failure: shutdown waits 0.5 s here.
            await asyncio.wait_for(start_and_stop(), 60)
    finally:
        released.set()
    assert "stubborn" in caplog.text and "did not stop within 0.5 s" in caplog.text


async def test_the_worker_stops_even_when_a_cancellation_misses_it(
    settings: Settings, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """On Python 3.11 `asyncio.wait_for` drops a cancellation that arrives as the event it
    waits for fires; a worker that missed its cancellation went on claiming jobs after its
    app had stopped. The app tells its worker to stop, so that does not depend on the
    cancellation."""
    ended: list[bool] = []

    class MissesOneCancellation(Worker):
        async def run(self, shutdown_grace: float = 10.0) -> None:
            missed = False
            while not self._stopping:
                try:
                    await asyncio.sleep(0.01)
                except asyncio.CancelledError:
                    if missed:
                        raise
                    missed = True
            ended.append(missed)

    monkeypatch.setattr(app_module, "Worker", MissesOneCancellation)
    monkeypatch.setattr(app_module, "SHUTDOWN_SECONDS", 0.5)
    app = create_app(settings)
    with caplog.at_level(logging.WARNING, logger="formcase.app"):
        async with app.router.lifespan_context(app):
            await asyncio.sleep(0.05)
    assert ended, "the worker was still running after its app stopped"
    assert "did not stop" not in caplog.text
