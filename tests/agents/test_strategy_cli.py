"""`quorum strategies list`: every plugin with its parameters, read from the config models."""

from __future__ import annotations

import json
import subprocess
import sys
import tomllib

from agents.strategies.base import registry
from agents.strategy import StrategiesConfig
from core.cli_strategies import parameters, toml_value

QUORUM = [sys.executable, "-m", "core.cli"]
NEW = ("momentum", "mean_reversion", "dca", "grid", "vol_target", "treasury_regime")


def quorum(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([*QUORUM, *args], check=False, capture_output=True, text=True,
                          timeout=120)


def test_list_shows_every_strategy_with_each_parameter_default_and_description():
    result = quorum("strategies", "list")
    assert result.returncode == 0, result.stderr
    blocks = {block.splitlines()[0].split(":")[0]: block
              for block in result.stdout.strip().split("\n\n")}
    assert set(blocks) == set(registry()) >= {"sma_cross", *NEW}
    for name, plugin in registry().items():
        lines = blocks[name].splitlines()[1:]
        fields = parameters(plugin)  # the plugin's own, then the shared `exits`, key by key
        assert [line.split()[0] for line in lines] == list(fields)
        assert {name.split(".")[0] for name in fields} == set(plugin.config_model.model_fields)
        assert list(fields)[-5:] == ["exits.stop_loss", "exits.take_profit",
                                     "exits.trailing_stop", "exits.max_hold_bars",
                                     "exits.cooldown_bars"]
        for line, field in zip(lines, fields.values(), strict=True):
            assert f"= {toml_value(field.default)} " in line
            assert line.endswith(field.description)


def test_list_shows_types_and_limits():
    out = quorum("strategies", "list", "treasury_regime", "grid").stdout
    assert out.startswith("treasury_regime: Base yield layer (lending)")
    assert 'base_layer               one of "lending", "cash"' in out
    assert "drift_threshold          float >0 <1" in out
    assert "= 0.05" in out
    assert "levels                int >=2 <=500        = 10" in out
    assert "recentre_on_breakout  bool" in out
    assert "exits.stop_loss       float or none >0 <1  = none  Sell when the close falls" in out


def test_list_json_round_trips_the_defaults_into_a_valid_config():
    result = quorum("strategies", "list", "--json")
    assert result.returncode == 0, result.stderr
    plugins = {plugin["name"]: plugin for plugin in json.loads(result.stdout)}
    assert set(plugins) == set(registry())
    momentum = {p["name"]: p for p in plugins["momentum"]["parameters"]}
    assert momentum["lookback"] == {"name": "lookback", "type": "int", "limits": ">=2",
                                    "default": 48,
                                    "description": "Bars over which the trailing return is "
                                    "measured"}
    assert plugins["dca"]["parameters"][3]["type"] == "float or none"
    assert plugins["dca"]["parameters"][3]["default"] is None
    grid = {p["name"]: p["default"] for p in plugins["grid"]["parameters"]}
    assert grid["recentre_on_breakout"] is True and isinstance(grid["band_width"], float)
    treasury = {p["name"]: p["default"] for p in plugins["treasury_regime"]["parameters"]}
    assert treasury["tactical_assets"] == [] and treasury["base_layer"] == "lending"
    for name, plugin in plugins.items():  # the typed defaults, written as TOML, load
        table = "\n".join(f"{p['name']} = {json.dumps(p['default'])}"
                          for p in plugin["parameters"] if p["default"] is not None)
        parsed = tomllib.loads(f"[strategies.{name}]\n{table}")["strategies"]
        loaded = StrategiesConfig.model_validate({"enabled": [name], **parsed})
        assert loaded.params(name) == registry()[name].config_model()


def test_an_unknown_strategy_is_named_with_the_known_ones():
    result = quorum("strategies", "list", "moonshot")
    assert result.returncode == 2
    assert "unknown strategy 'moonshot'" in result.stderr
    assert "treasury_regime" in result.stderr
