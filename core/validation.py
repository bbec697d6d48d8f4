"""Turn pydantic validation errors into one message a person can act on: file, key, problem."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import TypeVar

from pydantic import BaseModel, ValidationError

from core.errors import ConfigError

M = TypeVar("M", bound=BaseModel)


def describe(error: ValidationError, *, source: str, prefix: str = "") -> str:
    """`quorum.toml: risk.fractoin: unknown key; run.seed: Input should be a valid integer`."""
    problems = []
    for item in error.errors():
        key = ".".join(str(part) for part in (prefix, *item["loc"]) if part != "")
        message = "unknown key" if item["type"] == "extra_forbidden" else item["msg"]
        message = message.removeprefix("Value error, ")  # our validators' own words
        if item["type"] in ("model_type", "dict_type") and item["loc"]:
            name = item["loc"][-1]
            message = (f"expected a table of keys ({name}.KEY = value), "
                       f"got {_kind(item['input'])}")  # never the value: it may be a secret
        problems.append(f"{key}: {message}" if key else message)
    return f"{source}: " + "; ".join(problems)


def _kind(value: object) -> str:
    if isinstance(value, bool):
        return "true/false"
    if isinstance(value, int | float):
        return "a number"
    return {str: "text", list: "a list"}.get(type(value), type(value).__name__)


def read_toml(path: Path, *, what: str, missing_hint: str = "") -> tuple[bytes, dict]:
    """The file's bytes and parsed TOML, or a ConfigError naming the file."""
    try:
        raw = path.read_bytes()
        return raw, tomllib.loads(raw.decode("utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"{path}: {what} not found{missing_hint}") from None
    except IsADirectoryError:
        raise ConfigError(f"{path}: is a folder, expected a {what}") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None


def validate(model: type[M], data: object, *, source: str, prefix: str = "") -> M:
    """``model`` validated from ``data``, or a ConfigError naming the source and each key."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(describe(exc, source=source, prefix=prefix)) from None
