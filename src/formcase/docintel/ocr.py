"""OCR of a page image into layout words, with the page turned upright and straightened first.

One rapidocr engine per process, made on first use: loading its three ONNX models takes a
moment and some 100 MB, which the API process (it only inspects uploads) never needs. The
models are the ones rapidocr's wheel ships, named by path: rapidocr downloads any model it
does not find, and this machine has no network to do that.

The bundled PP-OCRv6 "small" recogniser is multilingual (its model card lists en, fr, de, nl
and 40-odd other Latin-script languages beside Chinese): it reads accents, €, digits and
IBANs as printed, so no other model is wanted.

How a page is read:
1. one full pass (detection + recognition) on the image as given;
2. the detected text lines tell the page's geometry: mostly tall boxes mean the page lies on
   its side; the length-weighted median angle of the long lines is its skew; rapidocr's
   0°/180° classifier, on stretches of the longest lines, tells which way up;
3. a page that is turned or skewed is rotated upright (OpenCV) and read again, so that the
   boxes, and the layout rules that use them, are those of the upright page. Where the
   classifier's answer reads worse than the alternative (it is unsure on some fonts), the
   more legible reading wins.
Most pages are upright and straight, and are read once.

The turn and the skew found are taken out by `straighten`, which the tesseract engine
(docintel.tesseract, FORMCASE_DOCINTEL_OCR_ENGINE=tesseract) uses too, with the skew of its
own lines (`line_skew`) and its own orientation detection.
"""

from __future__ import annotations

import math
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import cv2
import numpy as np
import numpy.typing as npt
from PIL import Image

from formcase.docintel.layout import Box, Word

if TYPE_CHECKING:
    from rapidocr import RapidOCR

    from formcase.docintel.text import OcrEngine

Pixels = npt.NDArray[np.uint8]

# The wheel's own files (rapidocr 3.10): PP-OCRv6 small detection and recognition, and the
# 0°/180° text-line classifier.
DETECTION_MODEL = "PP-OCRv6_det_small.onnx"
RECOGNITION_MODEL = "PP-OCRv6_rec_small.onnx"
CLASSIFIER_MODEL = "ch_ppocr_mobile_v2.0_cls_mobile.onnx"

# Text detection runs on the image shrunk to this long side (rapidocr's default grows the
# short side to 736 instead, which on a 2000 px page costs ~850 MB at peak): 1280 px finds
# the same lines on A4 pages, in half the time and ~550 MB.
DETECTION_SIDE = 1280

# Skew below this is left alone: it barely moves a word's box and a second pass costs a second.
MIN_SKEW_DEGREES = 0.8
# Larger angles are not skew but something the quarter turns or a person should handle.
MAX_SKEW_DEGREES = 20.0
# Lines sampled for the upright/upside-down vote: the longest ones say it most reliably.
ORIENTATION_SAMPLES = 12

_engine: RapidOCR | None = None
_engine_lock = threading.Lock()
# rapidocr keeps per-call switches (use_cls, return_word_box) on the engine object: calls are
# serialised so that two threads cannot mix them. ONNX Runtime uses every core within a call.
_call_lock = threading.Lock()


def model_dir() -> Path:
    import rapidocr

    return Path(rapidocr.__file__).resolve().parent / "models"


def engine() -> RapidOCR:
    """The process's engine, made on first use from the bundled model files only."""
    global _engine
    if _engine is None:
        with _engine_lock:
            if _engine is None:
                from rapidocr import RapidOCR

                models = model_dir()
                paths = {
                    "Det.model_path": models / DETECTION_MODEL,
                    "Rec.model_path": models / RECOGNITION_MODEL,
                    "Cls.model_path": models / CLASSIFIER_MODEL,
                }
                for path in paths.values():
                    if not path.is_file():  # never let rapidocr fall back to downloading
                        raise RuntimeError(f"rapidocr's bundled model {path} is missing")
                params: dict[str, Any] = {key: str(path) for key, path in paths.items()}
                params["Global.log_level"] = "error"  # not a warning per blank page
                params["Det.limit_type"] = "max"
                params["Det.limit_side_len"] = DETECTION_SIDE
                params["Global.model_root_dir"] = str(models)
                _engine = RapidOCR(params=params)
    return _engine


@dataclass(frozen=True)
class Reading:
    """What OCR found on one image, in the frame of the upright, straightened image."""

    words: list[Word]
    rotation: int  # degrees the image was turned clockwise to read it: 0, 90, 180 or 270
    skew: float  # degrees of small rotation taken out after that (counter-clockwise positive)
    width: int  # pixels of the upright image, which the boxes are fractions of
    height: int


def recognise(image: Pixels | Image.Image) -> list[Word]:
    """The words on an image, boxes as fractions of the upright page."""
    return read_image(image).words


def read_image(image: Pixels | Image.Image, ocr_engine: OcrEngine = "rapidocr") -> Reading:
    """OCR of a photo or a rendered page (RGB or grey), turned upright and deskewed first, by
    rapidocr or (`ocr_engine="tesseract"`) by Debian's tesseract (docintel.tesseract)."""
    bgr = to_bgr(image)
    if ocr_engine == "tesseract":
        from formcase.docintel import tesseract

        return tesseract.read_image(bgr)
    first = _run(bgr)
    if not first.txts:
        height, width = bgr.shape[:2]
        return Reading([], 0, 0.0, width, height)

    quads = [np.asarray(quad, dtype=np.float32) for quad in first.boxes]
    turn = _quarter_turn(bgr, quads)
    skew = line_skew(quads)
    if abs(skew) < MIN_SKEW_DEGREES:
        skew = 0.0
    if turn == 0 and not skew:
        return _reading(first, bgr, 0, 0.0)

    upright = straighten(bgr, turn, skew)
    second = _run(upright)
    if turn in (90, 270) and _legible(second) < _legible(first):
        # Perhaps the classifier took the sideways page the wrong way round: the other quarter
        # turn is read too, and the more legible of the two kept.
        other = (turn + 180) % 360
        other_upright = straighten(bgr, other, skew)
        third = _run(other_upright)
        if _legible(third) > _legible(second):
            turn, upright, second = other, other_upright, third
    if turn != 180 or _legible(second) > _legible(first):
        return _reading(second, upright, turn, skew)
    # Upside down by the classifier, yet the page as given read better: it was upright (the
    # classifier is unsure on some fonts), only the skew is taken out.
    if not skew:
        return _reading(first, bgr, 0, 0.0)
    straight = straighten(bgr, 0, skew)
    return _reading(_run(straight), straight, 0, skew)


def straighten(bgr: Pixels, turn: int, skew: float) -> Pixels:
    turned = _turn(bgr, turn)
    return _rotate(turned, skew) if skew else turned


def _reading(result: Any, image: Pixels, turn: int, skew: float) -> Reading:
    height, width = image.shape[:2]
    return Reading(_words(result, width, height), turn, round(skew, 2), width, height)


def _legible(result: Any) -> float:
    """How much of the image was read with confidence: characters of lines scored 0.8 or
    more. Text read upside down or sideways scores low or is dropped."""
    return float(
        sum(
            len(text)
            for text, score in zip(result.txts or (), result.scores or (), strict=False)
            if score >= 0.8
        )
    )


def to_bgr(image: Pixels | Image.Image) -> Pixels:
    """A 3-channel BGR array (OpenCV's and rapidocr's order) of an RGB, RGBA or grey image."""
    if isinstance(image, Image.Image):
        if image.mode not in ("RGB", "L"):
            image = image.convert("RGB")
        image = np.asarray(image)
    array = np.ascontiguousarray(image, dtype=np.uint8)
    if array.ndim == 2:
        return np.asarray(cv2.cvtColor(array, cv2.COLOR_GRAY2BGR), dtype=np.uint8)
    if array.shape[2] == 4:
        return np.asarray(cv2.cvtColor(array, cv2.COLOR_RGBA2BGR), dtype=np.uint8)
    return np.asarray(cv2.cvtColor(array, cv2.COLOR_RGB2BGR), dtype=np.uint8)


def sharpness(image: Pixels | Image.Image) -> float:
    """Variance of the Laplacian of the grey image scaled to at most 2000 px (the size OCR
    reads at), so that the figure is comparable across resolutions: below ~100 is blurred."""
    if isinstance(image, Image.Image):
        grey = np.asarray(image.convert("L"))
    else:
        array = np.ascontiguousarray(image, dtype=np.uint8)
        grey = array if array.ndim == 2 else cv2.cvtColor(array, cv2.COLOR_RGB2GRAY)
    longest = max(grey.shape[:2])
    if longest > 2000:
        scale = 2000 / longest
        grey = cv2.resize(grey, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
    return round(float(cv2.Laplacian(grey, cv2.CV_64F).var()), 1)


def _run(bgr: Pixels) -> Any:
    ocr = engine()
    with _call_lock:
        return ocr(bgr, use_det=True, use_cls=False, use_rec=True, return_word_box=True)


def _classify(crops: list[Pixels]) -> list[tuple[str, float]]:
    """rapidocr's 0°/180° classifier on text-line crops."""
    ocr = engine()
    labels: list[tuple[Any, Any]] = []
    with _call_lock:
        for crop in crops:
            result = ocr(crop, use_det=False, use_cls=True, use_rec=False)
            labels.extend(getattr(result, "cls_res", None) or [])
    return [(str(label), float(score)) for label, score in labels]


def _long_side(quad: npt.NDArray[np.float32]) -> tuple[float, float, float]:
    """(length, thickness, angle in degrees of the long side in (-90, 90])."""
    top = quad[1] - quad[0]
    left = quad[3] - quad[0]
    along, across = (top, left) if np.hypot(*top) >= np.hypot(*left) else (left, top)
    angle = math.degrees(math.atan2(float(along[1]), float(along[0])))
    if angle <= -90:
        angle += 180
    elif angle > 90:
        angle -= 180
    return float(np.hypot(*along)), float(np.hypot(*across)), angle


def _lines(quads: list[npt.NDArray[np.float32]]) -> list[tuple[float, float]]:
    """(length, angle) of the boxes long enough to be lines of text, not single glyphs."""
    found = []
    for quad in quads:
        length, thickness, angle = _long_side(quad)
        if thickness > 0 and length >= 3 * thickness:
            found.append((length, angle))
    return found


def _quarter_turn(bgr: Pixels, quads: list[npt.NDArray[np.float32]]) -> int:
    """Degrees (clockwise) to turn the image so that its text reads upright, by the lines'
    geometry (upright or sideways) and the direction classifier (which way up)."""
    lines = _lines(quads)
    vertical = sum(length for length, angle in lines if abs(angle) > 45)
    horizontal = sum(length for length, angle in lines if abs(angle) <= 45)
    base = 90 if vertical > horizontal else 0
    samples = sorted(quads, key=lambda quad: -_long_side(quad)[0])[:ORIENTATION_SAMPLES]
    pieces = []
    for quad in samples:
        crop = _crop(bgr, quad)
        if crop is not None:
            pieces.extend(_pieces(_turn(crop, base)))
    votes = _classify(pieces)
    upside_down = sum(score for label, score in votes if label == "180")
    upright = sum(score for label, score in votes if label == "0")
    return (base + 180) % 360 if upside_down > upright else base


def _pieces(line: Pixels) -> list[Pixels]:
    """Up to three stretches of a text line as wide as the classifier's input (4:1): a whole
    long line squeezed to 192 x 48 px is a smear it cannot judge."""
    height, width = line.shape[:2]
    span = 4 * height
    if width <= span * 1.5:
        return [line]
    starts = np.linspace(0, width - span, num=min(3, width // span)).astype(int)
    return [line[:, start : start + span] for start in starts]


def _turn(bgr: Pixels, degrees: int) -> Pixels:
    codes = {
        90: cv2.ROTATE_90_CLOCKWISE,
        180: cv2.ROTATE_180,
        270: cv2.ROTATE_90_COUNTERCLOCKWISE,
    }
    if degrees == 0:
        return bgr
    return np.asarray(cv2.rotate(bgr, codes[degrees]), dtype=np.uint8)


def _crop(bgr: Pixels, quad: npt.NDArray[np.float32]) -> Pixels | None:
    """The quad's content warped to a straight rectangle: corner 0 top left, 1 top right, as
    the detector orders them, so a skewed line comes out level."""
    width = round(float(max(np.hypot(*(quad[1] - quad[0])), np.hypot(*(quad[2] - quad[3])))))
    height = round(float(max(np.hypot(*(quad[3] - quad[0])), np.hypot(*(quad[2] - quad[1])))))
    if width < 8 or height < 8:
        return None
    target = np.array([[0, 0], [width, 0], [width, height], [0, height]], dtype=np.float32)
    matrix = cv2.getPerspectiveTransform(quad.astype(np.float32), target)
    crop = cv2.warpPerspective(
        bgr, matrix, (width, height), borderMode=cv2.BORDER_REPLICATE, flags=cv2.INTER_CUBIC
    )
    return np.asarray(crop, dtype=np.uint8)


def line_skew(quads: list[npt.NDArray[np.float32]]) -> float:
    """The length-weighted median angle of the text lines against the nearest axis, degrees
    (positive: the lines go down to the right)."""
    angles = []
    for length, angle in _lines(quads):
        off = angle - 90 * round(angle / 90)
        angles.append((off, length))
    if not angles:
        return 0.0
    angles.sort()
    half = sum(length for _, length in angles) / 2
    seen = 0.0
    for off, length in angles:
        seen += length
        if seen >= half:
            return off if abs(off) <= MAX_SKEW_DEGREES else 0.0
    return 0.0


def _rotate(bgr: Pixels, degrees: float) -> Pixels:
    """The image rotated counter-clockwise by a small angle on a canvas grown to keep the
    corners, the new background white (paper)."""
    height, width = bgr.shape[:2]
    matrix = cv2.getRotationMatrix2D((width / 2, height / 2), degrees, 1.0)
    cos, sin = abs(matrix[0, 0]), abs(matrix[0, 1])
    new_width = int(height * sin + width * cos)
    new_height = int(height * cos + width * sin)
    matrix[0, 2] += new_width / 2 - width / 2
    matrix[1, 2] += new_height / 2 - height / 2
    rotated = cv2.warpAffine(
        bgr,
        matrix,
        (new_width, new_height),
        flags=cv2.INTER_LINEAR,
        borderMode=cv2.BORDER_CONSTANT,
        borderValue=(255, 255, 255),
    )
    return np.asarray(rotated, dtype=np.uint8)


def _words(result: Any, width: int, height: int) -> list[Word]:
    """Layout words from rapidocr's lines: its word boxes where they line up with the line's
    text, else the line's box shared out by character count."""
    txts = list(result.txts or ())
    boxes = list(result.boxes if result.boxes is not None else ())
    scores = list(result.scores or ())
    # rapidocr drops the word list of a line it could not place, so its lists may be shorter
    # than the lines: each line takes the next word list only when the text agrees.
    pieces = list(getattr(result, "word_results", None) or ())
    cursor = 0
    words: list[Word] = []
    for text, quad, score in zip(txts, boxes, scores, strict=False):
        confidence = round(float(score), 3)
        tokens = text.split()
        if not tokens:
            continue
        placed: list[tuple[str, npt.NDArray[np.float32]]] | None = None
        if cursor < len(pieces):
            placed = _match(tokens, pieces[cursor])
            if placed is not None:
                cursor += 1
        if placed is None:
            placed = _share_out(text, np.asarray(quad, dtype=np.float32))
        for token, points in placed:
            box = _fraction_box(points, width, height)
            if box is not None:
                words.append(Word(token, box, confidence))
    return words


def _match(tokens: list[str], pieces: Any) -> list[tuple[str, npt.NDArray[np.float32]]] | None:
    """Whitespace tokens with the union of the boxes of rapidocr's fragments that spell them
    (it splits a word at wide letter gaps or at a script change), or None if they differ."""
    fragments = [
        (str(item[0]).strip(), np.asarray(item[2], dtype=np.float32))
        for item in pieces
        if len(item) == 3 and item[2] is not None and str(item[0]).strip()
    ]
    placed = []
    index = 0
    for token in tokens:
        spelled = ""
        points: list[npt.NDArray[np.float32]] = []
        while len(spelled) < len(token) and index < len(fragments):
            fragment, quad = fragments[index]
            spelled += fragment
            points.append(quad.reshape(-1, 2))
            index += 1
        if spelled != token:
            return None
        placed.append((token, np.concatenate(points)))
    return placed if index == len(fragments) else None


def _share_out(
    text: str, quad: npt.NDArray[np.float32]
) -> list[tuple[str, npt.NDArray[np.float32]]]:
    x0, y0 = quad.min(axis=0)
    x1, y1 = quad.max(axis=0)
    step = (x1 - x0) / max(len(text), 1)
    placed = []
    position = 0
    for token in text.split():
        start = text.index(token, position)
        position = start + len(token)
        left, right = x0 + start * step, x0 + position * step
        placed.append((token, np.array([[left, y0], [right, y1]], dtype=np.float32)))
    return placed


def _fraction_box(points: npt.NDArray[np.float32], width: int, height: int) -> Box | None:
    xs, ys = points[:, 0], points[:, 1]
    x0 = min(max(float(xs.min()) / width, 0.0), 1.0)
    x1 = min(max(float(xs.max()) / width, 0.0), 1.0)
    y0 = min(max(float(ys.min()) / height, 0.0), 1.0)
    y1 = min(max(float(ys.max()) / height, 0.0), 1.0)
    if x1 <= x0 or y1 <= y0:
        return None
    return Box(x0, y0, x1, y1)
