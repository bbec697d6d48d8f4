"""Turn pydantic validation errors into one message a person can act on: file, key, problem."""

from __future__ import annotations

from pydantic import ValidationError


def describe(error: ValidationError, *, source: str, prefix: str = "") -> str:
    """`quorum.toml: risk.fractoin: unknown key; run.seed: Input should be a valid integer`."""
    problems = []
    for item in error.errors():
        key = ".".join(str(part) for part in (prefix, *item["loc"]) if part != "")
        message = "unknown key" if item["type"] == "extra_forbidden" else item["msg"]
        problems.append(f"{key}: {message}" if key else message)
    return f"{source}: " + "; ".join(problems)
