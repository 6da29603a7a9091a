"""All settings, read from the environment (prefix FORMCASE_) or passed in by tests."""

from __future__ import annotations

import contextlib
import os
import secrets
from functools import cached_property
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="FORMCASE_", extra="ignore")

    data_dir: Path = Field(default=Path(".formcase"), description="SQLite file and local files")
    database_url: str | None = Field(
        default=None, description="SQLAlchemy async URL; default: SQLite file in data_dir"
    )
    redis_url: str | None = Field(default=None, description="shared rate-limit counters")
    public_url: str = Field(default="http://127.0.0.1:8000", description="base of API links")
    host: str = "127.0.0.1"
    port: int = 8000
    workers: int = Field(default=1, ge=1, description="server processes")
    serve_leave_ms: float = Field(
        default=10,
        ge=0,
        le=10_000,
        description="how long a server process leaves a new connection to one holding fewer",
    )
    # What a client may make a server process hold (connections.py, serving.py).
    max_header_bytes: int = Field(
        default=64 * 1024, ge=1024, description="a request's line and header fields; 431 over it"
    )
    max_header_fields: int = Field(default=100, ge=1, description="header fields; 431 over it")
    header_timeout_seconds: float = Field(
        default=10,
        gt=0,
        description="time to send a request's headers, from the connection's opening or the "
        "previous answer; then 408 and closed",
    )
    max_connections: int = Field(
        default=1000,
        ge=1,
        description="connections a server process holds at once; more wait to be accepted",
    )

    # Rate limits in the `limits` notation ("100/minute"); an empty string turns one off.
    rate_limit_token: str = "100/minute"
    rate_limit_client: str = "1000/hour"

    storage_url: str | None = Field(
        default=None,
        description="file:///path or s3://bucket/prefix; default: a directory in data_dir",
    )
    s3_endpoint_url: str | None = Field(default=None, description="for S3-compatible stores")
    s3_region: str | None = None
    s3_access_key_id: str | None = None
    s3_secret_access_key: str | None = None
    # The worker removes files no attachment points to and leftovers of interrupted uploads
    # (docs/attachments.md); the grace spares uploads in progress.
    storage_gc_interval_minutes: float = Field(
        default=60, ge=0, description="how often the worker collects stray files; 0: never"
    )
    storage_gc_grace_minutes: float = Field(
        default=60, gt=0, description="stray files younger than this are left alone"
    )
    max_upload_bytes: int = Field(default=10 * 1024**3, ge=1, description="10 GB, as Penbox")
    max_json_upload_bytes: int = Field(
        default=64 * 1024**2,
        ge=1,
        description="a JSON body that carries files in base64 (an attachment, documents to read)",
    )
    max_body_bytes: int = Field(
        default=1024**2, ge=1, description="any other request body (API objects, fill steps)"
    )
    max_upload_fields: int = Field(
        default=16, ge=1, description="form fields besides the file in a multipart upload"
    )

    # Each stored free-form JSON value (external_args, prefill data, a step's answers, case
    # data): room for hundreds of references into the caller's systems, while a page of 100
    # forms stays a few MB (docs/api.md, Limits).
    max_json_value_bytes: int = Field(
        default=64 * 1024, ge=1, description="largest free-form JSON value stored, as JSON"
    )
    max_json_value_depth: int = Field(
        # le=200: orjson, which writes the answers, stops at 255 levels in all.
        default=32,
        ge=1,
        le=200,
        description="deepest nesting of a stored free-form JSON value",
    )

    form_default_expiry_days: int = Field(
        default=60, ge=0, description="active_until when a form is created without one; 0: none"
    )
    database_pool_size: int = Field(default=10, ge=1)
    tally_compaction_seconds: float = Field(
        default=60, gt=0, description="how often form and case tallies are summed up"
    )
    database_echo: bool = False
    secret_key: str | None = Field(
        default=None,
        description="encrypts stored signing keys; default: data_dir/secret.key, made once. "
        "Set it (the same on every machine) when running on several.",
    )
    fill_allowed_origins: list[str] = Field(
        default_factory=list,
        description="other web origins whose pages may call the fill API (besides public_url)",
    )
    webhook_allow_private: bool = Field(
        default=False,
        description="let webhooks use http and reach private, loopback and link-local addresses",
    )
    webhook_timeout_seconds: float = Field(
        default=10, gt=0, description="how long one webhook call may take"
    )
    webhook_disable_after: int = Field(
        default=5, ge=1, description="consecutive dead deliveries that disable a subscription"
    )
    webhook_secret_overlap_seconds: float = Field(
        default=86400,
        ge=0,
        description="how long a rotated webhook secret keeps signing next to the new one",
    )
    # Notifications to contacts (docs/notifications.md).
    smtp_url: str | None = Field(
        default=None,
        description="smtp://[user:password@]host[:port] (STARTTLS when offered), "
        "smtp+starttls:// (STARTTLS required) or smtps:// (TLS); unset: emails are skipped",
    )
    smtp_ca_file: Path | None = Field(
        default=None, description="CA certificates (PEM) to trust for the SMTP server's TLS"
    )
    smtp_timeout_seconds: float = Field(default=30, gt=0)
    mail_from: str | None = Field(
        default=None,
        description="sender of emails, 'Name <address>'; default formcase <noreply@public host>",
    )
    sms_provider: str = Field(
        default="log", pattern="^(log|http)$", description="log (not sent) or http (a gateway)"
    )
    sms_url: str | None = Field(default=None, description="the HTTP gateway's URL (POST)")
    sms_headers: dict[str, str] = Field(
        default_factory=dict, description='headers for the gateway, e.g. {"Authorization": …}'
    )
    sms_body: dict[str, Any] = Field(
        default_factory=lambda: dict(to="{to}", text="{text}", **{"from": "{from}"}),
        description="the JSON the gateway gets; {to}, {from} and {text} in strings are filled",
    )
    sms_message_id_path: str = Field(
        default="id", description="where the gateway's answer has the message id (a.b.0.c)"
    )
    sms_from: str | None = Field(default=None, description="sender id or number of SMS")
    # The job worker (docs/worker.md).
    run_worker: bool = Field(default=True, description="`formcase serve` runs a worker in-process")
    worker_concurrency: int = Field(default=8, ge=1, description="jobs a worker runs at once")
    worker_poll_seconds: float = Field(
        default=0.2, gt=0, description="how often an idle worker looks for jobs"
    )
    job_lease_seconds: float = Field(
        default=60, gt=0, description="a claimed job returns to others if not renewed in this"
    )
    job_timeout_seconds: float = Field(default=300, gt=0, description="one attempt's time limit")
    job_max_attempts: int = Field(default=10, ge=1, description="attempts before a job is dead")
    job_backoff_seconds: float = Field(
        default=2, gt=0, description="delay before the first retry, doubled each time"
    )
    job_backoff_max_seconds: float = Field(
        default=3600, gt=0, description="longest delay between attempts"
    )
    job_keep_done_days: float = Field(
        default=7, ge=0, description="done jobs are deleted after this (dead ones are kept)"
    )
    # Document intelligence (docs/document-intelligence.md).
    docintel_processes: int = Field(
        default=1, ge=1, description="processes a worker reads documents in (OCR is CPU-bound)"
    )
    docintel_max_pages: int = Field(
        default=20, ge=1, description="pages a document-intelligence job may have in all"
    )
    docintel_max_file_bytes: int = Field(
        default=50 * 1024**2, ge=1, description="largest file a document-intelligence job reads"
    )
    docintel_ocr_engine: Literal["rapidocr", "tesseract"] = Field(
        default="rapidocr",
        description="OCR of scans and photos: rapidocr (its wheel's models) or Debian's tesseract",
    )
    bench_floor: bool = Field(default=False, description="serve /bench/floor for bench/forms.py")

    @field_validator("smtp_url")
    @classmethod
    def _smtp_url(cls, value: str | None) -> str | None:
        if value:
            parts = urlsplit(value)
            if parts.scheme not in ("smtp", "smtp+starttls", "smtps") or not parts.hostname:
                raise ValueError(
                    "must look like smtp://user:password@host:port (or smtp+starttls://, smtps://)"
                )
        return value or None

    @field_validator("public_url")
    @classmethod
    def _strip_slash(cls, value: str) -> str:
        return value.rstrip("/")

    @cached_property
    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite+aiosqlite:///{(self.data_dir / 'formcase.db').resolve()}"

    @cached_property
    def resolved_secret_key(self) -> bytes:
        """The server's secret: the setting, else a random one kept in data_dir."""
        if self.secret_key:
            return self.secret_key.encode()
        path = self.data_dir / "secret.key"
        if not path.exists():
            # Written aside, then linked into place: a process starting at the same moment
            # either makes the link or finds it, never a half-written file.
            self.data_dir.mkdir(parents=True, exist_ok=True)
            aside = path.with_name(f"secret.key.{os.getpid()}.{secrets.token_hex(4)}")
            descriptor = os.open(aside, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(descriptor, "w") as file:
                file.write(secrets.token_urlsafe(32))
            with contextlib.suppress(FileExistsError):
                os.link(aside, path)
            aside.unlink()
        return path.read_text().strip().encode()

    @property
    def is_sqlite(self) -> bool:
        return self.resolved_database_url.startswith("sqlite")
