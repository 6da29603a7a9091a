"""Benchmark of document intelligence on the development set (docs/benchmarks.md): accuracy
per field and micro-averaged, seconds per page and the worker's memory, through a real server.

`formcase serve --no-worker` and one separate `formcase worker` run on a fresh SQLite data
dir (a temporary folder); a workspace and a token are made with the CLI. Every document is
sent with POST /v1/document-intelligence (base64 `data` attachments, `template: "invoice"` or
`"id_document"`), one job at a time, and GET is polled until the job is completed; the
fields are read from the API's answer. Ground truth and its normalisation are
formcase.docintel.scoring's (tests/data/docintel, its README's rules):

  text   the invoice PDFs as they are (invoices-zugferd: `usable` documents, fields with
         `visible_in_text_layer`; invoices-invoice2data: its JSON mapped to our field names
         by scoring.INVOICE2DATA_KEYS). Beside it, invoice2data 1.0.1 on the same PDFs with its
         bundled templates disabled (see `invoice2data_disabled`), and invoice2data's own
         template-less heuristics (`suggest_from_text`), scored the same way.
  scan   the same PDFs, each page rendered to JPEG at --dpi (170) with pypdfium2 and sent as
         one image attachment per page, in order, in one job: no text layer. Then the 4 PNGs
         of invoices-invoice2data, one job each, as an extra row.
  mrz    mrz-passporteye/testdata (score-labelled `<score>_<type>-<country>.<ext>`) and
         tests-data (4 ICAO specimens with ground_truth.json), `template: "id_document"`:
         the share of images whose MRZ comes back with every check digit valid, and exact
         field match on the 4 specimens.

Speed: the job's `started_at`..`completed_at` (set by the worker when it takes the job and
when it writes the results; not in the API's answer, read from the SQLite file), per page of
the job. This includes reading the attachments from storage, the hand-over to the reading
process and back; queueing (`created_at`..`started_at`) is printed apart. A floor is
measured in this process on the same bytes while the worker is idle: `text.read` (reading:
the text layer, or OCR) and, for text-layer PDFs, `extract.run` (reading + the template).
Memory: RSS of the worker process and all its children (the reading pool is one), summed,
sampled every 0.2 s. Jobs are not retried (FORMCASE_JOB_MAX_ATTEMPTS=1): a job that raises
is reported as failed instead of being retried with back-off. Results: bench/results/
docintel.json (docintel-tesseract.json with --ocr-engine tesseract).

    .venv/bin/python bench/docintel.py [--only text|scan|mrz[,…]] [--limit N] [--dpi 170]
                                       [--ocr-engine rapidocr|tesseract]
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import importlib.util
import io
import json
import os
import platform
import re
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import psutil

from attachments import BIN, free_port, wait_for
from formcase.docintel import scoring

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"
LOGS = RESULTS / "docintel-logs"
JOB_TIMEOUT = 600.0  # seconds a job may take before the bench gives up on it
GB = 1e9

TARGETS = {
    "text_micro": 0.93,
    "scan_micro": 0.88,
    "mrz_valid_share": 0.85,
    "specimens_exact": 4,
    "text_seconds_per_page": 0.5,
    "scan_seconds_per_page": 4.0,
    "worker_memory_bytes": 1.5 * GB,
}

Attachment = tuple[str, bytes, str]  # name, content, media type


def git(*args: str) -> str:
    return subprocess.run(
        ["git", *args], cwd=ROOT, capture_output=True, text=True, check=False
    ).stdout.strip()


def progress(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


# --- the server and the worker ----------------------------------------------------------------


class Memory:
    """Peak RSS of a process and its children (summed), sampled every 0.2 s, per phase."""

    def __init__(self, pid: int) -> None:
        self.root = psutil.Process(pid)
        self.phase = "start-up"
        self.peaks: dict[str, int] = {}
        self.most_processes = 0
        self.done = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _tree(self) -> list[psutil.Process]:
        with contextlib.suppress(psutil.Error):
            return [self.root, *self.root.children(recursive=True)]
        return []

    def sample(self) -> int:
        total, count = 0, 0
        for process in self._tree():
            with contextlib.suppress(psutil.Error):
                total += process.memory_info().rss
                count += 1
        self.most_processes = max(self.most_processes, count)
        self.peaks[self.phase] = max(self.peaks.get(self.phase, 0), total)
        return total

    def _run(self) -> None:
        while not self.done.wait(0.2):
            self.sample()

    def cpu_seconds(self) -> float:
        """CPU used so far by the worker and its live children, and by the children they
        have waited for (tesseract runs as a command per page)."""
        total = 0.0
        for process in self._tree():
            with contextlib.suppress(psutil.Error):
                times = process.cpu_times()
                total += times.user + times.system + times.children_user + times.children_system
        return total

    def enter(self, phase: str) -> None:
        self.sample()
        self.phase = phase
        self.sample()

    def stop(self) -> None:
        self.done.set()
        self.thread.join()

    @property
    def peak(self) -> int:
        return max(self.peaks.values(), default=0)


class Formcase:
    """`formcase serve --no-worker` and one `formcase worker` on a fresh SQLite data dir."""

    def __init__(self, data_dir: Path, ocr_engine: str) -> None:
        self.data_dir = data_dir
        self.env = {
            **os.environ,
            "FORMCASE_DATA_DIR": str(data_dir),
            # The rate limiter stays in the path, with budgets no benchmark reaches.
            "FORMCASE_RATE_LIMIT_TOKEN": "100000000/minute",
            "FORMCASE_RATE_LIMIT_CLIENT": "100000000/hour",
            # A job that raises fails at once (with the reason) rather than being retried.
            "FORMCASE_JOB_MAX_ATTEMPTS": "1",
            "FORMCASE_DOCINTEL_OCR_ENGINE": ocr_engine,
        }
        for name in ("FORMCASE_DATABASE_URL", "FORMCASE_STORAGE_URL"):
            self.env.pop(name, None)
        self.processes: list[subprocess.Popen[bytes]] = []

    def run(self, *args: str) -> str:
        result = subprocess.run([str(BIN), *args], env=self.env, capture_output=True, text=True)
        if result.returncode:
            raise SystemExit(f"formcase {' '.join(args)} failed:\n{result.stderr}")
        return result.stdout

    def _start(self, args: list[str], log: str) -> subprocess.Popen[bytes]:
        LOGS.mkdir(parents=True, exist_ok=True)
        with (LOGS / f"{log}.log").open("wb") as output:
            process = subprocess.Popen(
                [str(BIN), *args], env=self.env, stdout=output, stderr=subprocess.STDOUT
            )
        self.processes.append(process)
        return process

    def start(self) -> tuple[str, str]:
        """Migrates, makes the workspace and token, starts both processes; (base URL, token)."""
        self.run("db", "upgrade")
        self.run("workspace", "create", "bench", "--name", "Bench")
        token = self.run("token", "create", "--workspace", "bench", "--name", "bench")
        port = free_port()
        self._start(["serve", "--no-worker", "--port", str(port)], "serve")
        base = f"http://127.0.0.1:{port}"
        wait_for(f"{base}/healthz")
        self.worker = self._start(["worker"], "worker")
        return base, token.split()[-1]

    def job_times(self, job_id: str) -> dict[str, datetime | None]:
        """A job's created_at, started_at and completed_at, from the database."""
        with contextlib.closing(
            sqlite3.connect(f"file:{self.data_dir / 'formcase.db'}?mode=ro", uri=True)
        ) as database:
            row = database.execute(
                "SELECT created_at, started_at, completed_at FROM docintel_jobs "
                "WHERE id = ? OR id = ?",
                (uuid.UUID(job_id).hex, job_id),
            ).fetchone()
        if row is None:
            return {"created_at": None, "started_at": None, "completed_at": None}
        return {
            name: datetime.fromisoformat(value) if value else None
            for name, value in zip(("created_at", "started_at", "completed_at"), row, strict=True)
        }

    def stop(self) -> None:
        for process in reversed(self.processes):
            process.terminate()
        for process in self.processes:
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()


@dataclass
class Job:
    """What one API job gave back, and how long it took."""

    status: str
    pages: int = 0
    results: dict[str, Any] | None = None
    error: str | None = None
    seconds: float | None = None  # started_at .. completed_at
    queued: float | None = None  # created_at .. started_at
    round_trip: float = 0.0  # POST sent .. completed seen by polling (poll up to 0.4 s)

    def values(self) -> dict[str, Any]:
        if not self.results:
            return {}
        return {item["key"]: item.get("value") for item in self.results.get("fields") or []}

    def summary(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "pages": self.pages,
            "error": self.error,
            "seconds": self.seconds,
            "queued_seconds": self.queued,
            "round_trip_seconds": self.round_trip,
            "source": (self.results or {}).get("source"),
            "validation": (self.results or {}).get("validation"),
        }


class API:
    def __init__(self, formcase: Formcase, base: str, token: str) -> None:
        self.formcase = formcase
        self.client = httpx.Client(
            base_url=base, headers={"Authorization": f"Bearer {token}"}, timeout=120
        )

    def job(self, files: list[Attachment], template: str) -> Job:
        body = {
            "attachments": [
                {"data": base64.b64encode(content).decode(), "name": name, "type": kind}
                for name, content, kind in files
            ],
            "template": template,
        }
        sent = time.monotonic()
        answer = self.client.post("/v1/document-intelligence", json=body)
        if answer.status_code != 202:
            return Job("rejected", error=f"{answer.status_code} {answer.text[:300]}")
        job_id = answer.json()["id"]
        pause = 0.05
        while True:
            time.sleep(pause)
            pause = min(pause * 2, 0.4)
            job = self.client.get(f"/v1/document-intelligence/{job_id}").json()
            if job["status"] in ("completed", "failed"):
                break
            if time.monotonic() - sent > JOB_TIMEOUT:
                return Job(job["status"], error=f"not done after {JOB_TIMEOUT:.0f} s")
        round_trip = time.monotonic() - sent
        times = self.formcase.job_times(job_id)
        created, started, completed = (
            times["created_at"],
            times["started_at"],
            times["completed_at"],
        )
        return Job(
            job["status"],
            pages=job["usage"]["pages"],
            results=job["results"],
            error=job["error"],
            seconds=(completed - started).total_seconds() if started and completed else None,
            queued=(started - created).total_seconds() if started and created else None,
            round_trip=round_trip,
        )


# --- documents --------------------------------------------------------------------------------


def pdf_attachment(path: Path) -> list[Attachment]:
    return [(path.name, path.read_bytes(), "application/pdf")]


def scanned(path: Path, dpi: int) -> list[Attachment]:
    """The PDF's pages as JPEGs (quality 85) at `dpi`: one attachment per page, in order."""
    import pypdfium2 as pdfium  # type: ignore[import-untyped]

    document = pdfium.PdfDocument(str(path))
    pages = []
    try:
        for index in range(len(document)):
            image = document[index].render(scale=dpi / 72).to_pil().convert("RGB")
            buffer = io.BytesIO()
            image.save(buffer, format="JPEG", quality=85)
            pages.append((f"{path.stem}-p{index + 1}.jpg", buffer.getvalue(), "image/jpeg"))
    finally:
        document.close()
    return pages


def image_attachment(path: Path) -> list[Attachment]:
    kind = "image/png" if path.suffix.lower() == ".png" else "image/jpeg"
    return [(path.name, path.read_bytes(), kind)]


def missing(*names: str) -> list[str]:
    """The modules a template needs that do not exist (docintel.extract and the templates
    import them lazily, in the reading process: a job would fail with ModuleNotFoundError)."""
    return [name for name in names if importlib.util.find_spec(name) is None]


# --- floors: the same reading in this process, without API, queue, storage or pool -----------


OCR_ENGINE = {"name": "rapidocr"}  # --ocr-engine, for the worker and the floors alike
CPU_FLOOR: dict[str, float] = {}  # CPU seconds of the last floor_read (this process, all threads)


def own_cpu() -> float:
    """CPU of this process (all its threads) and of the children it waited for."""
    times = os.times()
    return times.user + times.system + times.children_user + times.children_system


def floor_read(files: list[Attachment]) -> float:
    """Seconds to `text.read` the files here; CPU_FLOOR["read"] is the CPU it took."""
    from formcase.docintel import text

    started, cpu = time.perf_counter(), own_cpu()
    for _name, content, kind in files:
        text.read(content, kind, ocr_engine=OCR_ENGINE["name"])  # type: ignore[arg-type]
    CPU_FLOOR["read"] = own_cpu() - cpu
    return time.perf_counter() - started


def floor_extract(files: list[Attachment], template: str) -> float:
    from formcase.docintel import extract

    request = extract.Request(
        template=template,
        fields=None,
        language=None,
        max_pages=20,
        ocr_engine=OCR_ENGINE["name"],  # type: ignore[arg-type]
    )
    started = time.perf_counter()
    extract.run([extract.File(content, kind) for _name, content, kind in files], request)
    return time.perf_counter() - started


# --- invoices ---------------------------------------------------------------------------------


@dataclass
class PathRun:
    """One path's documents: scores, per-document rows, time and memory."""

    name: str
    score: scoring.Score = field(default_factory=scoring.Score)
    documents: list[dict[str, Any]] = field(default_factory=list)
    cpu_seconds: float = 0.0
    cold: dict[str, Any] | None = None  # the warm-up job (pool start, imports, models)

    def timed(self) -> list[dict[str, Any]]:
        return [row for row in self.documents if row["seconds"] is not None and row["pages"]]

    def speed(self) -> dict[str, Any]:
        rows = self.timed()
        pages = sum(row["pages"] for row in rows)
        seconds = sum(row["seconds"] for row in rows)
        per_page = [row["seconds"] / row["pages"] for row in rows]
        figures: dict[str, Any] = {
            "documents": len(rows),
            "pages": pages,
            "seconds": seconds,
            "seconds_per_page": seconds / pages if pages else None,
            "median_document_seconds_per_page": statistics.median(per_page) if rows else None,
            "worst_document_seconds_per_page": max(per_page, default=None),
            "queued_seconds_median": statistics.median(
                [row["queued_seconds"] for row in rows if row["queued_seconds"] is not None]
                or [0.0]
            ),
            "cpu_seconds_per_page": self.cpu_seconds / pages if pages else None,
        }
        for floor in ("floor_read_seconds", "floor_read_cpu_seconds", "floor_extract_seconds"):
            measured = [row for row in rows if row.get(floor) is not None]
            if measured:
                floor_pages = sum(row["pages"] for row in measured)
                figures[floor.replace("_seconds", "_seconds_per_page")] = (
                    sum(row[floor] for row in measured) / floor_pages
                )
        return figures


def run_invoices(
    api: API,
    memory: Memory,
    name: str,
    documents: list[tuple[scoring.GroundTruth, list[Attachment]]],
    expected_source: str,
) -> PathRun:
    result = PathRun(name)
    memory.enter(name)
    cpu = memory.cpu_seconds()
    for number, (truth, files) in enumerate(documents, start=1):
        job = api.job(files, "invoice")
        found = job.values()
        result.score.add(truth, found)
        misses = [m for m in result.score.misses if m.document == truth.name]
        row = {
            "document": truth.name,
            "attachments": len(files),
            "bytes": sum(len(content) for _n, content, _k in files),
            **job.summary(),
            "fields": {key: found.get(key) for key in scoring.FIELDS},
            "confidence": {
                item["key"]: [item.get("confidence"), *item.get("notes", [])]
                for item in (job.results or {}).get("fields") or []
                if item.get("value") is not None and item["key"] != "lines"
            },
            "misses": [{"field": m.field, "expected": m.expected, "got": m.got} for m in misses],
        }
        if job.status == "completed" and row["source"] != expected_source:
            row["unexpected_source"] = True
        result.documents.append(row)
        correct = len(truth.fields) - len(misses)
        timing = f"{job.seconds:.2f} s" if job.seconds is not None else "-"
        progress(
            f"  {name} {number}/{len(documents)} {truth.name}: {job.status}, "
            f"{job.pages} p, {timing}, {correct}/{len(truth.fields)} fields"
            + (f" ({job.error})" if job.error else "")
        )
    result.cpu_seconds = memory.cpu_seconds() - cpu
    memory.enter(f"after {name}")
    return result


def add_floors(path: PathRun, files: Mapping[str, list[Attachment]], extract_too: bool) -> None:
    for row in path.documents:
        attachments = files[row["document"]]
        row["floor_read_seconds"] = floor_read(attachments)
        row["floor_read_cpu_seconds"] = CPU_FLOOR["read"]
        if extract_too:
            row["floor_extract_seconds"] = floor_extract(attachments, "invoice")
        progress(
            f"  floor {path.name} {row['document']}: read {row['floor_read_seconds']:.2f} s"
            + (f", extract {row['floor_extract_seconds']:.2f} s" if extract_too else "")
        )


def invoice2data_disabled() -> Callable[[scoring.GroundTruth], dict[str, object]]:
    """invoice2data's `extract_data` with its bundled templates disabled.

    `extract_data(path, templates=[])` does NOT disable them: the function starts with
    `templates = _by_priority(templates or read_templates())`, so an empty list (and
    `Invoice2Data(load_built_in_templates=False)` without a folder of its own, which passes
    its empty list) loads the 215 bundled templates again. What disables them is a list
    holding one template whose keyword never occurs: the text is still read by its default
    backends (pdfium, then pdftotext) and OCR would be tried last (ocrmypdf, not installed
    here), but no template matches."""
    from invoice2data import extract_data
    from invoice2data.extract.invoice_template import InvoiceTemplate
    from invoice2data.extract.loader import prepare_template

    never = prepare_template(
        {
            "issuer": "none",
            "keywords": ["\x00no template\x00"],
            "fields": {},
            "template_name": "never.yml",
        }
    )
    assert never is not None
    templates = [InvoiceTemplate(never)]

    def predict(truth: scoring.GroundTruth) -> dict[str, object]:
        found = extract_data(str(truth.pdf), templates=templates)
        return {
            key: found[source]
            for source, key in scoring.INVOICE2DATA_KEYS.items()
            if found.get(source) is not None
        }

    return predict


def invoice2data_suggestions(truth: scoring.GroundTruth) -> dict[str, object]:
    """invoice2data's template-less heuristics (`extract.suggestions.suggest_from_text`, meant
    to propose fields when authoring a template) on its pdfium text: earliest date = date,
    latest = due date, largest amount = total, first IBAN and VAT id."""
    from invoice2data.extract.suggestions import suggest_from_text
    from invoice2data.input import pdfium

    suggested = suggest_from_text(pdfium.to_text(str(truth.pdf)))
    found: dict[str, object] = {}
    for source, key in (("date", "issue_date"), ("date_due", "due_date")):
        if source in suggested:
            found[key] = suggested[source].parsed.date().isoformat()
    if "amount" in suggested:
        found["total_amount"] = f"{suggested['amount'].parsed:.2f}"
    if "iban" in suggested:
        found["iban"] = suggested["iban"].parsed
    if "vat" in suggested:
        found["supplier_vat_number"] = suggested["vat"].parsed
    return found


def run_baseline(
    name: str,
    truths: list[scoring.GroundTruth],
    predict: Callable[[scoring.GroundTruth], Mapping[str, object]],
) -> dict[str, Any]:
    import logging

    logging.getLogger("invoice2data").setLevel(logging.CRITICAL)  # "No template for …" each
    score = scoring.Score()
    seconds = 0.0
    nonempty = 0
    for truth in truths:
        started = time.perf_counter()
        found = predict(truth)
        seconds += time.perf_counter() - started
        nonempty += bool(found)
        score.add(truth, found)
    progress(f"  {name}: {score.correct}/{score.total}, {nonempty} documents with any value")
    return {"score": score, "seconds": seconds, "documents_with_values": nonempty}


# --- MRZ --------------------------------------------------------------------------------------

MRZ_FIELDS = {  # ground_truth.json's keys -> the id_document template's field keys
    "type": "document_type",
    "country": "issuing_country",
    "surname": "surname",
    "names": "given_names",
    "number": "document_number",
    "nationality": "nationality",
    "date_of_birth": "birth_date",
    "sex": "sex",
    "expiration_date": "expiry_date",
    "personal_number": "optional_data",
    "optional1": "optional_data",
}
DOCUMENT_TYPES = {"P": "passport", "I": "id_card", "A": "id_card", "C": "id_card", "V": "visa"}


def mrz_expected(truth: Mapping[str, Any]) -> dict[str, str | None]:
    """A specimen's ground truth as the template writes it: dates ISO (birth 19xx, expiry
    20xx for these specimens), the type as a word, fillers (<) dropped, empty as None."""
    expected: dict[str, str | None] = {}
    for source, key in MRZ_FIELDS.items():
        if source not in truth:
            continue
        value = str(truth[source])
        if source in ("date_of_birth", "expiration_date"):
            century = "19" if source == "date_of_birth" else "20"
            value = f"{century}{value[:2]}-{value[2:4]}-{value[4:6]}"
        elif source == "type":
            value = DOCUMENT_TYPES.get(value[:1], value)
        else:
            value = value.replace("<", " ").strip()
        expected[key] = value or None
    return expected


def mrz_check_digits_valid(results: Mapping[str, Any] | None) -> bool | None:
    """Whether the job's MRZ came back with every check digit valid (`results.mrz.checks`
    all true; `results.mrz.valid` when it has no checks); False when no MRZ came back."""
    if not results or not isinstance(results.get("mrz"), Mapping):
        return False
    mrz = results["mrz"]
    checks = mrz.get("checks")
    if isinstance(checks, Mapping) and checks:
        return all(value is True for value in checks.values())
    valid = mrz.get("valid")
    return bool(valid) if isinstance(valid, bool) else None


def run_mrz(api: API, memory: Memory, limit: int | None, warm_up: bool) -> dict[str, Any]:
    root = scoring.dev_root() / "mrz-passporteye"
    truth = json.loads((root / "ground_truth.json").read_text())["field_level"]
    labelled = sorted((root / "testdata").iterdir())
    specimens = sorted((root / "tests-data").iterdir())
    images = [*labelled, *specimens]
    if limit is not None:
        images = images[:limit]
    cold = None
    if warm_up:  # nothing ran before: the first job would start the pool and load models
        progress(f"warm-up: {specimens[0].name} (pool start, OCR models)")
        cold = api.job(image_attachment(specimens[0]), "id_document").summary()
    memory.enter("mrz")
    cpu = memory.cpu_seconds()
    rows = []
    for number, path in enumerate(images, start=1):
        job = api.job(image_attachment(path), "id_document")
        relative = f"{path.parent.name}/{path.name}"
        match = re.match(r"(\d+)_", path.name)
        row: dict[str, Any] = {
            "image": relative,
            "expected_score": int(match[1]) if match else None,
            **job.summary(),
            "mrz": (job.results or {}).get("mrz"),
            "fields": job.values(),
            "check_digits_valid": mrz_check_digits_valid(job.results)
            if job.status == "completed"
            else False,
        }
        if relative in truth:
            expected = mrz_expected(truth[relative])
            got = job.values()
            wrong = {
                key: {"expected": value, "got": got.get(key)}
                for key, value in expected.items()
                if got.get(key) != value
            }
            lines = truth[relative].get("mrz_lines")
            if lines is not None:
                row["specimen_lines_exact"] = (row["mrz"] or {}).get("lines") == lines
            row["specimen_wrong"] = wrong
            row["specimen_exact"] = not wrong
        rows.append(row)
        timing = f"{job.seconds:.2f} s" if job.seconds is not None else "-"
        progress(
            f"  mrz {number}/{len(images)} {relative}: {job.status}, {timing}, "
            f"check digits valid: {row['check_digits_valid']}"
            + (f", exact: {row['specimen_exact']}" if "specimen_exact" in row else "")
            + (f" ({job.error})" if job.error else "")
        )
    cpu_seconds = memory.cpu_seconds() - cpu
    memory.enter("after mrz")
    progress("floor: text.read (OCR) of the MRZ images in this process")
    floor_read(image_attachment(images[0]))  # models, first use
    for row, path in zip(rows, images, strict=True):
        row["floor_read_seconds"] = floor_read(image_attachment(path))
        row["floor_read_cpu_seconds"] = CPU_FLOOR["read"]
    hundred = [row for row in rows if row["expected_score"] == 100]
    others = [row for row in rows if row["expected_score"] not in (None, 100)]
    specimen_rows = [row for row in rows if "specimen_exact" in row]
    timed = [row for row in rows if row["seconds"] is not None]
    return {
        "images": rows,
        "score_100": len(hundred),
        "score_100_valid": sum(row["check_digits_valid"] is True for row in hundred),
        "others": len(others),
        "others_valid": sum(row["check_digits_valid"] is True for row in others),
        "specimens": len(specimen_rows),
        "specimens_valid": sum(row["check_digits_valid"] is True for row in specimen_rows),
        "specimens_exact": sum(row["specimen_exact"] for row in specimen_rows),
        "seconds_per_image": statistics.mean(row["seconds"] for row in timed) if timed else None,
        "worst_seconds": max((row["seconds"] for row in timed), default=None),
        "floor_read_seconds_per_image": statistics.mean(row["floor_read_seconds"] for row in rows)
        if rows
        else None,
        "floor_read_cpu_seconds_per_image": statistics.mean(
            row["floor_read_cpu_seconds"] for row in rows
        )
        if rows
        else None,
        "cold_job": cold,
        "cpu_seconds": cpu_seconds,
        "cpu_seconds_per_image": cpu_seconds / len(rows) if rows else None,
    }


# --- report -----------------------------------------------------------------------------------


def cell(tally: scoring.Tally | None) -> str:
    if tally is None or not tally.total:
        return "-"
    return f"{tally.correct}/{tally.total} {tally.accuracy:.0%}"


def micro_cell(score: scoring.Score) -> str:
    return f"{score.correct}/{score.total} {score.micro:.1%}" if score.total else "-"


def accuracy_table(columns: dict[str, scoring.Score]) -> list[str]:
    names = list(columns)
    lines = ["| field | " + " | ".join(names) + " |", "|---|" + "---:|" * len(names)]
    for key in scoring.FIELDS:
        if any(key in score.per_field for score in columns.values()):
            cells = [cell(columns[name].per_field.get(key)) for name in names]
            lines.append(f"| {key} | " + " | ".join(cells) + " |")
    lines.append(
        "| **micro-average** | "
        + " | ".join(f"**{micro_cell(columns[name])}**" for name in names)
        + " |"
    )
    return lines


def seconds(value: float | None, unit: str = "s") -> str:
    return f"{value:.2f} {unit}".strip() if value is not None else "-"


def speed_table(paths: dict[str, dict[str, Any]]) -> list[str]:
    lines = [
        "| path | documents | pages | s/page (all pages) | median doc s/page "
        "| worst doc s/page | floor text.read s/page | floor extract.run s/page "
        "| worker CPU s/page | floor text.read CPU s/page | queued (median) |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for name, speed in paths.items():
        lines.append(
            f"| {name} | {speed['documents']} | {speed['pages']} | "
            f"{seconds(speed['seconds_per_page'])} | "
            f"{seconds(speed['median_document_seconds_per_page'])} | "
            f"{seconds(speed['worst_document_seconds_per_page'])} | "
            f"{seconds(speed.get('floor_read_seconds_per_page'))} | "
            f"{seconds(speed.get('floor_extract_seconds_per_page'))} | "
            f"{seconds(speed['cpu_seconds_per_page'])} | "
            f"{seconds(speed.get('floor_read_cpu_seconds_per_page'))} | "
            f"{seconds(speed['queued_seconds_median'])} |"
        )
    return lines


def score_json(score: scoring.Score) -> dict[str, Any]:
    return {
        "micro": score.micro,
        "correct": score.correct,
        "total": score.total,
        "per_field": {
            key: {"correct": tally.correct, "total": tally.total, "accuracy": tally.accuracy}
            for key, tally in score.per_field.items()
        },
        "misses": [
            {"document": m.document, "field": m.field, "expected": m.expected, "got": m.got}
            for m in score.misses
        ],
    }


def mib(value: float) -> str:
    return f"{value / 2**20:,.0f} MiB"


@contextlib.contextmanager
def formcase_running(ocr_engine: str) -> Iterator[tuple[Formcase, API, Memory]]:
    with tempfile.TemporaryDirectory(prefix="formcase-bench-docintel-") as folder:
        formcase = Formcase(Path(folder), ocr_engine)
        memory: Memory | None = None
        try:
            base, token = formcase.start()
            memory = Memory(formcase.worker.pid)
            yield formcase, API(formcase, base, token), memory
        finally:
            if memory is not None:
                memory.stop()
            formcase.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--only", help="text, scan or mrz (or several: scan,mrz); default all")
    parser.add_argument("--limit", type=int, help="the first N documents (and images) only")
    parser.add_argument("--dpi", type=int, default=170, help="scan path rendering (150-200)")
    parser.add_argument(
        "--ocr-engine",
        choices=["rapidocr", "tesseract"],
        default="rapidocr",
        help="FORMCASE_DOCINTEL_OCR_ENGINE of the worker, and the floors' engine",
    )
    args = parser.parse_args()
    parts = args.only.split(",") if args.only else ["text", "scan", "mrz"]
    if not set(parts) <= {"text", "scan", "mrz"}:
        parser.error("--only takes text, scan and mrz, separated by commas")

    if not scoring.dev_root().is_dir():
        raise SystemExit(f"the development set is not at {scoring.dev_root()}")
    truths = scoring.load_dev_set()
    if args.limit is not None:
        truths = truths[: args.limit]
    invoice_missing = missing(
        "formcase.docintel.invoice_template",
        "formcase.docintel.invoice",
        "formcase.docintel.facturx",
    )
    identity_missing = missing("formcase.docintel.identity", "formcase.docintel.mrz")
    record: dict[str, Any] = {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
        "machine": platform.node(),
        "cores": os.cpu_count(),
        "memory_bytes": psutil.virtual_memory().total,
        "load_average_before": os.getloadavg(),
        "database": "SQLite (fresh data dir)",
        "git_head": git("rev-parse", "--short", "HEAD"),
        # others' uncommitted changes to the code measured, if any
        "git_uncommitted": git("status", "--short", "--", "src/formcase/docintel").splitlines(),
        "docintel_processes": os.environ.get("FORMCASE_DOCINTEL_PROCESSES", "1 (default)"),
        "dpi": args.dpi,
        "ocr_engine": args.ocr_engine,
        "jpeg_quality": 85,
        "parts": parts,
        "limit": args.limit,
    }
    paths: dict[str, PathRun] = {}
    speeds: dict[str, dict[str, Any]] = {}
    baselines: dict[str, dict[str, Any]] = {}
    mrz: dict[str, Any] | None = None
    notes: list[str] = []

    started = time.monotonic()
    OCR_ENGINE["name"] = args.ocr_engine
    with formcase_running(args.ocr_engine) as (_formcase, api, memory):
        memory.enter("warm-up")
        if {"text", "scan"} & set(parts) and invoice_missing:
            notes.append(
                "invoice: not available (template 'invoice' needs "
                f"{', '.join(invoice_missing)}, which does not exist)"
            )
        elif {"text", "scan"} & set(parts):
            first = truths[0].pdf
            if "text" in parts:
                progress(f"warm-up: {first.name} (pool start, imports)")
                paths_cold = api.job(pdf_attachment(first), "invoice").summary()
                record["cold_text_job"] = paths_cold
            if "scan" in parts:
                progress(f"warm-up: {first.stem} page 1 as JPEG (OCR models)")
                record["cold_scan_job"] = api.job(scanned(first, args.dpi)[:1], "invoice").summary()
        if "text" in parts and not invoice_missing:
            progress(f"text path: {len(truths)} PDFs")
            pdfs = {truth.name: pdf_attachment(truth.pdf) for truth in truths}
            documents = [(truth, pdfs[truth.name]) for truth in truths]
            paths["text"] = run_invoices(api, memory, "text", documents, "text_layer")
            progress("invoice2data on the same PDFs (in this process)")
            baselines["invoice2data, bundled templates disabled"] = run_baseline(
                "invoice2data extract_data", truths, invoice2data_disabled()
            )
            baselines["invoice2data suggest_from_text (no template)"] = run_baseline(
                "invoice2data suggest_from_text", truths, invoice2data_suggestions
            )
            progress("floor: text.read and extract.run in this process")
            floor_read(pdfs[truths[0].name])  # imports, first use
            add_floors(paths["text"], pdfs, extract_too=True)
            speeds["text layer"] = paths["text"].speed()
        if "scan" in parts and not invoice_missing:
            progress(f"scan path: rendering {len(truths)} PDFs at {args.dpi} dpi")
            scans = {truth.name: scanned(truth.pdf, args.dpi) for truth in truths}
            documents = [(truth, scans[truth.name]) for truth in truths]
            paths["scan"] = run_invoices(api, memory, "scan", documents, "ocr")
            pngs = [truth for truth in truths if truth.image is not None]
            if pngs:
                progress(f"PNG row: {len(pngs)} images")
                images = {
                    truth.name: image_attachment(truth.image) for truth in pngs if truth.image
                }
                paths["png"] = run_invoices(
                    api, memory, "png", [(t, images[t.name]) for t in pngs], "ocr"
                )
                speeds["PNG (invoice2data's 4)"] = paths["png"].speed()
            progress("floor: text.read (OCR) of the scans in this process")
            floor_read(scans[truths[0].name][:1])  # models, first use
            add_floors(paths["scan"], scans, extract_too=False)
            speeds["scan (JPEG pages)"] = paths["scan"].speed()
        if "mrz" in parts:
            if identity_missing:
                notes.append(
                    "MRZ: not available (template 'id_document' needs "
                    f"{', '.join(identity_missing)}, which does not exist)"
                )
            else:
                progress("MRZ: id_document")
                mrz = run_mrz(api, memory, args.limit, warm_up=parts == ["mrz"])
        memory.enter("end")
        peaks = dict(memory.peaks)
        peak = memory.peak
        most_processes = memory.most_processes
    record["elapsed_seconds"] = time.monotonic() - started
    record["load_average_after"] = os.getloadavg()

    # --- print -------------------------------------------------------------------------------
    print(
        f"\n{record['date']} — {record['machine']}, {record['cores']} cores, "
        f"{record['memory_bytes'] / 2**30:.0f} GiB; load average before "
        f"{record['load_average_before'][0]:.1f}, after {record['load_average_after'][0]:.1f}; "
        f"SQLite; OCR {args.ocr_engine}; scans at {args.dpi} dpi JPEG; "
        f"{record['elapsed_seconds']:.0f} s in all"
    )
    print(
        f"code: {record['git_head']}"
        + (
            f" with uncommitted src/formcase/docintel changes: {record['git_uncommitted']}"
            if record["git_uncommitted"]
            else ""
        )
    )
    for note in notes:
        print(f"\n{note}")
    columns: dict[str, scoring.Score] = {}
    if "text" in paths:
        columns["formcase, text layer"] = paths["text"].score
    if "scan" in paths:
        columns[f"formcase, scan ({args.dpi} dpi)"] = paths["scan"].score
    for name, baseline in baselines.items():
        columns[name] = baseline["score"]
    if columns:
        print("\nInvoice fields, correct/scored (exact after normalisation):\n")
        print("\n".join(accuracy_table(columns)))
    if "png" in paths:
        print("\nExtra row, the 4 PNGs of invoices-invoice2data (OCR):\n")
        print("\n".join(accuracy_table({"formcase, PNG": paths["png"].score})))
    if speeds:
        print("\nSpeed (one job at a time; worker = the job's started_at..completed_at):\n")
        print("\n".join(speed_table(speeds)))
        for key in ("cold_text_job", "cold_scan_job"):
            if key in record:
                cold = record[key]
                print(
                    f"  first {key.split('_')[1]} job (pool start, imports/models): "
                    f"{seconds(cold['seconds'])} for {cold['pages']} page(s), {cold['status']}"
                )
    if mrz is not None:
        print("\nMRZ (template id_document):\n")
        print(
            f"  score-100 images with every check digit valid: {mrz['score_100_valid']}/"
            f"{mrz['score_100']}"
            + (f" ({mrz['score_100_valid'] / mrz['score_100']:.0%})" if mrz["score_100"] else "")
        )
        print(f"  other score-labelled images valid: {mrz['others_valid']}/{mrz['others']}")
        print(
            f"  specimens: {mrz['specimens_exact']}/{mrz['specimens']} exact, "
            f"{mrz['specimens_valid']}/{mrz['specimens']} check digits valid"
        )
        print(
            f"  {seconds(mrz['seconds_per_image'])} per image (worst "
            f"{seconds(mrz['worst_seconds'])}), worker CPU "
            f"{seconds(mrz['cpu_seconds_per_image'])}; floor text.read "
            f"{seconds(mrz['floor_read_seconds_per_image'])}, CPU "
            f"{seconds(mrz['floor_read_cpu_seconds_per_image'])} per image\n"
        )
        print("| image | expected score | job | every check digit valid | s | floor s | specimen |")
        print("|---|---:|---|---|---:|---:|---|")
        for row in mrz["images"]:
            specimen = ""
            if "specimen_exact" in row:
                specimen = "exact" if row["specimen_exact"] else json.dumps(row["specimen_wrong"])
                if row.get("specimen_lines_exact") is False:
                    specimen += " (MRZ lines differ)"
            label = row["expected_score"] if row["expected_score"] is not None else ""
            print(
                f"| {row['image']} | {label} "
                f"| {row['status']} | {'yes' if row['check_digits_valid'] else 'no'} "
                f"| {seconds(row['seconds'], '')} | {seconds(row.get('floor_read_seconds'), '')} "
                f"| {specimen} |" + (f" {row['error']}" if row["error"] else "")
            )
    print(
        f"\nWorker memory (RSS of the worker and its children, summed, every 0.2 s): peak "
        f"{mib(peak)} over at most {most_processes} processes; by phase: "
        + ", ".join(f"{name} {mib(value)}" for name, value in peaks.items())
    )

    # --- targets -----------------------------------------------------------------------------
    checks: list[tuple[str, str, bool]] = []
    if "text" in paths:
        micro = paths["text"].score.micro
        checks.append(("invoice fields, text path ≥ 93 %", f"{micro:.1%}", micro >= 0.93))
    if "scan" in paths:
        micro = paths["scan"].score.micro
        checks.append(("invoice fields, scan path ≥ 88 %", f"{micro:.1%}", micro >= 0.88))
    if mrz is not None and mrz["score_100"]:
        share = mrz["score_100_valid"] / mrz["score_100"]
        checks.append(
            ("MRZ check digits valid, score-100 images ≥ 85 %", f"{share:.0%}", share >= 0.85)
        )
    if mrz is not None and mrz["specimens"]:
        checks.append(
            (
                "specimens exact 4/4",
                f"{mrz['specimens_exact']}/{mrz['specimens']}",
                mrz["specimens_exact"] == 4,
            )
        )
    for label, key, limit in (
        ("text layer ≤ 0.5 s/page", "text layer", 0.5),
        ("scan ≤ 4 s/page", "scan (JPEG pages)", 4.0),
    ):
        if key in speeds and speeds[key]["seconds_per_page"] is not None:
            value = speeds[key]["seconds_per_page"]
            checks.append((label, f"{value:.2f} s", value <= limit))
    if paths or mrz is not None:  # something was read
        checks.append(("worker memory ≤ 1.5 GB", mib(peak), peak <= TARGETS["worker_memory_bytes"]))
    print("\nTargets:")
    for label, value, met in checks:
        print(f"  {label:<50} {value:>12}  {'met' if met else 'NOT MET'}")

    for name, path in paths.items():
        failed = [row for row in path.documents if row["status"] != "completed"]
        odd = [row["document"] for row in path.documents if row.get("unexpected_source")]
        if failed or odd:
            print(
                f"\n{name}: {len(failed)} job(s) not completed, read from an unexpected source: "
                f"{', '.join(odd) or 'none'}"
            )
            for row in failed:
                print(f"  {row['document']}: {row['status']} {row['error']}")
    for name, path in paths.items():
        if path.score.misses:
            print(f"\nMisses, {name}:")
            for miss in path.score.misses:
                print(
                    f"  {miss.document} {miss.field}: expected {miss.expected!r}, got {miss.got!r}"
                )

    record.update(
        {
            "notes": notes,
            "paths": {
                name: {
                    "score": score_json(path.score),
                    "documents": path.documents,
                    "speed": path.speed(),
                }
                for name, path in paths.items()
            },
            "baselines": {
                name: {
                    **score_json(b["score"]),
                    "seconds": b["seconds"],
                    "documents_with_values": b["documents_with_values"],
                }
                for name, b in baselines.items()
            },
            "mrz": mrz,
            "memory": {"peak_bytes": peak, "by_phase": peaks, "most_processes": most_processes},
            "targets": [{"target": t, "measured": v, "met": m} for t, v, m in checks],
        }
    )
    RESULTS.mkdir(exist_ok=True)
    name = "docintel.json" if args.ocr_engine == "rapidocr" else f"docintel-{args.ocr_engine}.json"
    (RESULTS / name).write_text(json.dumps(record, indent=2, default=str))


if __name__ == "__main__":
    main()
