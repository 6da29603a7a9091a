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
from typing import Any, Literal


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


class Unreadable(Exception):
    """A document that cannot be read: the job fails with this message (no retry helps)."""

    @property
    def message(self) -> str:
        return str(self.args[0])


def run(files: list[File], request: Request) -> dict[str, Any]:
    from formcase.docintel import text

    try:
        # the templates' own reads take the job's OCR engine from here
        with text.using_ocr_engine(request.ocr_engine):
            if request.template == "invoice":
                from formcase.docintel import invoice_template

                return invoice_template.extract(files, request)
            if request.template == "id_document":
                from formcase.docintel import identity

                return identity.extract(files, request)
            from formcase.docintel import custom

            documents = [
                text.read(file.content, file.media_type, max_pages=request.max_pages)
                for file in files
            ]
            return custom.extract(documents, request.fields or [], request.language)
    except text.UnreadableDocument as exc:
        raise Unreadable(exc.message) from None
