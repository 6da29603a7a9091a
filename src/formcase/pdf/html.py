"""HTML to PDF: Jinja2 templates from pdf/templates rendered by WeasyPrint, offline.

The documents are made from what contacts typed, so nothing in them may reach out: the only
URLs WeasyPrint may fetch are data: URIs (the embedded images)."""

from __future__ import annotations

import base64
import logging
from datetime import UTC, datetime
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

# WeasyPrint warns about every CSS property it skips and every URL it refuses; neither is
# news once the templates are written.
logging.getLogger("weasyprint").setLevel(logging.ERROR)

_ENVIRONMENT = Environment(
    loader=PackageLoader("formcase.pdf", "templates"),
    autoescape=select_autoescape(["html"]),
    undefined=StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)


def data_uri(content: bytes, media_type: str = "image/png") -> str:
    return f"data:{media_type};base64,{base64.b64encode(content).decode()}"


def when(value: datetime | None, zone: bool = True) -> str:
    """A moment as every document here writes it: UTC, to the second, with its zone unless
    a column heading says it."""
    if value is None:
        return ""
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S" + (" UTC" if zone else ""))


def size(count: int) -> str:
    if count < 1024:
        return f"{count} bytes"
    amount = float(count)
    for unit in ("KB", "MB", "GB"):
        amount /= 1024
        if amount < 1024 or unit == "GB":
            break
    return f"{amount:.1f} {unit}"


_ENVIRONMENT.filters.update(when=when, size=size, data_uri=data_uri)


def render_pdf(template: str, context: dict[str, Any]) -> bytes:
    """The PDF of one template of pdf/templates, rendered with `context` (its <title> is the
    PDF's title)."""
    # Imported here: WeasyPrint takes a second to import, which every `formcase` command
    # would pay otherwise.
    from weasyprint import HTML  # type: ignore[import-untyped]
    from weasyprint.urls import URLFetcher  # type: ignore[import-untyped]

    html = _ENVIRONMENT.get_template(template).render(**context)
    fetcher = URLFetcher(allowed_protocols={"data"}, timeout=1, allow_redirects=False)
    document = HTML(string=html, base_url="about:blank", url_fetcher=fetcher)
    pdf: bytes = document.write_pdf()
    return pdf
