"""Every error leaves as JSON: {error, statusCode, message, errors[]} — never a stack trace."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from http import HTTPStatus
from typing import TYPE_CHECKING, Any

from sqlalchemy.exc import DBAPIError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match

if TYPE_CHECKING:  # FastAPI is imported by the app, not by what raises these (the CLI)
    from fastapi import FastAPI, Request
    from fastapi.responses import JSONResponse

log = logging.getLogger("formcase")


class APIError(Exception):
    status_code = 400

    def __init__(
        self,
        message: str,
        *,
        status_code: int | None = None,
        details: list[dict[str, Any]] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        if status_code is not None:
            self.status_code = status_code
        self.details = details
        self.headers = headers


class BadRequest(APIError):
    status_code = 400


class Unauthorized(APIError):
    status_code = 401


class Forbidden(APIError):
    status_code = 403


class NotFound(APIError):
    status_code = 404


class Conflict(APIError):
    status_code = 409


class Unprocessable(APIError):
    status_code = 422


class TooManyRequests(APIError):
    status_code = 429


def printable(text: str) -> str:
    """`text` with each lone UTF-16 surrogate (which UTF-8 cannot encode) written out as
    `\\udXXX`: a message may quote what the caller sent."""
    if text.isascii():
        return text
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


def _printable(value: Any) -> Any:
    if isinstance(value, str):
        return printable(value)
    if isinstance(value, dict):
        return {printable(str(key)): _printable(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_printable(item) for item in value]
    return value


def error_body(
    status_code: int, message: str, details: list[dict[str, Any]] | None = None
) -> dict[str, Any]:
    phrase = HTTPStatus(status_code).phrase
    errors = details or [{"detail": message}]
    return {
        "error": phrase,
        "statusCode": status_code,
        "message": printable(message),
        "errors": [
            {"status": str(status_code), "title": phrase, **_printable(item)} for item in errors
        ],
    }


def error_response(
    status_code: int,
    message: str,
    details: list[dict[str, Any]] | None = None,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    from fastapi.responses import JSONResponse

    return JSONResponse(
        error_body(status_code, message, details), status_code=status_code, headers=headers
    )


def _location(loc: tuple[Any, ...]) -> tuple[str, str]:
    """('body', 'user', 'email') -> ('body', 'user.email'); ('query', 'page[size]') likewise."""
    where = str(loc[0]) if loc else "request"
    path = ".".join(str(part) for part in loc[1:])
    return where, path


def _describe(error: dict[str, Any]) -> str:
    where, path = _location(tuple(error.get("loc", ())))
    kind = error.get("type", "")
    message = str(error.get("msg", "is invalid"))
    if kind == "json_invalid":
        reason = error.get("ctx", {}).get("error", "")
        return f"The request body is not valid JSON ({reason})".rstrip(" ()") + "."
    if where == "body" and not path and kind in ("model_attributes_type", "dict_type"):
        return "The request body must be a JSON object, sent with Content-Type: application/json."
    if where == "path":
        return f"Path parameter '{path}': {message}."
    if kind == "extra_forbidden":
        noun = "query parameter" if where == "query" else "field"
        return f"Unknown {noun} '{path}'."
    if kind == "missing":
        noun = "query parameter" if where == "query" else "field"
        if where == "body" and not path:
            return "A JSON request body is required."
        return f"Missing required {noun} '{path}'."
    if message.startswith("Value error, "):
        message = message[len("Value error, ") :]
    if kind in ("literal_error", "enum") and isinstance(error.get("input"), str):
        message += f", not '{error['input'][:100]}'"
    if not path:
        return message[0].upper() + message[1:] if message else "Invalid request."
    label = f"Query parameter '{path}'" if where == "query" else f"Field '{path}'"
    return f"{label}: {message}"


async def _validation_error(_request: Request, exc: Exception) -> JSONResponse:
    from fastapi.exceptions import RequestValidationError

    assert isinstance(exc, RequestValidationError)
    errors = list(exc.errors())
    details = []
    for error in errors:
        where, path = _location(tuple(error.get("loc", ())))
        item: dict[str, Any] = {"detail": _describe(error)}
        if where == "query":
            item["source"] = {"parameter": path}
        elif where == "body":
            item["source"] = {"pointer": "/" + path.replace(".", "/")}
        details.append(item)
    message = " ".join(item["detail"] for item in details[:5]) or "Invalid request."
    return error_response(400, message, details)


async def _api_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, APIError)
    return error_response(exc.status_code, exc.message, exc.details, exc.headers)


METHODS = ("DELETE", "GET", "HEAD", "PATCH", "POST", "PUT")


def allowed_methods(request: Request) -> list[str]:
    """Every method some route answers at this path, asked of the router itself. Starlette's
    405 names the methods of the first route that matched the path only; RFC 9110 wants all
    of them in `Allow`."""
    return [
        method
        for method in METHODS
        if any(
            route.matches({**request.scope, "method": method})[0] is Match.FULL
            for route in request.app.router.routes
        )
    ]


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    headers = getattr(exc, "headers", None)
    if exc.status_code == 404:
        message = "No such endpoint. The API lives under /v1; see /docs."
    elif exc.status_code == 405:
        # No route lists methods for a static mount: its files answer GET and HEAD.
        allowed = allowed_methods(request) or ["GET", "HEAD"]
        message = (
            f"This endpoint does not accept {request.method}; it accepts {', '.join(allowed)}."
        )
        headers = {**(headers or {}), "Allow": ", ".join(allowed)}
    else:
        message = str(exc.detail)
    return error_response(exc.status_code, message, headers=headers)


def _sqlstate(exc: DBAPIError) -> str:
    """The SQLSTATE of a database error, where the driver says it (asyncpg does)."""
    for candidate in (exc.orig, getattr(exc.orig, "__cause__", None)):
        state = getattr(candidate, "sqlstate", None)
        if isinstance(state, str):
            return state
    return ""


async def _database_error(request: Request, exc: Exception) -> JSONResponse:
    """SQLSTATE class 22 ("data exception": a NUL character in text, a value too long or out
    of range) is the caller's input the database cannot take: 400, not 500."""
    assert isinstance(exc, DBAPIError)
    if _sqlstate(exc).startswith("22"):
        return error_response(
            400,
            "A value in the request cannot be stored or compared: it holds a NUL character, "
            "or is too long or out of range.",
        )
    return await _unexpected(request, exc)


async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
    log.exception("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    return error_response(500, "Internal server error; the failure was logged.")


Handler = Callable[["Request", Exception], Awaitable["JSONResponse"]]


def release(exc: BaseException) -> None:
    """Let go of what an answered error holds of its request. Its traceback holds the frames
    it passed through, and they hold the error (FastAPI keeps a JSON error in a local of the
    frame that raised it) and the body, read and parsed: a cycle that only a full garbage
    collection frees, so each refused 50 MB body stayed in memory at twice its size."""
    seen: set[int] = set()
    pending: list[BaseException | None] = [exc]
    while pending:
        current = pending.pop()
        if current is None or id(current) in seen:
            continue
        seen.add(id(current))
        current.__traceback__ = None
        if hasattr(current, "body"):  # RequestValidationError: the document as sent
            current.body = None
        pending += [current.__cause__, current.__context__]


def _releasing(handler: Handler) -> Handler:
    async def answer(request: Request, exc: Exception) -> JSONResponse:
        try:
            return await handler(request, exc)
        finally:
            release(exc)

    return answer


def install_error_handlers(app: FastAPI) -> None:
    from fastapi.exceptions import RequestValidationError

    app.add_exception_handler(RequestValidationError, _releasing(_validation_error))
    app.add_exception_handler(APIError, _releasing(_api_error))
    app.add_exception_handler(StarletteHTTPException, _releasing(_http_error))
    app.add_exception_handler(DBAPIError, _releasing(_database_error))
    # Not released: the server error middleware raises it on, for the server's own log.
    app.add_exception_handler(Exception, _unexpected)
