"""The FastAPI application: routers under /v1, error handlers, rate-limit headers, health."""

from __future__ import annotations

import asyncio
import gc
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import JSONResponse, Response

from formcase import __version__
from formcase.attachments.endpoints import router as attachments_router
from formcase.auth.cache import TokenCache
from formcase.auth.gate import ApiGate
from formcase.auth.ratelimit import RateLimiter, RateLimitHeaders
from formcase.cases import repository as cases_repository
from formcase.cases.endpoints import router as cases_router
from formcase.config import Settings
from formcase.db.engine import Database
from formcase.db.migrate import current_revision, head_revision
from formcase.docintel.endpoints import router as docintel_router
from formcase.fill.endpoints import router as fill_router
from formcase.fill.page import STATIC_PATH, fill_static
from formcase.fill.page import router as fill_page_router
from formcase.forms import repository as forms_repository
from formcase.forms.endpoints import router as forms_router
from formcase.kit import openapi, tallies
from formcase.kit.bodies import BodyLimit
from formcase.kit.errors import error_response, install_error_handlers
from formcase.responses.endpoints import router as responses_router
from formcase.signatures.endpoints import router as signatures_router
from formcase.storage import make_storage
from formcase.templates.endpoints import router as templates_router
from formcase.webhooks.endpoints import keys_router as webhook_keys_router
from formcase.webhooks.endpoints import router as webhooks_router
from formcase.worker.runner import Worker
from formcase.workspaces.endpoints import router as workspaces_router

log = logging.getLogger("formcase.app")

# How long the background tasks get to stop (the worker hands back the jobs it holds): a
# process asked to stop must stop, even when the database no longer answers.
SHUTDOWN_SECONDS = 15.0
# The one /v1 path that needs no token.
OPENAPI_URL = "/v1/openapi.json"

DESCRIPTION = """formcase implements the Penbox Connect API v1: forms sent to contacts, form
templates, workspaces. Authenticate with `Authorization: Bearer pnbx_…`."""


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        database = Database(settings)
        app.state.database = database
        app.state.rate_limiter = RateLimiter(settings)
        app.state.storage = make_storage(settings)
        app.state.token_cache = None
        tasks = [
            asyncio.create_task(
                tallies.keep_compact(
                    database.sessionmaker,
                    settings.tally_compaction_seconds,
                    [forms_repository.compact_tallies, cases_repository.compact_tallies],
                )
            ),
        ]
        app.state.worker = None
        if settings.run_worker:  # jobs run in this process (`formcase serve --no-worker`: not)
            app.state.worker = Worker(database.sessionmaker, settings)
            tasks.append(asyncio.create_task(app.state.worker.run()))
        if database.is_postgresql:
            app.state.token_cache = TokenCache()
            tasks.append(
                asyncio.create_task(app.state.token_cache.listen(settings.resolved_database_url))
            )
        # What start-up made lives as long as the process: keep it out of every GC pass.
        gc.freeze()
        # Young collections when 20,000 more containers live, not 700: a page of 100 cases
        # keeps thousands alive until its response is made, and at 700 the collector kept
        # traversing the requests in flight, ~10 % of a server process's CPU under load
        # (docs/benchmarks.md). Garbage in cycles still goes within 20,000 containers.
        gc.set_threshold(20_000, *gc.get_threshold()[1:])
        yield
        if app.state.worker is not None:
            # Told as well as cancelled: on Python 3.11 `asyncio.wait_for` drops a cancellation
            # that meets a wake-up, and a worker that missed it would go on claiming jobs.
            app.state.worker.stop()
        await _stop_all(tasks)
        await app.state.storage.close()
        try:
            await asyncio.wait_for(database.dispose(), SHUTDOWN_SECONDS)
        except TimeoutError:
            log.warning("the database pools did not close within %g s", SHUTDOWN_SECONDS)

    app = FastAPI(
        title="formcase",
        version=__version__,
        description=DESCRIPTION,
        lifespan=lifespan,
        openapi_url=OPENAPI_URL,
        docs_url=None,  # served by kit.openapi, from local files
        redoc_url=None,
        generate_unique_id_function=openapi.operation_id,
    )
    app.state.settings = settings
    install_error_handlers(app)
    # Bodies are counted as routes read them, after the gate has authenticated the caller.
    app.add_middleware(BodyLimit, settings=settings)
    # The gate answers 401/429 before routing; RateLimitHeaders, outside it, puts the budget's
    # headers on every answer, the gate's own included.
    app.add_middleware(ApiGate, prefix="/v1", public=[OPENAPI_URL])
    app.add_middleware(RateLimitHeaders)

    v1 = APIRouter(prefix="/v1")
    v1.include_router(workspaces_router)
    v1.include_router(templates_router)
    v1.include_router(forms_router)
    v1.include_router(cases_router)
    v1.include_router(attachments_router)
    v1.include_router(responses_router)
    v1.include_router(signatures_router)
    v1.include_router(webhooks_router)
    v1.include_router(docintel_router)
    app.include_router(v1)
    app.include_router(webhook_keys_router)
    app.include_router(fill_router)
    app.include_router(fill_page_router)
    app.mount(STATIC_PATH, fill_static, name="fill-static")
    app.include_router(_health_router(settings))
    openapi.install(app)
    if settings.bench_floor:
        app.include_router(_floor_router())
    return app


async def _stop_all(tasks: list[asyncio.Task[None]]) -> None:
    """Cancel the background tasks and wait for them, at most SHUTDOWN_SECONDS."""
    for task in tasks:
        task.cancel()
    stopped, stuck = await asyncio.wait(tasks, timeout=SHUTDOWN_SECONDS)
    for task in stuck:
        log.warning("%s did not stop within %g s", task.get_coro(), SHUTDOWN_SECONDS)
    for task in stopped:
        if not task.cancelled() and (error := task.exception()) is not None:
            log.error("%s failed", task.get_coro(), exc_info=error)


def _health_router(settings: Settings) -> APIRouter:
    router = APIRouter(include_in_schema=False)

    @router.get("/healthz")
    async def healthz() -> dict[str, str]:
        """The process is up."""
        return {"status": "ok"}

    @router.get("/readyz")
    async def readyz(request: Request) -> JSONResponse:
        """Ready to serve: the database answers and is migrated; the rate-limit store answers."""
        checks: dict[str, str] = {}
        try:
            revision = await current_revision(request.app.state.database.read_engine)
            expected = head_revision()
            checks["database"] = (
                "ok" if revision == expected else f"at migration {revision}, expected {expected}"
            )
        except Exception as exc:
            checks["database"] = f"unreachable: {type(exc).__name__}"
        try:
            reachable = await request.app.state.rate_limiter.check_storage()
            checks["rate_limit_store"] = "ok" if reachable else "unreachable"
        except Exception as exc:
            checks["rate_limit_store"] = f"unreachable: {type(exc).__name__}"
        if all(value == "ok" for value in checks.values()):
            return JSONResponse({"status": "ok", "checks": checks})
        response = error_response(
            503,
            "Not ready: "
            + "; ".join(f"{name} {value}" for name, value in checks.items() if value != "ok"),
        )
        return response

    return router


def _floor_router() -> APIRouter:
    """For bench/forms.py only: the same stack answering pre-serialised bytes, no database."""
    router = APIRouter(include_in_schema=False)
    cache: dict[int, bytes] = {}

    @router.get("/bench/floor")
    async def floor(size: int = 2048) -> Response:
        body = cache.get(size)
        if body is None:
            body = cache[size] = b'{"pad":"' + b"x" * max(0, size - 10) + b'"}'
        return Response(body, media_type="application/json")

    return router
