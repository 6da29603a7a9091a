"""Benchmark of the contact's side (docs/benchmarks.md): the fill page, the fill API, signing
and sealed response PDFs, against a real `formcase serve` on SQLite (what `make serve` runs).

Throughput, with wrk at concurrency 16 from another process:
  floor    GET /bench/floor: the same stack answering pre-serialised bytes of the page's size
  page     GET /f/{token}: the fill page, rendered by the server
  state    POST /f/{token}/api/state: what the page's script calls first (resumes the response)
Latency, one request at a time (each is CPU work: rendering, stamping, sealing):
  json     GET /v1/responses/{id} as JSON (the floor of the PDF)
  pdf      GET /v1/responses/{id} as a sealed PDF
  sheet    POST …/api/signatures/{key}: a drawn signature sealed on a signature sheet
  document POST …/api/signatures/{key}: stamped on a 20-page PDF, sealed
and the server's peak memory.

    .venv/bin/python bench/fill.py [--duration 15] [--repeat 30]
"""

from __future__ import annotations

import argparse
import base64
import io
import json
import os
import platform
import statistics
import subprocess
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from PIL import Image, ImageDraw
from reportlab.pdfgen.canvas import Canvas

from attachments import BIN, PeakRSS, free_port, wait_for
from forms import wrk

ROOT = Path(__file__).resolve().parents[1]
DOCUMENT_TEMPLATE = """slug: contract
name: Contract
steps:
  - id: sign
    title: Sign the contract
    elements:
      - {key: contract, type: file, label: Contract, accept: [application/pdf]}
      - key: contract_signature
        type: signature
        label: Signed contract
        documents: [{from_field: contract, place: {page: -1, left: 300, top: 650}}]
"""
STATE_LUA = 'wrk.method = "POST"\n'


def drawn() -> str:
    picture = Image.new("RGBA", (600, 200), (0, 0, 0, 0))
    ImageDraw.Draw(picture).line(
        [(20, 160), (150, 30), (260, 170), (420, 40), (580, 120)], fill="navy", width=6
    )
    output = io.BytesIO()
    picture.save(output, "PNG")
    return "data:image/png;base64," + base64.b64encode(output.getvalue()).decode()


def contract(pages: int) -> bytes:
    output = io.BytesIO()
    canvas = Canvas(output, pagesize=(595, 842))
    for number in range(1, pages + 1):
        text = canvas.beginText(72, 770)
        for line in range(40):
            text.textLine(f"Page {number}, clause {line + 1}: the parties agree to agree.")
        canvas.drawText(text)
        canvas.showPage()
    canvas.save()
    return output.getvalue()


def timings(call: Any, repeat: int) -> dict[str, float]:
    seconds = []
    for _ in range(repeat):
        started = time.perf_counter()
        call()
        seconds.append(time.perf_counter() - started)
    seconds.sort()
    return {
        "p50_ms": statistics.median(seconds) * 1000,
        "p99_ms": seconds[min(len(seconds) - 1, round(len(seconds) * 0.99) - 1)] * 1000,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--duration", type=int, default=15, help="seconds per wrk run")
    parser.add_argument("--repeat", type=int, default=30, help="requests per latency figure")
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="formcase-bench-fill-"))
    env = {
        **os.environ,
        "FORMCASE_DATA_DIR": str(work),
        "FORMCASE_BENCH_FLOOR": "true",
        "FORMCASE_RATE_LIMIT_TOKEN": "",
        "FORMCASE_RATE_LIMIT_CLIENT": "",
    }
    env.pop("FORMCASE_DATABASE_URL", None)

    def run(*command: str) -> str:
        return subprocess.run(
            [str(BIN), *command], env=env, check=True, capture_output=True, text=True
        ).stdout

    run("db", "upgrade")
    token = next(w for w in run("demo").split() if w.startswith("pnbx_"))
    (work / "contract.yaml").write_text(DOCUMENT_TEMPLATE)
    run("template", "import", str(work / "contract.yaml"), "--workspace", "demo")
    port = free_port()
    server = subprocess.Popen(
        [str(BIN), "serve", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    results: dict[str, Any] = {}
    try:
        wait_for(f"{base}/healthz")
        memory = PeakRSS(server.pid)
        api = httpx.Client(base_url=base, headers={"Authorization": f"Bearer {token}"}, timeout=60)

        def new_form(slug: str) -> tuple[str, str]:
            """A form's id and its fill page's path."""
            body = {"flow": {"slug": slug}, "user": {"email": "a@b.example"}}
            created = api.post("/v1/forms", json=body)
            created.raise_for_status()
            link: str = created.json()["links"]["fill"]
            return created.json()["id"], link.removeprefix("http://127.0.0.1:8000")

        form_id, page = new_form("contact-details")
        api.post(page + "/api/state").raise_for_status()
        size = len(api.get(page).content)
        wrk(base, "/bench/floor", token, 3)  # warm up
        results["floor"] = wrk(base, f"/bench/floor?size={size}", token, args.duration)
        results["page"] = wrk(base, page, token, args.duration)
        results["state"] = wrk(base, page + "/api/state", token, args.duration, STATE_LUA)

        image = drawn()
        answers = {
            "given_name": "Ann",
            "family_name": "Lee",
            "email": "ann@example.com",
            "consent": True,
        }
        api.post(page + "/api/steps/contact", json={"data": answers}).raise_for_status()

        def sign_sheet() -> None:
            api.post(page + "/api/signatures/signature", json={"image": image}).raise_for_status()

        results["sheet"] = timings(sign_sheet, args.repeat)
        api.post(page + "/api/submit").raise_for_status()
        response_id = api.get(f"/v1/forms/{form_id}").json()["responses"][0]["id"]
        results["json"] = timings(
            lambda: api.get(f"/v1/responses/{response_id}").raise_for_status(), args.repeat
        )
        pdf = {"Accept": "application/pdf"}
        results["pdf"] = timings(
            lambda: api.get(f"/v1/responses/{response_id}", headers=pdf).raise_for_status(),
            args.repeat,
        )
        _, signing = new_form("contract")
        files = {"file": ("contract.pdf", contract(20), "application/pdf")}
        api.post(signing + "/api/files/contract", files=files).raise_for_status()

        def sign_document() -> None:
            answer = api.post(signing + "/api/signatures/contract_signature", json={"image": image})
            answer.raise_for_status()

        results["document"] = timings(sign_document, args.repeat)
        results["peak_rss_mb"] = memory.stop() / 2**20
    finally:
        server.terminate()
        server.wait(timeout=20)

    print(f"{'what':10} {'req/s':>8} {'p50 ms':>8} {'p99 ms':>8}")
    for name in ("floor", "page", "state", "json", "pdf", "sheet", "document"):
        row = results[name]
        rate = f"{row['rps']:8,.0f}" if "rps" in row else f"{'':8}"
        print(f"{name:10} {rate} {row['p50_ms']:8.1f} {row['p99_ms']:8.1f}")
    print(f"server peak RSS: {results['peak_rss_mb']:.0f} MiB")
    print(f"page vs floor: {results['page']['rps'] / results['floor']['rps']:.0%} of its req/s")
    record = {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": platform.node(),
        "cores": os.cpu_count(),
        "results": results,
    }
    out = ROOT / "bench" / "results"
    out.mkdir(exist_ok=True)
    (out / "fill.json").write_text(json.dumps(record, indent=2))


if __name__ == "__main__":
    main()
