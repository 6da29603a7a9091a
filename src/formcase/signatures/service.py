"""Signatures: a contact draws their signature for a signature element; the server puts it on
the element's documents (or on a signature sheet when there are none), seals the result with
the workspace's certificate (PAdES), and keeps the drawn image, what was signed and who signed
it. The API shape of GET /v1/signatures/{id} is `document`."""

from __future__ import annotations

import base64
import binascii
import hashlib
import io
import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import anyio.to_thread
import pikepdf
from PIL import Image, UnidentifiedImageError
from sqlalchemy.ext.asyncio import AsyncSession

from formcase.attachments import repository as attachments_repository
from formcase.attachments import service as attachments
from formcase.attachments.models import Attachment
from formcase.auth.principal import Principal
from formcase.config import Settings
from formcase.forms.models import Form
from formcase.kit.errors import BadRequest, Conflict, Unprocessable
from formcase.kit.time import utcnow
from formcase.pdf.sheet import SignatureSheet, render_signature_sheet
from formcase.responses import repository as responses
from formcase.responses.models import Response
from formcase.signatures import repository
from formcase.signatures.models import Signature
from formcase.storage import Storage
from formcase.templates.format import Element, SignDocument, TemplateFile, localise
from formcase.workspaces import certificates
from formcase.workspaces import repository as workspaces_repository

if TYPE_CHECKING:  # responses.service reads signatures for `responses[]`: no import cycle
    from formcase.pdf.signing import Drawn
    from formcase.responses.service import Client

PNG_PREFIX = "data:image/png;base64,"
MAX_IMAGE_BYTES = 2 * 1024 * 1024
MAX_IMAGE_SIDE = 4000
MAX_DOCUMENT_BYTES = 50 * 1024 * 1024
# Where a signature goes when a document names neither a field nor a place: the last page,
# bottom right, 150 by 50 points, 36 points from the edges.
DEFAULT_WIDTH, DEFAULT_HEIGHT, DEFAULT_MARGIN = 150.0, 50.0, 36.0


@dataclass(frozen=True)
class ToSign:
    """One document of a signature element, resolved to a stored PDF (or not yet there)."""

    index: int
    name: str
    spec: SignDocument
    attachment: Attachment | None


def drawn_image(image: str) -> bytes:
    """The PNG of a data URL from the signature canvas, checked: a real, non-blank PNG of a
    sensible size."""
    if not image.startswith(PNG_PREFIX):
        raise BadRequest("The signature must be a PNG data URL (data:image/png;base64,…).")
    encoded = image[len(PNG_PREFIX) :]
    if len(encoded) > MAX_IMAGE_BYTES * 4 // 3 + 4:
        raise BadRequest(f"The signature image is larger than {MAX_IMAGE_BYTES} bytes.")
    try:
        content = base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError):
        raise BadRequest("The signature image is not valid base64.") from None
    try:
        # verify() reads every chunk: a cut-off PNG fails here even though WeasyPrint tells
        # Pillow, process-wide, to load truncated images.
        with Image.open(io.BytesIO(content)) as checked:
            checked.verify()
        with Image.open(io.BytesIO(content)) as picture:
            if picture.format != "PNG":
                raise BadRequest("The signature image is not a PNG.")
            if max(picture.size) > MAX_IMAGE_SIDE or min(picture.size) < 10:
                raise BadRequest(
                    f"The signature image must be 10 to {MAX_IMAGE_SIDE} pixels on each side."
                )
            picture.load()
            blank = _is_blank(picture)
    except (UnidentifiedImageError, OSError, SyntaxError, Image.DecompressionBombError):
        raise BadRequest("The signature image is not a readable PNG.") from None
    if blank:
        raise BadRequest("The signature is empty: draw it before signing.")
    return content


def _is_blank(picture: Image.Image) -> bool:
    """Nothing drawn: on a white sheet, the image is one flat colour."""
    rgba = picture.convert("RGBA")
    sheet = Image.new("RGBA", rgba.size, "white")
    sheet.alpha_composite(rgba)
    low, high = sheet.convert("L").getextrema()
    return bool(low == high)


def package_name(element: Element, locale: str, template: TemplateFile) -> str:
    return localise(element.label, locale, template.locale) or "Documents"


async def documents_of(
    session: AsyncSession,
    element: Element,
    response: Response,
    template: TemplateFile,
    locale: str,
    uploads: list[Attachment] | None = None,
) -> list[ToSign]:
    """The element's documents, each with the PDF it stands for once there is one: a
    workspace attachment, or the contact's upload to a file field of this response
    (`uploads`: the response's attachments, when the caller has read them already)."""
    found: list[ToSign] = []
    if uploads is None:
        uploads = await responses.attachments_of(session, [response.id])
    for index, spec in enumerate(element.documents or [], 1):
        name = localise(spec.name, locale, template.locale)
        attachment: Attachment | None = None
        if spec.attachment is not None:
            attachment = await attachments_repository.get(session, spec.attachment)
            if attachment is not None and attachment.workspace_id != response.workspace_id:
                attachment = None
        else:
            ids = response.data.get(spec.from_field or "")
            wanted = {ids} if isinstance(ids, str) else set(ids or [])
            attachment = next(
                (
                    file
                    for file in uploads
                    if str(file.id) in wanted and file.type == "application/pdf"
                ),
                None,
            )
        if attachment is not None and attachment.type != "application/pdf":
            attachment = None
        found.append(
            ToSign(
                index, name or (attachment.name if attachment else f"#{index}"), spec, attachment
            )
        )
    return found


def _drawn(pdf: bytes, spec: SignDocument, image: bytes) -> Drawn:
    """Where the drawn signature goes on a document: as it says, or at the default place."""
    from formcase.pdf import signing  # pyHanko loads on first use, not at start-up

    if spec.field is not None:
        return signing.Drawn(image, field=spec.field)
    if spec.place is not None:
        place = spec.place
        return signing.Drawn(
            image,
            page=place.page,
            left=place.left,
            top=place.top,
            width=place.width,
            height=place.height,
        )
    width, height = signing.page_size(pdf, -1)
    return signing.Drawn(
        image,
        page=-1,
        left=max(0.0, width - DEFAULT_WIDTH - DEFAULT_MARGIN),
        top=max(0.0, height - DEFAULT_HEIGHT - DEFAULT_MARGIN),
        width=DEFAULT_WIDTH,
        height=DEFAULT_HEIGHT,
    )


def _placed(pdf: bytes, spec: SignDocument, image: bytes) -> bytes:
    """The drawn signature in a document's page content, for a merge (which rewrites it)."""
    from formcase.pdf import signing  # pyHanko loads on first use, not at start-up

    drawn = _drawn(pdf, spec, image)
    return signing.stamp(
        pdf,
        image,
        field=drawn.field,
        page=drawn.page,
        left=drawn.left,
        top=drawn.top,
        width=drawn.width,
        height=drawn.height,
    )


def _merged(parts: list[bytes]) -> bytes:
    """Several stamped documents as one PDF (Penbox's `merge: true`), in their order."""
    if len(parts) == 1:
        return parts[0]
    merged = pikepdf.new()
    for part in parts:
        with pikepdf.open(io.BytesIO(part)) as document:
            merged.pages.extend(document.pages)
    output = io.BytesIO()
    merged.save(output)
    return output.getvalue()


async def sign(
    session: AsyncSession,
    storage: Storage,
    settings: Settings,
    form: Form,
    template: TemplateFile,
    response: Response,
    element: Element,
    image_url: str,
    client: Client,
) -> Signature:
    """Sign an element: store the drawn image, make and seal the signed PDF, record it. A new
    signature of the same element replaces the earlier one. The caller commits."""
    from formcase.pdf import signing  # pyHanko loads on first use, not at start-up

    assert element.key is not None
    image = drawn_image(image_url)
    locale = response.locale or form.user_locale or template.locale
    documents = await documents_of(session, element, response, template, locale)
    missing = [document.name for document in documents if document.attachment is None]
    if missing:
        raise Conflict(
            f"Cannot sign yet: {', '.join(missing)} is not there "
            "(upload it first, or the sender must attach it)."
        )
    originals = [
        (document, await _document_bytes(storage, document))
        for document in documents
        if document.attachment is not None
    ]
    material = await certificates.signing_material(session, form.workspace_id, settings)
    workspace = await workspaces_repository.by_id(session, form.workspace_id)
    assert workspace is not None
    signer_name = (
        " ".join(part for part in (form.user_given_name, form.user_family_name) if part) or None
    )
    name = package_name(element, locale, template)
    signed_at = utcnow()

    field_name = f"formcase-{element.key}".replace(".", "-")[:120]
    reason = f"Signed by {signer_name or form.user_email or 'the contact'}: {name}"

    def make() -> bytes:
        if len(originals) == 1:
            # The drawn signature is the appearance of the seal, in one incremental update:
            # signatures already in the document stay valid.
            (_, content) = originals[0]
            return signing.seal(
                content,
                material,
                field_name=field_name,
                reason=reason,
                signer_name=signer_name,
                drawn=_drawn(content, originals[0][0].spec, image),
            )
        if originals:
            for document, content in originals:
                if signing.signed(content):
                    raise signing.Refused(
                        f"'{document.name}' is signed already, and merging it with the other "
                        "documents would break its signatures: sign it in a signature element "
                        "of its own."
                    )
            parts = [_placed(content, document.spec, image) for document, content in originals]
            unsealed = _merged(parts)
        else:
            unsealed = render_signature_sheet(
                SignatureSheet(
                    package=name,
                    workspace=workspace.name,
                    signer_name=signer_name,
                    signer_email=form.user_email,
                    signed_at=signed_at,
                    ip=client.ip,
                    user_agent=client.user_agent,
                    image_png=image,
                    locale=locale,
                )
            )
        return signing.seal(
            unsealed, material, field_name=field_name, reason=reason, signer_name=signer_name
        )

    try:
        signed = await anyio.to_thread.run_sync(make)
    except signing.Refused as exc:
        # 422, not 409: the fill page shows it at the signature (a 409 reloads the page).
        raise Unprocessable(f"Cannot sign '{element.key}': {exc}") from None
    except signing.CannotSign as exc:
        raise BadRequest(f"Cannot sign '{element.key}': {exc}") from None

    await _forget(session, response.id, element.key)
    image_file = await attachments.store_bytes(
        session,
        storage,
        form.workspace_id,
        image,
        f"signature-{element.key}.png",
        response_id=response.id,
    )
    signed_file = await attachments.store_bytes(
        session,
        storage,
        form.workspace_id,
        signed,
        f"{_file_stem(name)}-signed.pdf",
        response_id=response.id,
    )
    signature = Signature(
        id=uuid.uuid4(),
        workspace_id=form.workspace_id,
        response_id=response.id,
        key=element.key,
        name=name[:255],
        status="completed",
        method="electronic",
        merge=True,
        locale=locale,
        signer_name=signer_name,
        signer_email=form.user_email,
        ip=client.ip,
        user_agent=client.user_agent,
        image_id=image_file.id,
        signed_file_id=signed_file.id,
        documents=[
            {
                "name": document.name,
                "attachment_id": str(document.attachment.id),
                "sha256": hashlib.sha256(content).hexdigest(),
            }
            for document, content in originals
            if document.attachment is not None
        ],
        sha256=signed_file.sha256,
        created_at=signed_at,
        updated_at=signed_at,
    )
    repository.add(session, signature)
    response.data = {**response.data, element.key: str(signature.id)}
    await session.flush()
    return signature


async def _document_bytes(storage: Storage, document: ToSign) -> bytes:
    assert document.attachment is not None
    if document.attachment.size > MAX_DOCUMENT_BYTES:
        raise BadRequest(
            f"'{document.name}' is larger than {MAX_DOCUMENT_BYTES} bytes, too large to sign."
        )
    return await attachments.read_bytes(storage, document.attachment)


async def _forget(session: AsyncSession, response_id: uuid.UUID, key: str) -> None:
    """Signing again replaces the earlier signature and its files (their bytes go with the
    next `formcase storage gc` when nothing else points to them)."""
    earlier = await repository.of_element(session, response_id, key)
    if earlier is None:
        return
    await repository.delete(session, earlier)
    for file_id in (earlier.image_id, earlier.signed_file_id):
        file = await attachments_repository.get(session, file_id)
        if file is not None:
            await attachments_repository.delete(session, file)


def _file_stem(name: str) -> str:
    cleaned = "".join(c if c.isalnum() or c in "-_ " else "-" for c in name).strip()
    return (cleaned or "documents")[:100]


def document(signature: Signature, signed_file: Attachment | None) -> dict[str, Any]:
    """GET /v1/signatures/{id}: Penbox's metadata keys, then who signed, how, and what."""
    return {
        "id": signature.id,
        "created_at": signature.created_at,
        "updated_at": signature.updated_at,
        "name": signature.name,
        "key": signature.key,
        "status": signature.status,
        "items": max(1, len(signature.documents)),
        "method": signature.method,
        "merge": signature.merge,
        "cost": 0,
        "locale": signature.locale,
        "signer": {
            "name": signature.signer_name,
            "email": signature.signer_email,
            "ip": signature.ip,
            "user-agent": signature.user_agent,
        },
        "sha256": signature.sha256,
        "documents": signature.documents,
        "response": {"id": signature.response_id},
        "image": {"id": signature.image_id},
        "signed_file": {
            "id": signature.signed_file_id,
            "name": signed_file.name if signed_file else None,
            "type": signed_file.type if signed_file else None,
            "size": signed_file.size if signed_file else None,
        },
    }


async def granted(
    session: AsyncSession, principal: Principal, signature_id: uuid.UUID
) -> Signature:
    signature = await repository.get(session, signature_id)
    principal.require("Signature", signature_id, signature.workspace_id if signature else None)
    assert signature is not None
    return signature


async def signed_file(session: AsyncSession, signature: Signature) -> Attachment:
    file = await attachments_repository.get(session, signature.signed_file_id)
    assert file is not None  # kept with the signature: replaced only together
    return file


async def for_responses(
    session: AsyncSession, response_ids: list[uuid.UUID]
) -> dict[uuid.UUID, dict[str, dict[str, Any]]]:
    """Each response's signatures by element key, in their API shape (for `responses[]`)."""
    found = await repository.for_responses(session, response_ids)
    files = await attachments_repository.get_many(session, [s.signed_file_id for s in found])
    result: dict[uuid.UUID, dict[str, dict[str, Any]]] = {}
    for signature in found:
        result.setdefault(signature.response_id, {})[signature.key] = document(
            signature, files.get(signature.signed_file_id)
        )
    return result


async def keep_only(session: AsyncSession, response_id: uuid.UUID, keys: set[str]) -> None:
    """At submit: the signatures of elements that ended up hidden go, as their values do."""
    for signature in await repository.for_responses(session, [response_id]):
        if signature.key not in keys:
            await _forget(session, response_id, signature.key)
