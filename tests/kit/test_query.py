"""QueryModel reads a query string as FastAPI would read `Annotated[Model, Query()]`: the same
values, the same errors, the same documented parameters."""

from __future__ import annotations

import asyncio
from typing import Annotated, Any

import pytest
from fastapi import APIRouter, Depends, FastAPI, Query
from fastapi.dependencies.utils import get_dependant, request_params_to_args
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel
from starlette.datastructures import QueryParams
from starlette.requests import Request

from formcase.cases.schemas import CaseCountParams, CaseListParams
from formcase.forms.schemas import FormCountParams, FormListParams
from formcase.kit.query import QueryModel, QueryModelRoute

MODELS = [CaseListParams, CaseCountParams, FormListParams, FormCountParams]

QUERIES = [
    "",
    "parent_status=in_progress&waiting_for=owner&page[size]=100",
    "page[size]=0",
    "page[size]=abc&page[number]=-1",
    "page[size]=5&page[size]=7",
    "bogus=1",
    "bogus=1&bogus=2",
    "status=a&status=b",
    "status=a,b",
    "flow[slug]=x&flow[slug]=y",
    "flow[slug]=",
    "archived=maybe",
    "archived=true&completed=0",
    "group-by=status&group-by=user.email",
    "sort=",
    "owner[id]=nope",
    "filter=%7B%22status%22%3A%22pending%22%7D",
]


def _errors(errors: Any) -> list[tuple[Any, ...]]:
    return sorted((tuple(e["loc"]), e["type"], e["msg"]) for e in errors)


def _fastapi_reads(model: type[BaseModel], query: str) -> tuple[Any, list[tuple[Any, ...]]]:
    async def endpoint(params: Any) -> None: ...

    endpoint.__annotations__["params"] = Annotated[model, Query()]
    values, errors = request_params_to_args(
        get_dependant(path="/", call=endpoint).query_params, QueryParams(query)
    )
    return values.get("params"), _errors(errors)


def _reads(model: type[BaseModel], query: str) -> tuple[Any, list[tuple[Any, ...]]]:
    request = Request({"type": "http", "query_string": query.encode(), "headers": []})
    try:
        return asyncio.run(QueryModel(model)(request)), []
    except RequestValidationError as exc:
        return None, _errors(exc.errors())


@pytest.mark.parametrize("model", MODELS)
@pytest.mark.parametrize("query", QUERIES)
def test_reads_what_fastapi_reads(model: type[BaseModel], query: str) -> None:
    assert _reads(model, query) == _fastapi_reads(model, query)


@pytest.mark.parametrize("model", MODELS)
def test_documents_what_fastapi_documents(model: type[BaseModel]) -> None:
    """Through a router included in the app, as the domains' routers are."""
    reference, ours = FastAPI(), FastAPI()
    router = APIRouter(route_class=QueryModelRoute)
    query = QueryModel(model)

    async def by_fastapi(number: int, params: Any) -> None: ...

    async def by_us(number: int, params: Any) -> None: ...

    by_fastapi.__annotations__["params"] = Annotated[model, Query()]
    by_us.__annotations__["params"] = Annotated[model, Depends(query)]
    reference.get("/v1/things/{number}")(by_fastapi)
    router.get("/things/{number}")(by_us)
    ours.include_router(router, prefix="/v1")

    def parameters(app: FastAPI) -> Any:
        return app.openapi()["paths"]["/v1/things/{number}"]["get"]["parameters"]

    documented = parameters(ours)
    assert documented == parameters(reference)
    # the path parameter, then one per field of the model, each once
    assert [p["in"] for p in documented] == ["path"] + ["query"] * len(model.model_fields)


FORM_LIST_QUERY = QueryModel(FormListParams)


async def _page_size(params: Annotated[FormListParams, Depends(FORM_LIST_QUERY)]) -> int:
    return params.page_size


def test_a_model_depended_on_twice_is_documented_once() -> None:
    """The route's own parameter, and a dependency of its own that reads the same model."""
    app, router = FastAPI(), APIRouter(route_class=QueryModelRoute)

    @router.get("/forms")
    async def listed(
        params: Annotated[FormListParams, Depends(FORM_LIST_QUERY)],
        size: Annotated[int, Depends(_page_size)],
    ) -> None: ...

    app.include_router(router)
    names = [p["name"] for p in app.openapi()["paths"]["/forms"]["get"]["parameters"]]
    assert sorted(names) == sorted(p["name"] for p in FORM_LIST_QUERY.parameters), names


def test_other_spellings_are_one_documented_parameter() -> None:
    """`flow[slug][]` and `group_by` are read as `flow[slug]` and `group-by`, and documented
    only under those names (a client generator would make one argument of two names)."""
    query = QueryModel(FormCountParams, spellings={"group_by": "group-by"})
    request = Request(
        {
            "type": "http",
            "query_string": b"flow[slug]=x&flow[slug][]=y&flow[slug][]=z&group_by=status"
            b"&group-by=user.email",
            "headers": [],
        }
    )
    params = asyncio.run(query(request))
    assert params.flow_slug == ["x", "y", "z"]
    assert sorted(params.group_by or []) == ["status", "user.email"]
    names = [p["name"] for p in query.parameters]
    assert "flow[slug]" in names and "group-by" in names
    assert "flow[slug][]" not in names and "group_by" not in names
