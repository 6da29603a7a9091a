"""Reading an upload from the request as it arrives, into a storage writer: the body is never
held in memory whole (multipart), or is bounded by its own smaller limit (JSON + base64)."""

from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass, field

import orjson
from pydantic import ValidationError
from python_multipart.exceptions import MultipartParseError
from python_multipart.multipart import MultipartParser, parse_options_header
from starlette.requests import ClientDisconnect, Request

from formcase.attachments.detect import HEAD_BYTES
from formcase.attachments.schemas import AttachmentUpload, Scope
from formcase.kit.errors import APIError, BadRequest
from formcase.storage import Writer
from formcase.storage.base import TooLarge

FIELD_LIMIT = 4096  # bytes of a form field other than the file


class PayloadTooLarge(APIError):
    status_code = 413


@dataclass
class Received:
    name: str
    declared_type: str | None
    scope: Scope
    head: bytes  # the first bytes, for type detection


@dataclass
class _Part:
    headers: dict[bytes, bytes] = field(default_factory=dict)
    field: bytes = b""
    value: bytes = b""
    name: str = ""
    filename: str | None = None
    content_type: str | None = None


JSON_ADVICE = "send larger files as multipart/form-data"


def check_length(request: Request, limit: int, advice: str = "") -> None:
    """Refuse at once what announces itself as too large."""
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise PayloadTooLarge(
            f"The upload is {declared} bytes; the limit is {limit} bytes"
            + (f"; {advice}." if advice else ".")
        )


class _Multipart:
    """python-multipart's callbacks, collecting the file's chunks and the small fields.
    What is kept in memory is bounded: at most `max_fields` fields besides the file (so many
    tiny parts cannot pile up), each at most FIELD_LIMIT (python-multipart bounds the headers
    of a part: 8 of 4 KB)."""

    def __init__(self, max_fields: int) -> None:
        self.part = _Part()
        self.file: _Part | None = None
        self.files = 0
        self.parts = 0
        self.max_fields = max_fields
        self.fields: dict[str, str] = {}
        self.head = bytearray()
        self.pending: list[bytes] = []  # file chunks parsed, not yet written

    def on_part_begin(self) -> None:
        self.part = _Part()
        self.parts += 1
        if self.parts > self.max_fields + 1:
            raise BadRequest(
                f"A multipart upload may have at most {self.max_fields} fields besides the "
                "file (FORMCASE_MAX_UPLOAD_FIELDS)."
            )

    def on_header_field(self, data: bytes, start: int, end: int) -> None:
        self.part.field += data[start:end]

    def on_header_value(self, data: bytes, start: int, end: int) -> None:
        self.part.value += data[start:end]

    def on_header_end(self) -> None:
        self.part.headers[self.part.field.lower()] = self.part.value
        self.part.field, self.part.value = b"", b""

    def on_headers_finished(self) -> None:
        part = self.part
        _, disposition = parse_options_header(part.headers.get(b"content-disposition", b""))
        part.name = disposition.get(b"name", b"").decode("utf-8", "replace")
        if b"filename" in disposition:
            part.filename = disposition[b"filename"].decode("utf-8", "replace")
        if b"content-type" in part.headers:
            part.content_type = part.headers[b"content-type"].decode("latin-1").strip()
        if part.name == "file":
            self.file = part
            self.files += 1
            if self.files > 1:  # refused now, not after the second file was stored
                raise BadRequest("Send one file per upload (one part named 'file').")

    def on_part_data(self, data: bytes, start: int, end: int) -> None:
        if self.part.name == "file":
            chunk = data[start:end]
            self.pending.append(chunk)
            if len(self.head) < HEAD_BYTES:
                self.head.extend(chunk[: HEAD_BYTES - len(self.head)])
            return
        name = self.part.name
        value = self.fields.get(name, "") + data[start:end].decode("utf-8", "replace")
        if len(value) > FIELD_LIMIT:
            raise BadRequest(f"Form field '{name}' is longer than {FIELD_LIMIT} bytes.")
        self.fields[name] = value


async def receive_multipart(
    request: Request, writer: Writer, limit: int, max_fields: int
) -> Received:
    """Stream the `file` part of a multipart/form-data body into `writer`."""
    _, options = parse_options_header(request.headers.get("content-type", ""))
    boundary = options.get(b"boundary")
    if not boundary:
        raise BadRequest("A multipart/form-data upload needs a boundary in its Content-Type.")
    state = _Multipart(max_fields)
    callbacks = {
        name: getattr(state, name)
        for name in (
            "on_part_begin",
            "on_header_field",
            "on_header_value",
            "on_header_end",
            "on_headers_finished",
            "on_part_data",
        )
    }
    parser = MultipartParser(boundary, callbacks)  # type: ignore[arg-type]
    received = 0
    try:
        async for chunk in request.stream():
            received += len(chunk)
            if received > limit + 64 * 1024:  # the file plus room for the multipart framing
                raise PayloadTooLarge(f"The upload is larger than the limit of {limit} bytes.")
            parser.write(chunk)
            for piece in state.pending:
                await writer.write(piece)
            state.pending.clear()
        parser.finalize()
    except MultipartParseError as exc:
        raise BadRequest(f"The multipart body is malformed: {exc}.") from None
    except ClientDisconnect:
        raise BadRequest("The client went away before the upload finished.") from None
    except TooLarge as exc:
        raise PayloadTooLarge(f"The file is larger than the limit of {exc.limit} bytes.") from None
    if state.file is None:
        raise BadRequest("A multipart upload needs a part named 'file' holding the file.")
    return Received(
        name=state.fields.get("name") or state.file.filename or "",
        declared_type=state.fields.get("type") or state.file.content_type,
        scope=_scope(state.fields.get("scope")),
        head=bytes(state.head),
    )


def _scope(value: str | None) -> Scope:
    if value is None:
        return Scope.RESTRICTED
    try:
        return Scope(value)
    except ValueError:
        raise BadRequest(f"Field 'scope' must be public or restricted, not '{value}'.") from None


DATA_URL = re.compile(rb"^data:[\w.+-]+/[\w.+-]+(;[\w=.-]+)*;base64,")


async def receive_json(request: Request, writer: Writer, limit: int) -> Received:
    """A JSON body `{name, data (base64), type?, scope?}`, read whole within `limit`."""
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise PayloadTooLarge(f"A JSON upload may be at most {limit} bytes; {JSON_ADVICE}.")
    try:
        upload = AttachmentUpload.model_validate(orjson.loads(body))
    except orjson.JSONDecodeError as exc:
        raise BadRequest(f"The request body is not valid JSON ({exc}).") from None
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "body"
        raise BadRequest(f"Field '{where}': {first['msg']}.") from None
    del body
    encoded = DATA_URL.sub(b"", upload.data.encode("ascii", "replace"), count=1)
    try:
        content = base64.b64decode(b"".join(encoded.split()), validate=True)
    except (binascii.Error, ValueError):
        raise BadRequest("Field 'data' is not valid base64.") from None
    try:
        await writer.write(content)
    except TooLarge as exc:
        raise PayloadTooLarge(f"The file is larger than the limit of {exc.limit} bytes.") from None
    return Received(
        name=upload.name, declared_type=upload.type, scope=upload.scope, head=content[:HEAD_BYTES]
    )
