"""An endpoint's query parameters as one Pydantic model, read in one pass.

FastAPI reads a query model field by field and inspects every field's type again on each
request: 100 to 150 µs for a list's twenty parameters, a tenth of what a count request costs
the server (docs/benchmarks.md). `QueryModel` reads the query string once into the
model's aliases (lists for list fields, the last value otherwise, as FastAPI does) and lets
Pydantic validate it; a bad parameter is the same `RequestValidationError`, so the same 400.
The parameters are documented as FastAPI documents `Annotated[Model, Query()]`: made by FastAPI
itself, once, and added to each route of a `QueryModelRoute` router that depends on the model.

    router = APIRouter(route_class=QueryModelRoute)
    FILTERS = QueryModel(CaseListParams)

    @router.get("/cases")
    async def list_cases(params: Annotated[CaseListParams, Depends(FILTERS)]) -> ...
"""

from __future__ import annotations

import inspect
import types
from collections.abc import Iterator, Mapping
from typing import Annotated, Any, Generic, TypeVar, Union, get_args, get_origin

from fastapi import Query, Request
from fastapi.dependencies.models import Dependant
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.utils import get_openapi
from fastapi.routing import APIRoute
from pydantic import BaseModel, ValidationError

M = TypeVar("M", bound=BaseModel)


class QueryModel(Generic[M]):
    """A dependency giving the request's query parameters as a `model`; `parameters`
    documents them (a `QueryModelRoute` adds them to its route).

    `json` gives the schema of parameters sent as JSON text (documented as `content`).
    A repeatable parameter is one parameter: `name[]` (PHP's spelling) is read as `name`, and
    `spellings` maps other accepted names to the documented one. Neither is documented, so
    that a client generator sees one parameter per meaning."""

    def __init__(
        self,
        model: type[M],
        spellings: Mapping[str, str] | None = None,
        json: Mapping[str, dict[str, Any]] | None = None,
    ) -> None:
        self.model = model
        self._lists = frozenset(
            field.alias or name
            for name, field in model.model_fields.items()
            if _is_list(field.annotation)
        )
        self._spellings = {f"{name}[]": name for name in self._lists} | dict(spellings or {})
        self.parameters = [_as_json(p, (json or {}).get(p["name"])) for p in _parameters_of(model)]

    # async, though it awaits nothing: FastAPI runs a plain function dependency in a thread
    # pool, which cost far more than the reading (and put 0.3-1 s stalls in the tail).
    async def __call__(self, request: Request) -> M:
        query = request.query_params
        values: dict[str, Any] = {}
        for key in query:
            name = self._spellings.get(key, key)
            if name in self._lists:
                values.setdefault(name, []).extend(query.getlist(key))
            else:
                values[name] = query[key]
        try:
            return self.model.model_validate(values)
        except ValidationError as exc:
            raise RequestValidationError(
                [{**error, "loc": ("query", *error["loc"])} for error in exc.errors()]
            ) from None


class QueryModelRoute(APIRoute):
    """A route that documents the query parameters of the `QueryModel`s it depends on (FastAPI
    sees only their `request`)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Once per model: a model depended on twice (through two dependencies) is one set
        # of parameters.
        models = dict.fromkeys(_query_models(self.dependant))
        parameters = [p for query in models for p in query.parameters]
        if parameters:
            extra = self.openapi_extra or {}
            parameters = [*extra.get("parameters", []), *parameters]
            self.openapi_extra = {**extra, "parameters": parameters}


def _query_models(dependant: Dependant) -> Iterator[QueryModel[Any]]:
    for dependency in dependant.dependencies:
        if isinstance(dependency.call, QueryModel):
            yield dependency.call
        yield from _query_models(dependency)


def _parameters_of(model: type[BaseModel]) -> list[dict[str, Any]]:
    """The query parameters FastAPI documents for `Annotated[model, Query()]`."""

    async def documented(params: Any) -> None:
        """Only read for its signature."""

    # Set as objects: under `from __future__ import annotations` a written annotation is a
    # string that FastAPI would have to resolve, and `model` is local.
    documented.__signature__ = inspect.Signature(  # type: ignore[attr-defined]
        [
            inspect.Parameter(
                "params", inspect.Parameter.KEYWORD_ONLY, annotation=Annotated[model, Query()]
            )
        ]
    )
    route = APIRoute("/", documented, methods=["GET"])
    schema = get_openapi(title="", version="", routes=[route])
    parameters: list[dict[str, Any]] = schema["paths"]["/"]["get"]["parameters"]
    if "$ref" in str(parameters):  # a shared schema would point into this throwaway document
        raise TypeError(f"{model.__name__}: query parameters must have inline schemas")
    return parameters


def _as_json(parameter: dict[str, Any], schema: dict[str, Any] | None) -> dict[str, Any]:
    """A parameter whose value is JSON text (`filter={…}`) documented as such: OpenAPI's
    `content` with the schema of the JSON, instead of a bare string."""
    if schema is None:
        return parameter
    documented = {key: value for key, value in parameter.items() if key != "schema"}
    return {**documented, "content": {"application/json": {"schema": schema}}}


def _is_list(annotation: Any) -> bool:
    """`list[str]`, `list[str] | None`: a parameter that may be repeated."""
    origin = get_origin(annotation)
    if origin in (Union, types.UnionType):
        return any(_is_list(arg) for arg in get_args(annotation))
    return origin in (list, tuple, set, frozenset)
