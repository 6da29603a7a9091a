"""Typed reads of a JSON document's values that never fail: a value of another JSON type
reads as NULL, so a filter `data.age > 30` skips forms whose `age` is text instead of failing
the whole query (PostgreSQL's `::float` cast would raise on "thirty")."""

from __future__ import annotations

from typing import Any, ClassVar

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
    sql: ClassVar[dict[str, str]]  # the expression per dialect, of {doc} and {path}

    def __init__(self, document: Any, path: tuple[str, ...]) -> None:
        quoted = "".join('."' + part.replace('"', '\\"') + '"' for part in path)
        super().__init__(document, literal(list(path), ARRAY(Text)), literal("$" + quoted, Text()))


class JSONNumber(_JSONValue):
    inherit_cache = True
    type = Float()
    name = "json_number"
    sql: ClassVar[dict[str, str]] = {
        "postgresql": "CASE WHEN jsonb_typeof({doc} #> {path}) = 'number' "
        "THEN ({doc} #>> {path})::float8 END",
        "sqlite": "CASE WHEN json_type({doc}, {path}) IN ('integer', 'real') "
        "THEN json_extract({doc}, {path}) END",
    }


class JSONBoolean(_JSONValue):
    inherit_cache = True
    type = Boolean()
    name = "json_boolean"
    sql: ClassVar[dict[str, str]] = {
        "postgresql": "CASE WHEN jsonb_typeof({doc} #> {path}) = 'boolean' "
        "THEN ({doc} #>> {path})::boolean END",
        "sqlite": "CASE json_type({doc}, {path}) WHEN 'true' THEN 1 WHEN 'false' THEN 0 END",
    }


@compiles(_JSONValue, "postgresql")
@compiles(_JSONValue, "sqlite")
def _compile(element: _JSONValue, compiler: SQLCompiler, **kw: Any) -> str:
    dialect = compiler.dialect.name
    document, array, json_path = element.clauses.clauses
    return element.sql[dialect].format(
        doc=compiler.process(document, **kw),
        path=compiler.process(array if dialect == "postgresql" else json_path, **kw),
    )
