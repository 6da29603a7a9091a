"""`formcase --help` and the everyday commands start without loading the web app, the PDF and
OCR libraries or the S3 client: what a command imports is what its start-up costs (they took
about 4 s each when the CLI imported everything; docs/benchmarks.md has the figures)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

# A command runs in a fresh interpreter, which then lists the heavy packages it loaded.
RUN = """
import json, sys
from formcase import cli
code = 0
try:
    cli.app(sys.argv[1:], prog_name="formcase")
except SystemExit as exc:
    code = exc.code or 0
heavy = {heavy!r}
print("\\nLOADED " + json.dumps([code, sorted(m for m in heavy if m in sys.modules)]))
"""
# the web app and the server, PDF rendering, signing and editing, images and OCR, S3, the
# PostgreSQL driver (on SQLite) and Alembic (only `db upgrade` migrates)
HEAVY = [
    "fastapi",
    "uvicorn",
    "jinja2",
    "weasyprint",
    "pyhanko",
    "pikepdf",
    "img2pdf",
    "pypdfium2",
    "PIL",
    "onnxruntime",
    "rapidocr",
    "cv2",
    "numpy",
    "botocore",
    "aiobotocore",
    "boto3",
    "asyncpg",
    "alembic",
]
# --help needs typer and nothing of formcase's own stack
HEAVY_FOR_HELP = [*HEAVY, "sqlalchemy", "pydantic", "cryptography", "starlette"]


def loaded(env: dict[str, str], heavy: list[str], *args: str) -> list[str]:
    result = subprocess.run(
        [sys.executable, "-c", RUN.format(heavy=heavy), *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert "LOADED " in result.stdout, result.stderr
    code, found = json.loads(result.stdout.rsplit("LOADED ", 1)[1])
    assert code == 0, result.stdout + result.stderr  # the command did its work
    assert isinstance(found, list)
    return found


def cli_env(data_dir: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FORMCASE_")}
    return {**env, "FORMCASE_DATA_DIR": str(data_dir)}


def test_help_imports_nothing_heavy(tmp_path: Path) -> None:
    assert loaded(cli_env(tmp_path), HEAVY_FOR_HELP, "--help") == []


def test_token_list_and_workspace_create_import_nothing_heavy(tmp_path: Path) -> None:
    env = cli_env(tmp_path)
    formcase = Path(sys.executable).parent / "formcase"
    subprocess.run([formcase, "db", "upgrade"], env=env, check=True, capture_output=True)

    assert loaded(env, HEAVY, "workspace", "create", "acme", "--name", "Acme") == []
    assert loaded(env, HEAVY, "token", "list") == []
