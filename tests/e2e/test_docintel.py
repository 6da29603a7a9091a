"""Issue 7 end to end: a dev-set invoice and a dev-set passport sent through the API of a real
`formcase serve`, queued while no worker runs, and read once the server is started again with
its worker: the jobs survive the restart and the extracted fields are the documents' own."""

from __future__ import annotations

import base64
import json
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from formcase.docintel import scoring
from tests.e2e.conftest import Formcase
from tests.e2e.test_server import set_up

pytestmark = pytest.mark.e2e

DEV = scoring.dev_root()
INVOICE = DEV / "invoices-zugferd" / "pdf" / "XML-Rechnung_FX_EN16931_Rabatte.pdf"
INVOICE_TRUTH = DEV / "invoices-zugferd" / "gt" / "XML-Rechnung_FX_EN16931_Rabatte.json"
PASSPORT = DEV / "mrz-passporteye" / "tests-data" / "passport-td3.jpg"


def post(url: str, headers: dict[str, str], path: Path, kind: str, template: str) -> str:
    body = {
        "attachments": [
            {"data": base64.b64encode(path.read_bytes()).decode(), "name": path.name, "type": kind}
        ],
        "template": template,
    }
    created = httpx.post(f"{url}/v1/document-intelligence", json=body, headers=headers, timeout=30)
    assert created.status_code == 202, created.text
    assert created.json()["status"] == "pending"
    return str(created.json()["id"])


def wait_for(url: str, headers: dict[str, str], job_id: str) -> dict[str, Any]:
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        job: dict[str, Any] = httpx.get(
            f"{url}/v1/document-intelligence/{job_id}", headers=headers
        ).json()
        if job["status"] in ("completed", "failed"):
            return job
        time.sleep(0.5)
    raise AssertionError(f"job {job_id} not done in 180 s")


def values(job: dict[str, Any]) -> dict[str, Any]:
    return {field["key"]: field["value"] for field in job["results"]["fields"]}


def test_an_invoice_and_a_passport_read_after_a_restart(formcase: Formcase) -> None:
    token = set_up(formcase)
    headers = {"Authorization": f"Bearer {token}"}
    url = formcase.serve("--no-worker")
    invoice = post(url, headers, INVOICE, "application/pdf", "invoice")
    passport = post(url, headers, PASSPORT, "image/jpeg", "id_document")
    time.sleep(1)
    queued = httpx.get(f"{url}/v1/document-intelligence/{invoice}", headers=headers).json()
    assert queued["status"] == "pending" and queued["results"] is None  # no worker: waits

    formcase.stop()  # the server goes away with the jobs queued, and comes back with a worker
    url = formcase.serve()
    read = wait_for(url, headers, invoice)
    assert read["status"] == "completed", read["error"]
    truth = json.loads(INVOICE_TRUTH.read_text())
    found = values(read)
    for key in ("invoice_number", "issue_date", "total_amount", "tax_amount", "net_amount"):
        assert found[key] == truth[key], (key, found[key], truth[key])
    assert found["supplier_vat_number"] == truth["supplier_vat_number"]
    assert read["results"]["source"] == "text_layer" and read["usage"]["pages"] == 3

    document = wait_for(url, headers, passport)
    assert document["status"] == "completed", document["error"]
    person = values(document)
    assert person["surname"] == "ERIKSSON" and person["given_names"] == "ANNA MARIA"
    assert person["document_number"] == "L898902C3"
    assert person["birth_date"] == "1974-08-12" and person["expiry_date"] == "2012-04-15"
    assert person["nationality"] == "UTO" and person["sex"] == "F"
    assert document["results"]["validation"]["is_valid"] is True
    assert document["results"]["source"] == "ocr"
