"""Definition files (form templates, case templates): JSON or YAML, validated by a Pydantic
model, with every problem said with where it is."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

Model = TypeVar("Model", bound=BaseModel)


class DefinitionError(ValueError):
    """A definition file that cannot be read or is not valid; the message says why."""


def read(path: Path, model: type[Model], what: str) -> Model:
    """Parse and validate a JSON (`.json`) or YAML file as `model`."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise DefinitionError(f"cannot read {path}: {exc.strerror}") from None
    try:
        raw = json.loads(text) if path.suffix.lower() == ".json" else yaml.safe_load(text)
    except (json.JSONDecodeError, yaml.YAMLError) as exc:
        raise DefinitionError(f"{path} is not valid {path.suffix[1:].upper()}: {exc}") from None
    return parse(raw, model, what, str(path))


def parse(raw: Any, model: type[Model], what: str, source: str) -> Model:
    """Validate a parsed document; `what` names its kind in errors ("template")."""
    if not isinstance(raw, dict):
        raise DefinitionError(f"{source}: a {what} is an object, not a {type(raw).__name__}")
    try:
        return model.model_validate(raw)
    except ValidationError as exc:
        problems = []
        for error in exc.errors():
            where = ".".join(str(part) for part in error["loc"]) or source
            message = str(error["msg"]).removeprefix("Value error, ")
            problems.append(f"  {where}: {message}")
        raise DefinitionError(f"{source} is not a valid {what}:\n" + "\n".join(problems)) from None
