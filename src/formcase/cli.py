"""The `formcase` command: serve, migrate, and manage workspaces, tokens and templates."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import uuid
from collections.abc import Awaitable, Callable
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer

# Only typer at start-up: each command imports what it uses, so that `--help` and the light
# commands do not load the web app, PDF or OCR libraries (tests/test_cli_imports.py).
if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

    from formcase.attachments.service import Sweep
    from formcase.workspaces.models import WorkspaceCertificate

app = typer.Typer(
    help="formcase: a self-hostable Penbox Connect API v1 server.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
db_app = typer.Typer(help="Database migrations.", no_args_is_help=True)
workspace_app = typer.Typer(help="Workspaces and their members.", no_args_is_help=True)
token_app = typer.Typer(help="API tokens (pnbx_…).", no_args_is_help=True)
template_app = typer.Typer(help="Form templates.", no_args_is_help=True)
case_template_app = typer.Typer(help="Case templates.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(workspace_app, name="workspace")
app.add_typer(token_app, name="token")
app.add_typer(template_app, name="template")
app.add_typer(case_template_app, name="case-template")
storage_app = typer.Typer(help="Stored files.", no_args_is_help=True)
app.add_typer(storage_app, name="storage")

T = TypeVar("T")


def _run(work: Callable[[AsyncSession], Awaitable[T]]) -> T:
    """Run `work` in a session on the configured database; API errors become exit code 1."""
    from formcase.config import Settings
    from formcase.db.connect import make_engine, make_sessionmaker
    from formcase.db.migrate import current_revision, head_revision
    from formcase.kit.errors import APIError

    settings = Settings()

    async def main() -> T:
        engine = make_engine(settings)
        try:
            if await current_revision(engine) != head_revision():
                raise APIError("the database is not migrated; run `formcase db upgrade` first.")
            async with make_sessionmaker(engine)() as session:
                return await work(session)
        finally:
            await engine.dispose()

    try:
        return asyncio.run(main())
    except APIError as exc:
        typer.echo(f"error: {exc.message}", err=True)
        raise typer.Exit(1) from None


def _print_json(value: Any) -> None:
    typer.echo(json.dumps(value, indent=2, default=str))


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Apply every migration the database does not have yet."""
    from formcase.config import Settings
    from formcase.db.migrate import head_revision, upgrade

    settings = Settings()
    upgrade(settings)
    typer.echo(f"database at migration {head_revision()}")


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="address to listen on")] = None,
    port: Annotated[int | None, typer.Option(help="port to listen on")] = None,
    workers: Annotated[int | None, typer.Option(help="server processes")] = None,
    worker: Annotated[
        bool, typer.Option(help="run jobs (webhooks, notifications) in each server process")
    ] = True,
) -> None:
    """Start the HTTP server (and, unless --no-worker, a job worker in each process)."""
    import uvicorn

    from formcase import connections, serving
    from formcase.config import Settings
    from formcase.db.connect import make_engine
    from formcase.db.migrate import current_revision, head_revision

    if not worker:  # the app factory reads its settings from the environment
        os.environ["FORMCASE_RUN_WORKER"] = "false"
    settings = Settings()

    async def revision() -> str | None:
        engine = make_engine(settings)
        try:
            return await current_revision(engine)
        finally:
            await engine.dispose()

    if asyncio.run(revision()) != head_revision():
        typer.echo(
            "error: the database is not migrated; run `formcase db upgrade` first.", err=True
        )
        raise typer.Exit(1)
    processes = workers or settings.workers
    with contextlib.ExitStack() as stack:
        if processes > 1:  # the processes share new connections out evenly (serving.py)
            os.environ[serving.TABLE_ENV] = str(
                stack.enter_context(serving.shared_table(processes))
            )
        uvicorn.run(
            "formcase.app:create_app",
            factory=True,
            host=host or settings.host,
            port=port or settings.port,
            workers=processes,
            loop=serving.LOOP_FACTORY,  # caps connections, balances them between processes
            http=connections.PROTOCOL,  # bounds headers and the time to send them
            proxy_headers=True,
            log_level="info",
            # A server process still importing on a busy machine is not dead: with uvicorn's
            # 5 s it was killed and started again, over and over, and `--workers 2` never came
            # up.
            timeout_worker_healthcheck=60,
        )


@app.command("worker")
def worker_command(
    concurrency: Annotated[
        int | None, typer.Option(min=1, help="jobs run at once (default: worker_concurrency)")
    ] = None,
) -> None:
    """Run jobs (webhook deliveries, notifications) until SIGTERM or SIGINT."""
    import logging
    import signal

    from formcase.config import Settings
    from formcase.db.connect import make_engine, make_sessionmaker
    from formcase.db.migrate import current_revision, head_revision
    from formcase.kit.errors import APIError
    from formcase.worker.runner import Worker

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    # httpx logs every webhook call at INFO: noise next to the deliveries' own records
    logging.getLogger("httpx").setLevel(logging.WARNING)
    settings = Settings()

    async def main() -> None:
        engine = make_engine(settings)
        try:
            if await current_revision(engine) != head_revision():
                raise APIError("the database is not migrated; run `formcase db upgrade` first.")
            runner = Worker(make_sessionmaker(engine), settings, concurrency=concurrency)
            loop = asyncio.get_running_loop()
            for signum in (signal.SIGTERM, signal.SIGINT):
                loop.add_signal_handler(signum, runner.stop)
            await runner.run()
        finally:
            await engine.dispose()

    try:
        asyncio.run(main())
    except APIError as exc:
        typer.echo(f"error: {exc.message}", err=True)
        raise typer.Exit(1) from None


@workspace_app.command("create")
def workspace_create(slug: str, name: Annotated[str, typer.Option(help="display name")]) -> None:
    """Create a workspace; prints it as JSON."""
    from formcase.config import Settings
    from formcase.kit.time import isoformat_z
    from formcase.workspaces import service as workspaces

    secret_key = Settings().resolved_secret_key

    async def work(session: AsyncSession) -> None:
        workspace = await workspaces.create(session, slug, name, secret_key=secret_key)
        _print_json(
            {
                "id": str(workspace.id),
                "slug": workspace.slug,
                "name": workspace.name,
                "created_at": isoformat_z(workspace.created_at),
            }
        )

    _run(work)


@workspace_app.command("certificate")
def workspace_certificate(
    slug: str,
    import_file: Annotated[
        Path | None,
        typer.Option("--import", help="replace it by your own PKCS#12 (.p12 / .pfx) file"),
    ] = None,
    password_file: Annotated[
        Path | None, typer.Option(help="file holding the PKCS#12 password")
    ] = None,
    password: Annotated[
        str | None, typer.Option(help="the PKCS#12 password (visible to ps: prefer a file)")
    ] = None,
    export_pem: Annotated[
        Path | None, typer.Option(help="write the public certificate (PEM) here, for verifiers")
    ] = None,
) -> None:
    """The certificate a workspace seals its PDFs with: show, import your own, export."""
    from formcase.config import Settings
    from formcase.kit.time import isoformat_z
    from formcase.workspaces import certificates
    from formcase.workspaces import service as workspaces

    if password is not None and password_file is not None:
        typer.echo("error: give --password or --password-file, not both", err=True)
        raise typer.Exit(1)
    if import_file is None and (password is not None or password_file is not None):
        typer.echo("error: a password goes with --import FILE", err=True)
        raise typer.Exit(1)
    secret: bytes | None = password.encode() if password is not None else None
    data = b""
    try:
        if password_file is not None:
            secret = password_file.read_bytes().rstrip(b"\r\n")
        if import_file is not None:
            data = import_file.read_bytes()
    except OSError as exc:
        typer.echo(f"error: cannot read {exc.filename}: {exc.strerror}", err=True)
        raise typer.Exit(1) from None
    settings = Settings()

    async def work(session: AsyncSession) -> WorkspaceCertificate:
        workspace = await workspaces.get_by_slug(session, slug)
        if import_file is not None:
            return await certificates.import_pkcs12(session, workspace, data, secret, settings)
        row = await certificates.certificate_of(session, workspace.id, settings)
        await session.commit()
        return row

    row = _run(work)
    if export_pem is not None:
        try:
            export_pem.write_text(row.certificate_pem)
        except OSError as exc:
            typer.echo(f"error: cannot write {exc.filename}: {exc.strerror}", err=True)
            raise typer.Exit(1) from None
    _print_json(
        {
            "workspace": slug,
            "subject": row.subject,
            "fingerprint_sha256": row.fingerprint_sha256,
            "not_after": isoformat_z(row.not_after),
            "source": row.source,
            **({"exported_to": str(export_pem)} if export_pem is not None else {}),
        }
    )


@workspace_app.command("add-member")
def workspace_add_member(
    email: str,
    workspace: Annotated[str, typer.Option(help="workspace slug")],
    given_name: Annotated[str | None, typer.Option()] = None,
    family_name: Annotated[str | None, typer.Option()] = None,
) -> None:
    """Add a member (a possible owner of forms) to a workspace."""
    from formcase.workspaces import service as workspaces

    async def work(session: AsyncSession) -> None:
        found = await workspaces.get_by_slug(session, workspace)
        member = await workspaces.add_member(session, found, email, given_name, family_name)
        _print_json({"id": str(member.id), "email": member.email, "workspace": workspace})

    _run(work)


@token_app.command("create")
def token_create(
    workspace: Annotated[list[str], typer.Option(help="workspace slug; repeat for several")],
    name: Annotated[str, typer.Option(help="what the token is for")],
) -> None:
    """Create a token; the secret is printed once, alone on the last line."""
    from formcase.auth import service as tokens

    async def work(session: AsyncSession) -> str:
        token, secret = await tokens.create_token(session, name, workspace)
        typer.echo(f"token {token.id} '{token.name}' for {', '.join(workspace)}:")
        return secret

    typer.echo(_run(work))


@token_app.command("list")
def token_list() -> None:
    """Every token: id, name, hint, workspaces, created, last used, revoked."""
    from formcase.auth import service as tokens
    from formcase.kit.time import isoformat_z

    async def work(session: AsyncSession) -> None:
        rows = await tokens.list_tokens(session)
        _print_json(
            [
                {
                    "id": str(token.id),
                    "name": token.name,
                    "hint": token.hint + "…",
                    "workspaces": slugs,
                    "created_at": isoformat_z(token.created_at),
                    "last_used_at": token.last_used_at and isoformat_z(token.last_used_at),
                    "revoked_at": token.revoked_at and isoformat_z(token.revoked_at),
                }
                for token, slugs in rows
            ]
        )

    _run(work)


@token_app.command("revoke")
def token_revoke(token_id: str) -> None:
    """Revoke a token: it stops working at once."""
    from formcase.auth import service as tokens

    try:
        parsed = uuid.UUID(token_id)
    except ValueError:
        typer.echo(f"error: '{token_id}' is not a token id (see `formcase token list`)", err=True)
        raise typer.Exit(1) from None

    async def work(session: AsyncSession) -> None:
        token = await tokens.revoke_token(session, parsed)
        typer.echo(f"token {token.id} '{token.name}' revoked")

    _run(work)


@template_app.command("import")
def template_import(
    file: Annotated[Path, typer.Argument(help="template file, JSON or YAML")],
    workspace: Annotated[str, typer.Option(help="workspace slug")],
) -> None:
    """Publish a template file: a new slug is version 1, a changed one the next version."""
    from formcase.kit import definitions
    from formcase.templates import service as templates

    try:
        definition = templates.read_file(file)
    except definitions.DefinitionError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from None

    async def work(session: AsyncSession) -> None:
        template, version, changed = await templates.publish(session, workspace, definition)
        state = "published" if changed else "unchanged, still"
        typer.echo(f"template '{template.slug}' in '{workspace}': {state} version {version}")

    _run(work)


@case_template_app.command("import")
def case_template_import(
    file: Annotated[Path, typer.Argument(help="case template file, JSON or YAML")],
    workspace: Annotated[str, typer.Option(help="workspace slug")],
) -> None:
    """Add a case template, or replace the one with its slug (cases keep their copy)."""
    from formcase.cases import templates as case_templates
    from formcase.kit import definitions

    try:
        definition = case_templates.read_file(file)
    except definitions.DefinitionError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from None

    async def work(session: AsyncSession) -> None:
        template, state = await case_templates.import_template(session, workspace, definition)
        typer.echo(f"case template '{template.slug}' in '{workspace}': {state} ({template.id})")

    _run(work)


@template_app.command("list")
def template_list(workspace: Annotated[str, typer.Option(help="workspace slug")]) -> None:
    """The templates of a workspace, as JSON."""
    from formcase.kit.time import isoformat_z
    from formcase.templates import service as templates

    async def work(session: AsyncSession) -> None:
        rows = await templates.in_workspace(session, workspace)
        _print_json(
            [
                {
                    "id": str(t.id),
                    "slug": t.slug,
                    "name": t.name,
                    "version": t.current_version,
                    "archived_at": t.archived_at and isoformat_z(t.archived_at),
                }
                for t in rows
            ]
        )

    _run(work)


@template_app.command("archive")
def template_archive(
    slug: str,
    workspace: Annotated[str, typer.Option(help="workspace slug")],
    undo: Annotated[bool, typer.Option("--undo", help="unarchive")] = False,
) -> None:
    """Archive a template (no new forms from it) or, with --undo, bring it back."""
    from formcase.templates import service as templates

    async def work(session: AsyncSession) -> None:
        await templates.set_archived(session, workspace, slug, not undo)
        typer.echo(f"template '{slug}' {'unarchived' if undo else 'archived'}")

    _run(work)


@storage_app.command("gc")
def storage_gc(
    grace_minutes: Annotated[
        float | None,
        typer.Option(
            help="leave files younger than this (uploads in flight); "
            "default: FORMCASE_STORAGE_GC_GRACE_MINUTES (60)"
        ),
    ] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="only list what would go")] = False,
) -> None:
    """Remove stored files no attachment points to, and leftovers of interrupted uploads."""
    from formcase.attachments import service as attachments
    from formcase.config import Settings
    from formcase.storage import make_storage

    settings = Settings()
    storage = make_storage(settings)
    minutes = settings.storage_gc_grace_minutes if grace_minutes is None else grace_minutes

    async def work(session: AsyncSession) -> Sweep:
        try:
            grace = timedelta(minutes=minutes)
            return await attachments.sweep_orphans(session, storage, grace, dry_run)
        finally:
            await storage.close()

    sweep = _run(work)
    for key in sweep.removed:
        typer.echo(f"{'would remove' if dry_run else 'removed'} {key}")
    typer.echo(
        f"{len(sweep.removed)} file(s) {'to remove' if dry_run else 'removed'}; "
        f"{sweep.kept_young} unreferenced file(s) younger than {minutes:g} min kept"
    )


@storage_app.command("verify")
def storage_verify() -> None:
    """Re-hash every stored file attachments point to; exit 1 if any is missing or altered."""
    from formcase.attachments import service as attachments
    from formcase.config import Settings
    from formcase.storage import make_storage

    settings = Settings()
    storage = make_storage(settings)

    async def work(session: AsyncSession) -> list[str]:
        try:
            return await attachments.verify_files(session, storage)
        finally:
            await storage.close()

    problems = _run(work)
    for problem in problems:
        typer.echo(problem)
    if problems:
        typer.echo(f"{len(problems)} problem(s) found", err=True)
        raise typer.Exit(1)
    typer.echo("every stored file matches its hash")


@app.command()
def demo() -> None:
    """On an empty database: a demo workspace, two templates and a token, with a curl to try."""
    from formcase.config import Settings
    from formcase.demo.seed import seed

    settings = Settings()
    result = _run(lambda session: seed(session, settings))
    typer.echo(result)


def main() -> None:
    app(prog_name="formcase")


if __name__ == "__main__":
    main()
