"""`quorum strategies list`: every strategy plugin with its parameters, read from its config model.

Types, limits, defaults and descriptions come from each plugin's pydantic config, so what this
prints is what `[strategies.NAME]` and `--param` accept. It touches no state.
"""

from __future__ import annotations

import json
import types
from typing import Annotated, Any, Literal, Union, get_args, get_origin

import annotated_types
import typer
from pydantic import BaseModel
from pydantic.fields import FieldInfo
from pydantic_core import to_jsonable_python

from agents.strategies.base import Strategy, StrategyConfig, registry

strategies_app = typer.Typer(
    rich_markup_mode=None,  # help texts are plain: Rich read "[approvals]" as markup
    help="The strategy plugins and their parameters.",
    no_args_is_help=True,
)

_LIMITS = {annotated_types.Ge: ("ge", ">="), annotated_types.Gt: ("gt", ">"),
           annotated_types.Le: ("le", "<="), annotated_types.Lt: ("lt", "<")}


@strategies_app.command("list")
def strategies_list(
    names: Annotated[list[str] | None, typer.Argument(help="Only these strategies (default: all)")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of text")] = False,
) -> None:
    """List each strategy with its parameters: type and limits, default, and what it means."""
    known = registry()
    unknown = [name for name in names or [] if name not in known]
    if unknown:
        typer.echo(f"error: unknown strategy {', '.join(map(repr, unknown))}; known: "
                   f"{', '.join(sorted(known))}", err=True)
        raise typer.Exit(2)
    chosen = [known[name] for name in (names or sorted(known))]
    if as_json:
        typer.echo(json.dumps([describe(plugin) for plugin in chosen], indent=2))
        return
    for i, plugin in enumerate(chosen):
        if i:
            typer.echo("")
        for line in render(describe(plugin)):
            typer.echo(line)


def describe(plugin: type[Strategy]) -> dict[str, Any]:
    """A plugin as data: name, one-line summary, and each parameter's type, default (a JSON
    value: null for none), meaning."""
    doc = (plugin.__doc__ or "").strip().splitlines()
    return {
        "name": plugin.name,
        "summary": doc[0] if doc else "",
        "parameters": [
            {
                "name": name,
                "type": type_name(field.annotation),
                "limits": limits(field),
                "default": to_jsonable_python(field.get_default(call_default_factory=True)),
                "description": field.description or "",
            }
            for name, field in parameters(plugin).items()
        ],
    }


def parameters(plugin: type[Strategy]) -> dict[str, FieldInfo]:
    """The plugin's own parameters first, then the ones every strategy shares, a table's keys
    each on its own (``exits.stop_loss``: what ``--param`` and ``--sweep`` take)."""
    fields = plugin.config_model.model_fields
    shared = StrategyConfig.model_fields
    found = {name: field for name, field in fields.items() if name not in shared}
    for name in shared:
        table = fields[name].annotation
        if isinstance(table, type) and issubclass(table, BaseModel):
            found |= {f"{name}.{key}": field for key, field in table.model_fields.items()}
        else:
            found[name] = fields[name]
    return found


def render(plugin: dict[str, Any]) -> list[str]:
    """Aligned text: the name and summary, then one line per parameter."""
    rows = [
        (p["name"], " ".join(filter(None, (p["type"], p["limits"]))),
         f"= {toml_value(p['default'])}",
         p["description"])
        for p in plugin["parameters"]
    ]
    lines = [f"{plugin['name']}: {plugin['summary']}" if plugin["summary"] else plugin["name"]]
    if not rows:
        return [*lines, "  (no parameters)"]
    widths = [max(len(row[i]) for row in rows) for i in range(3)]
    for row in rows:
        cells = [cell.ljust(width) for cell, width in zip(row, widths, strict=False)]
        lines.append(f"  {'  '.join(cells)}  {row[3]}".rstrip())
    return lines


def type_name(annotation: Any) -> str:
    """`int`, `float or none`, `one of "lending", "cash"`, `list of str`."""
    origin, args = get_origin(annotation), get_args(annotation)
    if origin is Literal:
        return "one of " + ", ".join(toml_value(arg) for arg in args)
    if origin in (Union, types.UnionType):
        named = [type_name(arg) for arg in args if arg is not type(None)]
        return " or ".join(named) + (" or none" if type(None) in args else "")
    if origin in (tuple, list):
        return f"list of {type_name(args[0])}" if args else "list"
    return getattr(annotation, "__name__", str(annotation))


def limits(field: FieldInfo) -> str:
    """The field's numeric bounds, length and pattern, e.g. `>=1` or `>0 <2`."""
    found = []
    for item in field.metadata:
        if type(item) in _LIMITS:
            attribute, sign = _LIMITS[type(item)]
            found.append(f"{sign}{toml_value(getattr(item, attribute))}")
        if isinstance(item, annotated_types.MinLen) and item.min_length:
            found.append(f"length>={item.min_length}")
        if getattr(item, "pattern", None):
            found.append(f"matching {item.pattern}")
    return " ".join(found)


def toml_value(value: Any) -> str:
    """A default as it would be written in the config file."""
    if value is None:
        return "none"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, (tuple, list)):
        return "[" + ", ".join(toml_value(item) for item in value) + "]"
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)
