"""The OpenAPI document as generators and people use it: valid, unique names, the errors
formcase sends, a docs page that works offline, and a generated client that works."""

from __future__ import annotations

import importlib
import io
import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import httpx
import pytest
from openapi_spec_validator import validate

from formcase.app import create_app
from formcase.config import Settings
from tests.attachments.samples import pdf
from tests.cases.test_cases_api import JO
from tests.helpers import Tenant

BIN = Path(sys.executable).parent


@pytest.fixture(scope="module")
def document() -> dict[str, Any]:
    spec: dict[str, Any] = create_app(Settings()).openapi()
    return spec


def operations(document: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    for path, item in document["paths"].items():
        for method, operation in item.items():
            yield path, method, operation


def test_the_document_is_valid_and_names_each_shape_once(document: dict[str, Any]) -> None:
    validate(document)
    names = document["components"]["schemas"]
    # FastAPI's fallback for two models of one name, and its validation error formcase
    # never sends
    assert not [name for name in names if "__" in name or name.endswith(("-Input", "-Output"))]
    assert "HTTPValidationError" not in json.dumps(document)
    assert {"FormOwnerIn", "CaseOwnerIn", "DocintelWorkspaceIn", "WebhookWorkspaceIn"} <= set(names)
    # one parameter per meaning: no two that a generator would name alike
    for path, method, operation in operations(document):
        identifiers = [re.sub(r"\W", "", p["name"]) for p in operation.get("parameters", [])]
        assert len(identifiers) == len(set(identifiers)), (method, path, identifiers)


def test_every_error_is_the_error_shape_and_every_v1_operation_needs_the_bearer(
    document: dict[str, Any],
) -> None:
    assert document["components"]["securitySchemes"]["bearer"]["scheme"] == "bearer"
    for path, method, operation in operations(document):
        responses = operation["responses"]
        for code, response in responses.items():
            if code.startswith("4"):
                schema = response["content"]["application/json"]["schema"]
                assert schema == {"$ref": "#/components/schemas/Error"}, (method, path, code)
            if code.startswith("2") and code != "204" and path != "/v1/responses/{response_id}":
                assert all(media.get("schema") for media in response["content"].values()), (
                    method,
                    path,
                )
        if path.startswith("/v1/"):
            assert operation["security"] == [{"bearer": []}]
            assert {"400", "401", "403", "429"} <= set(responses), (method, path)
    form_patch = document["paths"]["/v1/forms/{form_id}"]["patch"]["responses"]
    assert {"404", "422"} <= set(form_patch)
    assert "413" in document["paths"]["/v1/attachments"]["post"]["responses"]
    form = document["components"]["schemas"]["FormOut"]["properties"]
    assert form["created_at"] == {"type": "string", "format": "date-time", "title": "Created At"}
    merged = document["paths"]["/v1/attachments"]["get"]["responses"]["200"]["content"]
    assert merged == {"application/pdf": {"schema": {"type": "string", "format": "binary"}}}


def test_the_older_paths_are_listed_as_deprecated(document: dict[str, Any]) -> None:
    deprecated = {
        (method, path)
        for path, method, operation in operations(document)
        if operation.get("deprecated")
    }
    assert deprecated == {
        ("get", "/v1/requests"),
        ("post", "/v1/requests"),
        ("get", "/v1/requests/count"),
        ("get", "/v1/requests/{form_id}"),
        ("patch", "/v1/requests/{form_id}"),
        ("get", "/v1/flows"),
        ("get", "/v1/flows/{slug}/steps"),
        ("get", "/v1/flows/{slug}/options"),
        ("get", "/v1/companies"),
        ("post", "/v1/document_intelligence"),
        ("get", "/v1/document_intelligence/{job_id}"),
    }


async def test_the_docs_page_needs_no_other_host(client: httpx.AsyncClient) -> None:
    page = await client.get("/docs")
    assert page.status_code == 200
    urls = re.findall(r"""(?:src|href|url)\s*[=:]\s*["']([^"']+)["']""", page.text)
    assert urls and not [url for url in urls if "//" in url], urls
    for url in urls:
        answer = await client.get(url)
        assert answer.status_code == 200, url
    # Swagger UI 4 renders only OpenAPI 3.0: the page reads a 3.0 view of the document
    view = (await client.get("/docs/openapi.json")).json()
    assert view["openapi"] == "3.0.3" and "/v1/forms" in view["paths"]
    assert "bearer" in view["components"]["securitySchemes"]


async def test_405_names_every_method_of_the_path(
    client: httpx.AsyncClient, tenant: Tenant
) -> None:
    refused = await client.delete("/v1/forms", headers=tenant.headers)
    assert refused.status_code == 405
    assert refused.headers["allow"] == "GET, POST"
    refused = await client.put(f"/v1/webhooks/{JO['email']}", headers=tenant.headers)
    assert refused.headers["allow"] == "DELETE, GET, PATCH"


async def test_a_count_is_not_an_item(client: httpx.AsyncClient, tenant: Tenant) -> None:
    # `count` is no id: only the count's own method is allowed there...
    for collection in ("forms", "requests", "cases"):
        refused = await client.patch(f"/v1/{collection}/count", headers=tenant.headers, json={})
        assert refused.status_code == 405, refused.text
        assert refused.headers["allow"] == "GET"
        # ...while any other word still reaches the item's route, which says it is no id
        malformed = await client.get(f"/v1/{collection}/counts", headers=tenant.headers)
        assert malformed.status_code == 400
        assert "Path parameter" in malformed.json()["message"]


async def test_a_count_of_cases_has_no_order_or_pages(
    client: httpx.AsyncClient, tenant: Tenant
) -> None:
    for query in ("sort=title", "sort=", "page[size]=5"):
        refused = await client.get(f"/v1/cases/count?{query}", headers=tenant.headers)
        assert refused.status_code == 400, query
        assert "Unknown query parameter" in refused.json()["message"]
    assert (await client.get("/v1/cases/count", headers=tenant.headers)).json() == {"count": 0}


async def test_the_fill_files_path_is_one_path(
    client: httpx.AsyncClient, document: dict[str, Any]
) -> None:
    files = [path for path in document["paths"] if path.startswith("/f/{token}/api/files/")]
    assert files == [
        "/f/{token}/api/files/{file}",
        "/f/{token}/api/files/{element_key}/{attachment_id}",
    ]
    assert set(document["paths"]["/f/{token}/api/files/{file}"]) == {"get", "post"}
    refused = await client.put("/f/some-token/api/files/photo")
    assert refused.status_code == 405
    assert refused.headers["allow"] == "GET, POST"


@pytest.fixture(scope="module")
def generated(
    document: dict[str, Any], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ModuleType]:
    """A client made by openapi-python-client from the document, importable."""
    where = tmp_path_factory.mktemp("client")
    (where / "openapi.json").write_text(json.dumps(document))
    # A PDF is a file to the client, as application/octet-stream is.
    (where / "config.yaml").write_text(
        "content_type_overrides:\n  application/pdf: application/octet-stream\n"
    )
    result = subprocess.run(
        [
            str(BIN / "openapi-python-client"),
            "generate",
            "--path",
            "openapi.json",
            "--meta",
            "none",
            "--config",
            "config.yaml",
        ],
        cwd=where,
        capture_output=True,
        text=True,
        env={**os.environ, "PATH": f"{BIN}:{os.environ['PATH']}"},
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    output = result.stdout + result.stderr
    assert "WARNING" not in output and "will not be generated" not in output, output
    sys.path.insert(0, str(where))
    try:
        yield importlib.import_module("formcase_client")
    finally:
        sys.path.remove(str(where))


async def test_a_generated_client_works(
    generated: ModuleType, app: Any, tenant: Tenant, make_tenant: Any
) -> None:
    from formcase_client import models  # type: ignore[import-not-found]
    from formcase_client.client import AuthenticatedClient  # type: ignore[import-not-found]
    from formcase_client.types import File  # type: ignore[import-not-found]

    client = AuthenticatedClient(base_url="http://formcase.test", token=tenant.token)
    client.set_async_httpx_client(
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app),
            base_url="http://formcase.test",
            headers={"Authorization": f"Bearer {tenant.token}"},
        )
    )

    async def call(operation: str, *args: Any, **kwargs: Any) -> Any:
        module = importlib.import_module(f"formcase_client.api.{operation}")
        answer = await module.asyncio_detailed(*args, client=client, **kwargs)
        assert 200 <= answer.status_code < 300, answer.content
        assert answer.parsed is not None and not isinstance(answer.parsed, models.Error)
        return answer.parsed

    templates = await call("form_templates.list_form_templates")
    assert isinstance(templates, models.PaginatedTemplateOut)
    assert "contact-details" in [t.slug for t in templates.data]

    created = await call(
        "forms.create_form",
        body=models.FormCreate(
            flow=models.FlowIn(slug="contact-details"),
            user=models.UserIn(email="jo@example.com", given_name="Jo"),
            owner=models.FormOwnerIn(email=tenant.owner_email),
        ),
    )
    assert isinstance(created, models.FormOut) and created.status == models.FormStatus.PENDING
    fetched = await call("forms.get_form", created.id)
    assert fetched.id == created.id and fetched.user.given_name == "Jo"
    patched = await call("forms.update_form", created.id, body=models.FormPatch(archived=True))
    assert patched.archived is True and patched.archived_at is not None
    listed = await call("forms.list_forms", archived=True, flowslug=["contact-details"])
    assert [form.id for form in listed.data] == [created.id]
    counted = await call("forms.count_forms", archived=True, group_by=["status"])
    assert counted.count == 1 and counted.by["status"]["pending"] == 1

    uploaded = await call(
        "attachments.upload_attachment",
        body=models.UploadAttachmentFilesBody(
            file=File(
                payload=io.BytesIO(pdf(200, 300)), file_name="two.pdf", mime_type="application/pdf"
            )
        ),
    )
    assert isinstance(uploaded, models.AttachmentOut) and uploaded.type_ == "application/pdf"
    merged = await call("attachments.merge_attachments", ids=f"{uploaded.id},{uploaded.id}")
    assert isinstance(merged, File) and merged.payload.read().startswith(b"%PDF")

    claims = await make_tenant(template_files=[Path(__file__).parent / "cases/claim-details.yaml"])
    await _import_case_template(app, claims)
    client.token = claims.token
    client.get_async_httpx_client().headers["Authorization"] = f"Bearer {claims.token}"
    [template] = (await call("cases.list_case_templates")).data
    case = await call(
        "cases.create_case",
        body=models.CaseCreate(
            template=models.Ref(id=template.id), contacts=[models.ContactIn(**JO)]
        ),
    )
    cases = await call("cases.list_cases")
    assert [listed.id for listed in cases.data] == [case.id]
    started = await call("cases.start_case_step", case.id, "details", body=None)
    [details] = [step for step in started.steps if step.key == "details"]
    assert details.status == "started" and details.started_at is not None


async def _import_case_template(app: Any, tenant: Tenant) -> None:
    from formcase.cases import templates

    async with app.state.database.sessionmaker() as session:
        await templates.import_template(
            session,
            tenant.slug,
            templates.read_file(Path(__file__).parent / "cases/claim.yaml"),
        )


async def test_what_the_fuzzer_found_is_refused_or_taken_as_documented(
    client: httpx.AsyncClient, tenant: Tenant
) -> None:
    # a redirect URL that urlsplit cannot read is a 400, not a 500
    form = {"flow": {"slug": "contact-details"}, "redirect_url": "https://[", "draft": True}
    refused = await client.post("/v1/forms", json=form, headers=tenant.headers)
    assert refused.status_code == 400, refused.text
    assert "redirect_url" in refused.json()["message"]
