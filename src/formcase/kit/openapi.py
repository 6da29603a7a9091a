"""The OpenAPI document as generators, fuzzers and people read it, and the docs UI.

FastAPI describes the routes and models; this adds what it cannot know: the bearer scheme,
the errors every operation can answer (formcase's own error shape, never FastAPI's
`HTTPValidationError`, which formcase does not send), and Swagger UI served from the
installed `swagger_ui_bundle` package, so that /docs works on a machine without internet.
"""

from __future__ import annotations

import copy
from http import HTTPStatus
from typing import Any

from fastapi import APIRouter, FastAPI
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.openapi.utils import get_openapi
from fastapi.responses import HTMLResponse, JSONResponse
from fastapi.routing import APIRoute
from pydantic import BaseModel, ConfigDict, Field
from starlette.staticfiles import StaticFiles
from swagger_ui_bundle import swagger_ui_path  # type: ignore[import-untyped]

from formcase.kit.filters import FILTER_SCHEMAS

DOCS_ASSETS = "/docs/assets"
DOCS_DOCUMENT = "/docs/openapi.json"
BEARER = "bearer"


class ErrorSource(BaseModel):
    pointer: str | None = Field(None, description="the body field, as a JSON pointer")
    parameter: str | None = Field(None, description="the query parameter")


class ErrorItem(BaseModel):
    status: str
    title: str
    detail: str
    code: str | None = None
    source: ErrorSource | None = None


class ErrorOut(BaseModel):
    """Every error: Penbox's `error`, `statusCode` and `message`, and `errors[]` (one per
    problem) for JSON:API clients."""

    model_config = ConfigDict(title="Error")

    error: str = Field(description="the reason phrase")
    statusCode: int
    message: str = Field(description="what is wrong, in words a caller can act on")
    errors: list[ErrorItem]


ERROR_SCHEMA = {"$ref": "#/components/schemas/Error"}


def errors(
    *codes: int, others: dict[int | str, dict[str, Any]] | None = None
) -> dict[int | str, dict[str, Any]]:
    """`responses=` of a route that can also answer these errors (beyond those every
    operation of its kind can: see `_common_errors`), with its `others` answers."""
    return {**(others or {}), **{code: _error_response(code) for code in codes}}


def _error_response(code: int) -> dict[str, Any]:
    return {
        "description": HTTPStatus(code).phrase,
        "content": {"application/json": {"schema": ERROR_SCHEMA}},
    }


def _common_errors(path: str, operation: dict[str, Any]) -> list[int]:
    """What any operation of this kind can answer: bad input (400); on /v1 no or a bad token
    (401), a workspace the token does not grant (403), a spent budget (429), and an id that
    names nothing (404); on the fill API an unknown (404), answered or declined (409) or
    expired (410) link."""
    has_path_parameters = "{" in path
    if path.startswith("/v1/"):
        codes = [400, 401, 403, 429]
        if has_path_parameters:
            codes.append(404)
        return codes
    if path.startswith("/f/"):
        return [400, 403, 404, 409, 410, 429]
    return [400] if operation.get("parameters") or "requestBody" in operation else []


def _is_validation_error(response: dict[str, Any]) -> bool:
    return "HTTPValidationError" in str(response.get("content", {}))


def build_document(app: FastAPI) -> dict[str, Any]:
    document = get_openapi(
        title=app.title,
        version=app.version,
        description=app.description,
        routes=app.routes,
    )
    components = document.setdefault("components", {})
    schemas = components.setdefault("schemas", {})
    schemas["Error"] = ErrorOut.model_json_schema(ref_template="#/components/schemas/{model}")
    for name, schema in schemas["Error"].pop("$defs", {}).items():
        schemas[name] = schema
    schemas.update(FILTER_SCHEMAS)
    schemas.pop("HTTPValidationError", None)
    schemas.pop("ValidationError", None)
    components["securitySchemes"] = {
        BEARER: {
            "type": "http",
            "scheme": "bearer",
            "description": "A token made by `formcase token create`: `pnbx_` and 48 hex digits.",
        }
    }
    for path, item in document["paths"].items():
        for operation in item.values():
            responses: dict[str, Any] = operation.setdefault("responses", {})
            for code, response in list(responses.items()):
                if _is_validation_error(response):
                    del responses[code]
            for common in _common_errors(path, operation):
                responses.setdefault(str(common), _error_response(common))
            operation["responses"] = dict(sorted(responses.items()))
            if path.startswith("/v1/"):
                operation["security"] = [{BEARER: []}]
    return document


def install(app: FastAPI) -> None:
    """The document at `app.openapi_url`, and Swagger UI at /docs from local files."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = build_document(app)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
    app.mount(DOCS_ASSETS, StaticFiles(directory=str(swagger_ui_path)), name="docs-assets")
    app.include_router(_docs_router(app))


def _docs_router(app: FastAPI) -> APIRouter:
    router = APIRouter(include_in_schema=False)
    view: dict[str, Any] = {}

    @router.get("/docs")
    async def docs() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url=DOCS_DOCUMENT,
            title=f"{app.title} API",
            swagger_js_url=f"{DOCS_ASSETS}/swagger-ui-bundle.js",
            swagger_css_url=f"{DOCS_ASSETS}/swagger-ui.css",
            swagger_favicon_url=f"{DOCS_ASSETS}/favicon-32x32.png",
            swagger_ui_parameters={"persistAuthorization": True},
        )

    @router.get(DOCS_DOCUMENT)
    async def docs_document() -> JSONResponse:
        if not view:
            view.update(openapi_30_view(app.openapi()))
        return JSONResponse(view)

    return router


def openapi_30_view(document: dict[str, Any]) -> dict[str, Any]:
    """The document as Swagger UI 4 reads it: it renders only `openapi: 3.0.x`, so the 3.1
    spelling of an optional value (`anyOf: [X, {type: null}]`) becomes 3.0's `nullable`.
    Only the docs page reads this view; /v1/openapi.json stays 3.1."""
    view = copy.deepcopy(document)
    view["openapi"] = "3.0.3"
    return _nullable(view)  # type: ignore[no-any-return]


def _nullable(node: Any) -> Any:
    if isinstance(node, list):
        return [_nullable(item) for item in node]
    if not isinstance(node, dict):
        return node
    node = {key: _nullable(value) for key, value in node.items()}
    variants = node.get("anyOf")
    if isinstance(variants, list) and {"type": "null"} in variants:
        rest = [variant for variant in variants if variant != {"type": "null"}]
        node.pop("anyOf")
        if len(rest) == 1 and "$ref" not in rest[0]:
            node = {**rest[0], **node}
        else:
            node["anyOf"] = rest
        node["nullable"] = True
    return node


def operation_id(route: APIRoute) -> str:
    """An operation is named after its function (what a generated client calls it); a
    deprecated alias route names itself (`operation_id=`)."""
    return route.name


# Rules across fields, stated in a model's schema (`json_schema_extra={"not": …}`) with `not`
# alone: openapi-python-client cannot make a model of an object schema with `anyOf`/`oneOf`
# beside its properties (the operation is dropped), and ignores `not`; fuzzers and
# validators read it.
def given(*names: str) -> dict[str, Any]:
    """All of `names` are there and not null."""
    return {"required": list(names), "properties": {n: {"not": {"type": "null"}} for n in names}}


def missing(name: str) -> dict[str, Any]:
    """`name` is absent or null."""
    return {"not": given(name)}
