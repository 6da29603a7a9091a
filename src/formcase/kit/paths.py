"""Path parameters that name one item of a collection whose own sub-paths share their place.

`/forms/count` and `/forms/{form_id}` are both one segment after `/forms`: with a plain
parameter, `PATCH /forms/count` reached `PATCH /forms/{form_id}` and answered 400 (not a UUID)
instead of 405 with `Allow: GET`. An `item` parameter never matches a reserved word, so the
reserved path alone answers there, while any other segment still reaches the item's route
(and a malformed id its 400).
"""

from __future__ import annotations

from starlette.convertors import Convertor, register_url_convertor

# The words a collection uses for its own sub-paths.
RESERVED = ("count",)


class ItemConvertor(Convertor[str]):
    regex = "(?!(?:" + "|".join(RESERVED) + ")(?:/|$))[^/]+"

    def convert(self, value: str) -> str:
        return value

    def to_string(self, value: str) -> str:
        return value


register_url_convertor("item", ItemConvertor())


def item(name: str) -> str:
    """The path segment of parameter `name`, which names an item, never a reserved word."""
    return "{" + name + ":item}"
