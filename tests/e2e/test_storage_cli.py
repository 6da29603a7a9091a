"""`formcase storage gc` and `formcase storage verify` on a real installation."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from formcase.storage.local import path_of
from tests.e2e.conftest import Formcase
from tests.e2e.test_server import set_up

pytestmark = pytest.mark.e2e


def test_storage_commands(formcase: Formcase, tmp_path: Path) -> None:
    token = set_up(formcase)
    url = formcase.serve()
    uploaded = httpx.post(
        f"{url}/v1/attachments",
        json={"name": "a.txt", "data": "aGVsbG8gd29ybGQ="},
        headers={"Authorization": f"Bearer {token}"},
    ).json()
    assert "every stored file matches" in formcase.run("storage", "verify").stdout
    files = Path(formcase.env["FORMCASE_DATA_DIR"]) / "files"
    stored = path_of(files, uploaded["metadata"]["sha256"])
    orphan = files / "ab" / "cd" / ("ab" + "cd" + "0" * 60)
    orphan.parent.mkdir(parents=True)
    orphan.write_bytes(b"nobody points here")
    dry = formcase.run("storage", "gc", "--grace-minutes", "0", "--dry-run").stdout
    assert f"would remove {orphan.name}" in dry and orphan.exists()
    swept = formcase.run("storage", "gc", "--grace-minutes", "0").stdout
    assert f"removed {orphan.name}" in swept and not orphan.exists() and stored.exists()
    stored.write_bytes(b"changed on disk")
    broken = formcase.run("storage", "verify", check=False)
    assert broken.returncode == 1 and "content hashes to" in broken.stdout
