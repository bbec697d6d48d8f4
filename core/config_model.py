"""The base of every table a person writes: frozen, unknown keys are errors, true is no number
and a number no true, text is neither, and inf or nan (both valid TOML) are no setting.

pydantic's lax mode reads ``true`` as 1 wherever a number belongs, so ``slow = true`` would
run a one-bar average and ``[risk] fraction = true`` would let every entry use all the equity.
A field that takes numbers and never true/false refuses a boolean anywhere in its value.
"""

from __future__ import annotations

import types
from functools import cache
from typing import Annotated, Any, Union, get_args, get_origin

from pydantic import BaseModel, ConfigDict, ValidationInfo, field_validator


class ConfigModel(BaseModel):
    """A config table: frozen, unknown keys refused, no true/false where a number belongs, every
    number finite (``approval_expiry_s = inf`` passed the check and broke the first request)."""

    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)

    @field_validator("*", mode="before")
    @classmethod
    def _no_true_for_a_number(cls, value: Any, info: ValidationInfo) -> Any:
        field = cls.model_fields.get(info.field_name or "")
        if field is None:
            return value
        if _has_bool(value) and _numbers_only(field.annotation):
            raise ValueError("expected a number, got true/false")
        if isinstance(value, str) and _plain(field.annotation, (int, float)):
            raise ValueError(f"expected a number, got the text {value!r}")
        if not isinstance(value, bool) and value is not None and _plain(field.annotation, (bool,)):
            raise ValueError(f"expected true or false, got {value!r}")
        return value


def _has_bool(value: Any) -> bool:
    if isinstance(value, bool):
        return True
    if isinstance(value, dict):
        return any(_has_bool(v) for v in value.values())
    if isinstance(value, list | tuple):
        return any(_has_bool(v) for v in value)
    return False


@cache
def _numbers_only(annotation: Any) -> bool:
    """True when ``annotation`` takes an int or a float and nowhere a bool, a model or Any
    (a nested model judges its own keys)."""
    leaves = _leaves(annotation)
    takes_numbers = any(leaf in (int, float) for leaf in leaves)
    return takes_numbers and not any(
        leaf is bool or leaf is Any or (isinstance(leaf, type) and issubclass(leaf, BaseModel))
        for leaf in leaves
    )


@cache
def _plain(annotation: Any, kinds: tuple[type, ...]) -> bool:
    """True when ``annotation`` is one of ``kinds`` (or None) and nothing else, container-free:
    such a field takes its TOML type only (pydantic would read "20" as 20 and "yes" or 1 as
    true, and ``live_enabled = "yes"`` would turn on live trading)."""
    leaves = _leaves(annotation)
    return get_origin(annotation) in (None, Union, types.UnionType, Annotated) \
        and any(leaf in kinds for leaf in leaves) \
        and all(leaf in kinds or leaf is type(None) for leaf in leaves)


def _leaves(annotation: Any) -> list[Any]:
    origin = get_origin(annotation)
    if origin is None:
        return [annotation]
    if origin is Annotated:
        return _leaves(get_args(annotation)[0])
    if origin not in (Union, types.UnionType, list, tuple, dict, set, frozenset):
        return [annotation]  # Literal and the like: pydantic judges them whole
    return [leaf for arg in get_args(annotation) if arg is not Ellipsis for leaf in _leaves(arg)]
