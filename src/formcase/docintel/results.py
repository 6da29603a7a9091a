"""What every job's `results` says besides its fields (reference §10.2): one scale of
confidence, one idea of blurry, one validation block, whichever template ran."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Literal

from formcase.docintel.layout import Page, Source

Confidence = Literal["high", "medium", "low"]
HIGH, MEDIUM = 0.8, 0.5  # score thresholds of the confidence levels
# Variance of the Laplacian under which a photo or scan is called blurry (docintel.text
# measures it on the page as read, scaled to ~200 dpi).
BLURRY_BELOW = 60.0
BLURRY = "The image is blurry: a sharper photo would read better."


def confidence_of(score: float) -> Confidence:
    return "high" if score >= HIGH else "medium" if score >= MEDIUM else "low"


def is_blurry(pages: Iterable[Page]) -> bool:
    return any(page.sharpness is not None and page.sharpness < BLURRY_BELOW for page in pages)


def results(
    fields: list[dict[str, Any]],
    *,
    is_valid: bool,
    pages: list[Page],
    notes: list[str],
    document_type: str | None,
    source: Source,
    **more: Any,
) -> dict[str, Any]:
    """A job's `results`: `notes` say what a person should know (the blurry image added)."""
    blurry = is_blurry(pages)
    explanation = [*notes, BLURRY] if blurry else notes
    return {
        "fields": fields,
        "validation": {
            "is_valid": is_valid,
            "is_blurry": blurry,
            "user_explanation": " ".join(explanation) or None,
        },
        "document_type": document_type,
        "source": source,
        **more,
    }
