"""The template file format: what is accepted, and errors that say where and why."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest

from formcase.kit.definitions import DefinitionError
from formcase.templates.format import check_options, check_prefill
from formcase.templates.service import parse_definition, read_file

DEMO = Path(__file__).parents[2] / "src" / "formcase" / "demo"

BASE: dict[str, Any] = {
    "slug": "t",
    "name": "T",
    "locale": "en",
    "locales": ["en", "fr"],
    "steps": [
        {
            "id": "one",
            "title": {"en": "One", "fr": "Un"},
            "elements": [
                {
                    "key": "kind",
                    "type": "choices",
                    "label": "Kind",
                    "options": [{"value": "a", "label": "A"}, {"value": "b", "label": "B"}],
                },
                {"key": "name", "type": "text", "label": "Name", "required": True},
            ],
        },
        {
            "id": "two",
            "title": "Two",
            "visible_if": {"field": "kind", "eq": "b"},
            "elements": [
                {
                    "key": "extra",
                    "type": "text",
                    "label": "Extra",
                    "visible_if": {"all": [{"field": "name", "defined": True}]},
                },
            ],
        },
    ],
}


def variant(path: str, value: Any) -> dict[str, Any]:
    """BASE with one value replaced, by a dotted path (numbers index lists)."""
    document = copy.deepcopy(BASE)
    node: Any = document
    parts = path.split(".")
    for part in parts[:-1]:
        node = node[int(part)] if part.isdigit() else node[part]
    last = parts[-1]
    if last.isdigit():
        node[int(last)] = value
    else:
        node[last] = value
    return document


def test_the_demo_templates_are_valid() -> None:
    for path in DEMO.glob("*.yaml"):
        template = read_file(path)
        assert template.steps


def test_base_is_valid() -> None:
    template = parse_definition(BASE)
    assert [step.id for step in template.steps] == ["one", "two"]


@pytest.mark.parametrize(
    ("path", "value", "fragment"),
    [
        ("slug", "Not A Slug", "slug"),
        ("name", "x" * 65, "name"),
        ("locale", "english", "two-letter"),
        ("locales", ["fr"], "must include the default locale"),
        ("steps", [], "steps"),
        ("steps.1.id", "one", "step ids must be unique"),
        ("steps.1.elements.0.key", "name", "element keys must be unique: name"),
        ("steps.0.elements.0.options", [], "needs options"),
        (
            "steps.0.elements.0.options",
            [{"value": "a", "label": "A"}, {"value": "a", "label": "B"}],
            "option values must be unique",
        ),
        ("steps.0.elements.1.type", "carousel", "steps.0.elements.1.type"),
        ("steps.0.elements.1.options", [{"value": "x", "label": "X"}], "only choices"),
        ("steps.0.elements.1.pattern", "[unclosed", "not a valid regular expression"),
        ("steps.0.elements.1.key", "has space", "element key 'has space'"),
        ("steps.0.elements.1.key", None, "needs a key"),
        ("steps.1.visible_if", {"field": "ghost", "eq": 1}, "unknown element 'ghost'"),
        ("steps.1.visible_if", {"field": "kind", "eq": 1, "ne": 2}, "exactly one of"),
        ("steps.1.visible_if", {"field": "kind", "matches": "b"}, "visible_if"),
        (
            "steps.1.elements.0.visible_if",
            {"field": "extra", "defined": True},
            "cannot read the element itself",
        ),
        ("steps.0.title", {"fr": "Un"}, "no text for the default locale 'en'"),
        ("steps.0.title", {"en": "One", "de": "Eins"}, "undeclared locales: de"),
        ("steps.0.elements.1.colour", "red", "colour"),
        ("options", {"send_confirmation": "yes"}, "must be a boolean"),
    ],
)
def test_invalid_templates_say_where_and_why(path: str, value: Any, fragment: str) -> None:
    with pytest.raises(DefinitionError) as caught:
        parse_definition(variant(path, value), "t.yaml")
    assert fragment in str(caught.value)
    assert str(caught.value).startswith("t.yaml is not a valid template")


def test_unreadable_and_malformed_files(tmp_path: Path) -> None:
    with pytest.raises(DefinitionError, match="cannot read"):
        read_file(tmp_path / "missing.yaml")
    bad = tmp_path / "bad.json"
    bad.write_text("{", encoding="utf-8")
    with pytest.raises(DefinitionError, match="not valid JSON"):
        read_file(bad)
    listed = tmp_path / "list.yaml"
    listed.write_text("- a\n- b\n", encoding="utf-8")
    with pytest.raises(DefinitionError, match="is an object"):
        read_file(listed)


def test_options_merge_and_checks() -> None:
    template = parse_definition(variant("options", {"reminder_interval_days": 2, "brand": "x"}))
    assert check_options(template, {"brand": "y"}) == {
        "send_invitation": True,
        "reminder_interval_days": 2,
        "max_reminders": 3,
        "send_confirmation": False,
        "brand": "y",
    }
    with pytest.raises(ValueError, match="unknown option 'nope'"):
        check_options(template, {"nope": 1})
    for wrong in ("2", 0, 2.5, True, 400):
        with pytest.raises(ValueError, match="whole number from 1 to 365 or null"):
            check_options(template, {"reminder_interval_days": wrong})
    assert (
        check_options(template, {"reminder_interval_days": None})["reminder_interval_days"] is None
    )
    with pytest.raises(ValueError, match=r"'max_reminders' must be a whole number from 0 to 50$"):
        check_options(template, {"max_reminders": None})
    with pytest.raises(ValueError, match="'send_invitation' must be a boolean"):
        check_options(template, {"send_invitation": "no"})
    with pytest.raises(DefinitionError, match="reminder_interval_days"):
        parse_definition(variant("options", {"reminder_interval_days": -1}))


def test_prefill_accepts_flat_and_nested_dotted_keys() -> None:
    document = variant("steps.0.elements.1.key", "person.name")
    document["steps"][1]["elements"][0]["visible_if"] = {"field": "person.name", "defined": True}
    template = parse_definition(document)
    check_prefill(template, {"person.name": "Ann"})
    check_prefill(template, {"person": {"name": "Ann"}})
    with pytest.raises(ValueError, match=r"'person\.age' is not an element"):
        check_prefill(template, {"person": {"age": 3}})
