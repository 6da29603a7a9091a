"""What a worker's reading process runs for one job: read the files, find what was asked,
and return the job's `results` (reference §10.2). Runs in a process of the pool
(docintel.jobs): everything here is synchronous, and its arguments and results pickle.

The readers and extractors are imported inside `run`, in the pool's process: the server and
the worker's own process never load OCR models."""

from __future__ import annotations

import os
import threading
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from formcase.docintel.layout import Page


@dataclass(frozen=True)
class File:
    content: bytes
    media_type: str


@dataclass(frozen=True)
class Request:
    template: str | None  # invoice, id_document; None: `fields`
    fields: list[dict[str, Any]] | None  # [{key, name, type, hint}]
    language: str | None
    max_pages: int
    ocr_engine: Literal["rapidocr", "tesseract"] = "rapidocr"  # FORMCASE_DOCINTEL_OCR_ENGINE


def watch_parent(parent: int) -> None:
    """Run in each reading process as it starts: end it when the worker that started it is
    gone. A pool's process holds both ends of its task queue, so it never sees the queue close
    when the worker is killed (SIGKILL, OOM): it would wait, holding its memory, forever."""

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(1)
        os._exit(0)

    threading.Thread(target=watch, name="formcase-watch-parent", daemon=True).start()


def read_pages(files: list[File], request: Request) -> list[Page]:
    """Every page of the job's files, numbered across them (attachment 2's first page follows
    attachment 1's last)."""
    from formcase.docintel import text

    pages: list[Page] = []
    for file in files:
        read = text.read(
            file.content,
            file.media_type,
            max_pages=request.max_pages,
            ocr_engine=request.ocr_engine,
        )
        for page in read.pages:
            page.number = len(pages) + 1
            pages.append(page)
    return pages


class Unreadable(Exception):
    """A document that cannot be read: the job fails with this message (no retry helps)."""

    @property
    def message(self) -> str:
        return str(self.args[0])


def run(files: list[File], request: Request) -> dict[str, Any]:
    from formcase.docintel import custom, identity, invoice_template, text

    try:
        if request.template == "invoice":
            return invoice_template.extract(files, request)
        if request.template == "id_document":
            return identity.extract(files, request)
        return custom.extract(read_pages(files, request), request.fields or [], request.language)
    except text.UnreadableDocument as exc:
        raise Unreadable(exc.message) from None
