"""As a new user would: the CLI makes a workspace and a token, a real server answers."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import httpx
import pytest

from tests.conftest import DEMO_TEMPLATES
from tests.e2e.conftest import BIN, Formcase, free_port, last_line

pytestmark = pytest.mark.e2e


def set_up(formcase: Formcase) -> str:
    """Migrate, create a workspace with a member and a template, return a new token."""
    assert "database at migration" in formcase.run("db", "upgrade").stdout
    workspace = json.loads(formcase.run("workspace", "create", "acme", "--name", "Acme").stdout)
    assert workspace["slug"] == "acme" and workspace["name"] == "Acme"
    formcase.run("workspace", "add-member", "boss@acme.example", "--workspace", "acme")
    imported = formcase.run(
        "template", "import", str(DEMO_TEMPLATES / "contact-details.yaml"), "--workspace", "acme"
    )
    assert "published version 1" in imported.stdout
    token = last_line(formcase.run("token", "create", "--workspace", "acme", "--name", "crm"))
    assert re.fullmatch(r"pnbx_[0-9a-f]{48}", token)
    return token


def test_a_new_user_creates_and_reads_a_form(formcase: Formcase) -> None:
    token = set_up(formcase)
    url = formcase.serve()
    headers = {"Authorization": f"Bearer {token}"}
    created = httpx.post(
        f"{url}/v1/forms",
        json={
            "flow": {"slug": "contact-details"},
            "user": {"email": "jo@example.com"},
            "owner": {"email": "boss@acme.example"},
        },
        headers=headers,
    )
    assert created.status_code == 201, created.text
    form = created.json()
    fetched = httpx.get(f"{url}/v1/forms/{form['id']}", headers=headers).json()
    # the invitation may have been settled by the worker in between (no SMTP here: skipped)
    invitations = [n["id"] for n in form.pop("notifications")]
    assert [n["id"] for n in fetched.pop("notifications")] == invitations
    assert fetched == form
    archived = httpx.patch(f"{url}/v1/forms/{form['id']}", json={"archived": True}, headers=headers)
    assert archived.json()["archived"] is True
    count = httpx.get(f"{url}/v1/forms/count?archived=true", headers=headers)
    assert count.json() == {"count": 1}
    assert httpx.get(f"{url}/readyz").json()["status"] == "ok"

    tokens = json.loads(formcase.run("token", "list").stdout)
    assert tokens[0]["name"] == "crm" and tokens[0]["workspaces"] == ["acme"]
    assert tokens[0]["last_used_at"] is not None and token not in json.dumps(tokens)
    assert "revoked" in formcase.run("token", "revoke", tokens[0]["id"]).stdout
    refused = httpx.get(f"{url}/v1/forms", headers=headers)
    assert refused.status_code == 401


def test_the_demo_curl_works(formcase: Formcase) -> None:
    """What `make serve` prints on first start is a curl that creates a form."""
    formcase.run("db", "upgrade")
    port = free_port()
    formcase.env["FORMCASE_PUBLIC_URL"] = f"http://127.0.0.1:{port}"
    url = formcase.serve(port=port)
    printed = formcase.run("demo").stdout
    assert "pnbx_" in printed
    curl = printed[printed.index("curl ") : printed.index("API docs")].strip()
    result = subprocess.run(["bash", "-c", curl], capture_output=True, text=True, timeout=30)
    form = json.loads(result.stdout)
    assert form["status"] == "pending" and form["flow"]["slug"] == "contact-details"
    assert form["links"]["fill"].startswith(f"{url}/f/")  # FORMCASE_PUBLIC_URL makes the links
    assert form["owner"]["email"] == "owner@demo.example"
    again = formcase.run("demo").stdout
    assert "no demo created" in again


def test_cli_errors_are_clear(formcase: Formcase, tmp_path: Path) -> None:
    unmigrated = formcase.run("workspace", "create", "x", "--name", "X", check=False)
    assert unmigrated.returncode == 1 and "formcase db upgrade" in unmigrated.stderr
    serve = subprocess.run(
        [str(BIN), "serve", "--port", "1"],
        env=formcase.env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert serve.returncode == 1 and "formcase db upgrade" in serve.stderr
    set_up(formcase)
    duplicate = formcase.run("workspace", "create", "acme", "--name", "Again", check=False)
    assert duplicate.returncode == 1 and "already exists" in duplicate.stderr
    bad_slug = formcase.run("workspace", "create", "Not Valid", "--name", "X", check=False)
    assert bad_slug.returncode == 1 and "Invalid workspace slug" in bad_slug.stderr
    broken = tmp_path / "broken.yaml"
    broken.write_text("slug: x\nname: X\nsteps: []\n", encoding="utf-8")
    invalid = formcase.run("template", "import", str(broken), "--workspace", "acme", check=False)
    assert invalid.returncode == 1 and "steps" in invalid.stderr
    unknown = formcase.run("token", "create", "--workspace", "nope", "--name", "x", check=False)
    assert unknown.returncode == 1 and "No workspace with slug 'nope'" in unknown.stderr
    not_an_id = formcase.run("token", "revoke", "abc", check=False)
    assert not_an_id.returncode == 1 and "not a token id" in not_an_id.stderr
    changed = tmp_path / "contact-details.yaml"
    original = (DEMO_TEMPLATES / "contact-details.yaml").read_text(encoding="utf-8")
    changed.write_text(original.replace("name: Contact details", "name: Contact"), "utf-8")
    again = formcase.run("template", "import", str(changed), "--workspace", "acme")
    assert "published version 2" in again.stdout
    same = formcase.run("template", "import", str(changed), "--workspace", "acme")
    assert "unchanged, still version 2" in same.stdout
    listed = json.loads(formcase.run("template", "list", "--workspace", "acme").stdout)
    assert [(t["slug"], t["name"], t["version"]) for t in listed] == [
        ("contact-details", "Contact", 2)
    ]
    archived = formcase.run("template", "archive", "contact-details", "--workspace", "acme")
    assert "archived" in archived.stdout


def test_postgresql_with_two_worker_processes(formcase_pg: Formcase) -> None:
    token = set_up(formcase_pg)
    url = formcase_pg.serve("--workers", "2")
    headers = {"Authorization": f"Bearer {token}"}
    for _ in range(10):
        created = httpx.post(
            f"{url}/v1/forms", json={"flow": {"slug": "contact-details"}}, headers=headers
        )
        assert created.status_code == 201
    assert httpx.get(f"{url}/v1/forms/count", headers=headers).json() == {"count": 10}
    # Both processes have the token cached now; revoking it reaches both at once.
    token_id = json.loads(formcase_pg.run("token", "list").stdout)[0]["id"]
    formcase_pg.run("token", "revoke", token_id)
    statuses = {httpx.get(f"{url}/v1/workspaces", headers=headers).status_code for _ in range(10)}
    assert statuses == {401}
