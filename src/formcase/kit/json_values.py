"""Typed reads of a JSON document's values that never fail: a value of another JSON type
reads as NULL, so a filter `data.age > 30` skips forms whose `age` is text instead of failing
the whole query (PostgreSQL's `::float` cast would raise on "thirty")."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Boolean, Float, Text, literal
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.functions import FunctionElement


class _JSONValue(FunctionElement[Any]):
    """Its clauses: the document, the path as a text array (PostgreSQL) and as a JSON path
    string (SQLite) — bound parameters of the statement, so that compiled-statement caching
    stays right for every path."""

    inherit_cache = True

    def __init__(self, document: Any, path: tuple[str, ...]) -> None:
        quoted = "".join('."' + part.replace('"', '\\"') + '"' for part in path)
        super().__init__(document, literal(list(path), ARRAY(Text)), literal("$" + quoted, Text()))


class JSONNumber(_JSONValue):
    inherit_cache = True
    type = Float()
    name = "json_number"


class JSONBoolean(_JSONValue):
    inherit_cache = True
    type = Boolean()
    name = "json_boolean"


def _parts(element: _JSONValue, compiler: SQLCompiler, dialect: str, **kw: Any) -> tuple[str, str]:
    document, array, json_path = element.clauses.clauses
    path = array if dialect == "postgresql" else json_path
    return compiler.process(document, **kw), compiler.process(path, **kw)


@compiles(JSONNumber, "postgresql")
def _number_postgresql(element: JSONNumber, compiler: SQLCompiler, **kw: Any) -> str:
    document, path = _parts(element, compiler, "postgresql", **kw)
    return (
        f"CASE WHEN jsonb_typeof({document} #> {path}) = 'number' "
        f"THEN ({document} #>> {path})::float8 END"
    )


@compiles(JSONBoolean, "postgresql")
def _boolean_postgresql(element: JSONBoolean, compiler: SQLCompiler, **kw: Any) -> str:
    document, path = _parts(element, compiler, "postgresql", **kw)
    return (
        f"CASE WHEN jsonb_typeof({document} #> {path}) = 'boolean' "
        f"THEN ({document} #>> {path})::boolean END"
    )


@compiles(JSONNumber, "sqlite")
def _number_sqlite(element: JSONNumber, compiler: SQLCompiler, **kw: Any) -> str:
    document, path = _parts(element, compiler, "sqlite", **kw)
    return (
        f"CASE WHEN json_type({document}, {path}) IN ('integer', 'real') "
        f"THEN json_extract({document}, {path}) END"
    )


@compiles(JSONBoolean, "sqlite")
def _boolean_sqlite(element: JSONBoolean, compiler: SQLCompiler, **kw: Any) -> str:
    document, path = _parts(element, compiler, "sqlite", **kw)
    return f"CASE json_type({document}, {path}) WHEN 'true' THEN 1 WHEN 'false' THEN 0 END"
