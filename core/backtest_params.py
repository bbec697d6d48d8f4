"""Strategy parameters as `quorum backtest` takes them: --param k=v, --compare names, and the
parameter sets of a sweep, each validated by the strategy's own config model before any run.

Every refusal is an InputError whose message names the option and the problem. Nothing here
runs a backtest or prints.
"""

from __future__ import annotations

from typing import Any, get_origin

from core.backtest_report import flat, params_text


class InputError(ValueError):
    """An option the user must fix; the message names it."""


def compare_entries(compare: str) -> list[tuple[str, str, list[str]]]:
    """``sma_cross,sma_cross:fast=5:slow=20`` → (entry, strategy, its k=v items) per entry:
    ("sma_cross", "sma_cross", []), ("sma_cross:fast=5:slow=20", "sma_cross", ["fast=5",
    "slow=20"]). Refuses an empty list, an entry given twice and an item that is not k=v."""
    entries = [e.strip() for e in compare.split(",") if e.strip()]
    if not entries:
        raise InputError(f"--compare {compare!r}: expected strategy names, comma-separated")
    repeated = sorted({e for e in entries if entries.count(e) > 1})
    if repeated:
        raise InputError(f"--compare {compare!r}: {', '.join(repeated)} named twice")
    out = []
    for entry in entries:
        name, *items = [part.strip() for part in entry.split(":")]
        if not name or not all(item.partition("=")[0].strip() and "=" in item for item in items):
            raise InputError(f"--compare {entry!r}: expected NAME or NAME:k=v:k=v, "
                             "e.g. sma_cross:fast=5:slow=20")
        out.append((entry, name, items))
    return out


def compare_configs(strategies, compare: str, param: list[str]) -> dict[str, tuple[str, Any]]:
    """Each --compare entry's (strategy, StrategiesConfig running it alone): its config table,
    under the --param items scoped to it, under the entry's own k=v items. Two entries that
    run the same parameters are refused."""
    entries = compare_entries(compare)
    names = list(dict.fromkeys(name for _, name, _ in entries))
    configs: dict[str, tuple[str, Any]] = {}
    seen: dict[tuple[str, str], str] = {}
    for entry, name, items in entries:
        table = merged(over_config(strategies, name, scoped(param, name, names)),
                       param_table(items, option=f"--compare {entry}"))  # they win over --param
        config = strategies_config(name, table,
                                   source=f"--compare {entry}" if items else "--compare/--param")
        same = seen.setdefault((name, params_text(own_params(config, name))), entry)
        if same != entry:
            raise InputError(f"--compare: {same} and {entry} run the same parameters")
        configs[entry] = (name, config)
    return configs


def scoped(params: list[str], name: str, names: list[str]) -> list[str]:
    """The --param items for strategy ``name`` among ``names`` (the strategies the command
    runs): the unprefixed ones, and ``name.k=v`` ones without their prefix. ``other.k=v`` for a
    strategy not run is refused."""
    from agents.strategies.base import registry

    chosen = []
    for item in params:
        prefix, dot, rest = item.partition(".")
        if dot and prefix in names:
            if prefix == name:
                chosen.append(rest)
        elif dot and prefix in registry():
            running = (f"among --compare {','.join(names)}" if len(names) > 1
                       else f"the strategy this runs ({name}; choose it with --strategy)")
            raise InputError(f"--param {item}: {prefix} is not {running}")
        else:
            chosen.append(item)
    return chosen


def param_table(params: list[str], *, option: str = "--param") -> dict[str, Any]:
    """``["fast=5", "exits.stop_loss=0.02"]`` → {"fast": 5, "exits": {"stop_loss": 0.02}}
    (numbers where they parse, None for none; a dotted key sets a key of a table)."""
    keyed = []
    for item in params:
        key, sep, value = item.partition("=")
        path = [part.strip() for part in key.split(".")]
        if not sep or not all(path):
            raise InputError(f"{option} {item!r}: expected key=value")
        keyed.append((path, _number(value.strip()), f"{option} {item!r}"))
    return _nested(keyed)


def configured(strategies, name: str) -> dict[str, Any]:
    """What the config's ``[strategies.NAME]`` table sets for ``name`` (its exits included);
    empty when it has none. The command line's --param go over it (``merged``)."""
    config = (strategies.model_extra or {}).get(name)
    return config.model_dump(exclude_unset=True) if config is not None else {}


def over_config(strategies, name: str, items: list[str]) -> dict[str, Any]:
    """``name``'s config table with the --param ``items`` (already scoped to it) on top."""
    return merged(configured(strategies, name), param_table(items))


def merged(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    """``base`` with ``over``'s keys on top; tables (``exits``) merged key by key."""
    out = dict(base)
    for key, value in over.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merged(out[key], value)
        else:
            out[key] = value
    return out


def chosen_strategy(strategy: str | None, strategies, *, option: str) -> str:
    """--strategy, else the one strategy the config enables; InputError naming ``option`` if
    it enables several."""
    if strategy is not None:
        return strategy
    if len(strategies.enabled) == 1:
        return strategies.enabled[0]
    raise InputError(f"{option}: the config runs {', '.join(strategies.enabled) or 'no strategy'}; "
                     "name one with --strategy (or run them side by side with --compare)")


def single_config(strategies, strategy: str | None, param: list[str]):
    """What one backtest runs: the config's ``[strategies]`` as written (every enabled plugin,
    its parameters and exits) when neither --strategy nor --param is given; else only
    ``--strategy`` (or the config's one strategy), its config table under the --param values."""
    if strategy is None and not param:
        if not strategies.enabled:
            raise InputError("--config: [strategies] enables no strategy; enable one there or "
                             "name one with --strategy")
        return strategies
    name = chosen_strategy(strategy, strategies, option="--param")
    return strategies_config(name, over_config(strategies, name, scoped(param, name, [name])))


def strategies_config(name: str, table: dict[str, object], *,
                      source: str = "--strategy/--param"):
    """The StrategiesConfig that runs only ``name`` with ``table``; InputError if refused."""
    problem, config = checked(name, table, source=source)
    if problem:
        raise InputError(problem)
    return config


def checked(name: str, table: dict[str, object], *, source: str = "--strategy/--param"):
    """(None, StrategiesConfig running only ``name``) or (the problem, None); the problem
    begins with ``source``, the option to fix."""
    from pydantic import ValidationError

    from agents.strategy import StrategiesConfig
    from core.validation import describe

    try:
        return None, StrategiesConfig.model_validate({"enabled": [name], name: _listed(name, table)})
    except ValidationError as exc:
        return describe(exc, source=source, prefix="strategies"), None


def _listed(name: str, table: dict[str, object]) -> dict[str, object]:
    """``table`` with a list parameter given as text on the command line split at its commas
    (``tactical_assets=BTC,ETH``); a config file's lists arrive as lists."""
    from agents.strategies.base import registry

    plugin = registry().get(name)
    if plugin is None:
        return table
    fields = plugin.config_model.model_fields
    return {key: [item.strip() for item in value.split(",") if item.strip()]
            if isinstance(value, str) and key in fields
            and get_origin(fields[key].annotation) in (tuple, list) else value
            for key, value in table.items()}


def parameter_names(strategy: str) -> set[str]:
    """The parameters a sweep may vary: the plugin's own and its exits' (``exits.stop_loss``)."""
    from agents.strategies.base import ExitsConfig, registry

    known = registry()
    if strategy not in known:
        raise InputError(f"--strategy {strategy}: unknown strategy; "
                         f"known: {', '.join(sorted(known))}")
    return ((set(known[strategy].config_model.model_fields) - {"exits"})
            | {f"exits.{key}" for key in ExitsConfig.model_fields})


def own_params(strategies, name: str) -> dict[str, Any]:
    """The parameters of ``name`` that differ from its defaults (for labels and JSON)."""
    config = (strategies.model_extra or {}).get(name)
    return config.model_dump(exclude_defaults=True, mode="json") if config is not None else {}


def sweep_configs(strategy: str, combos: list[dict[str, Any]], fixed: dict[str, Any],
                  base: dict[str, Any] | None = None):
    """(the combos the strategy accepts, their StrategiesConfig by params_text, the refusals).

    Each set is ``base`` (the config's table) under ``fixed`` (--param) under the combo. A set
    the strategy refuses (``fast >= slow``) is skipped, not fatal; none accepted is.
    """
    swept = set().union(*combos) if combos else set()
    both = sorted(key for key, _ in flat(fixed)  # exits=3 clashes with exits.stop_loss too
                  if any(key == s or s.startswith(f"{key}.") or key.startswith(f"{s}.")
                         for s in swept))
    if both:
        raise InputError(f"--param {', '.join(both)}: also swept by --sweep; give it one way only")
    configs, refused = {}, []
    for combo in combos:
        problem, config = checked(strategy, merged(merged(base or {}, fixed), tables(combo)),
                                  source=params_text(combo))
        if problem:
            refused.append(problem)
        else:
            configs[params_text(combo)] = config
    if not configs:
        raise InputError(f"--sweep: no parameter set is valid; first refused: {refused[0]}")
    return [c for c in combos if params_text(c) in configs], configs, refused


def tables(flat_params: dict[str, Any]) -> dict[str, Any]:
    """``{"fast": 5, "exits.stop_loss": 0.02}`` → {"fast": 5, "exits": {"stop_loss": 0.02}}."""
    return _nested([(key.split("."), value, f"--sweep {key}") for key, value in flat_params.items()])


def _nested(keyed: list[tuple[list[str], Any, str]]) -> dict[str, Any]:
    """Each (dotted path, value, the option that gave it) set into nested tables; InputError,
    naming the option, when a key is given both a value and keys of its own."""
    table: dict[str, Any] = {}
    for (*path, last), value, source in keyed:
        into = table
        for name in path:
            into = into.setdefault(name, {})
            if not isinstance(into, dict):
                raise InputError(f"{source}: {name} is given a value elsewhere")
        if isinstance(into.get(last), dict):
            raise InputError(f"{source}: {last} is a table; set its keys ({last}.KEY=v)")
        if last in into:
            raise InputError(f"{source}: {'.'.join((*path, last))} is given twice")
        into[last] = value
    return table


def _number(text: str) -> object:
    if text.lower() in ("none", "null"):
        return None  # `strategies list` shows an unset optional as none: stop_z=none unsets it
    for cast in (int, float):
        try:
            return cast(text)
        except ValueError:
            pass
    return text
