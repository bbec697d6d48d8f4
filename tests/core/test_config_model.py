"""No config table reads true/false as a number: pydantic alone would read `slow = true` as 1."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
from pydantic import ValidationError

import core.chain.sender  # noqa: F401  (defines SenderConfig)
from agents.strategies.base import registry
from core.config import Settings
from core.config_model import ConfigModel, _leaves, _numbers_only, _plain
from core.errors import ConfigError
from policies.base import rules
from policies.engine import DEFAULT_POLICY, PolicyEngine


def _every_config_model() -> list[type[ConfigModel]]:
    registry(), rules()  # import every plugin and rule module
    found, todo = [], [ConfigModel]
    while todo:
        cls = todo.pop()
        found.append(cls)
        todo.extend(cls.__subclasses__())
    return found


NUMBER_FIELDS = [
    (cls, name)
    for cls in _every_config_model()
    for name, field in cls.model_fields.items()
    if _numbers_only(field.annotation)
]


def test_the_number_fields_span_the_project():
    covered = {cls.__name__ for cls, _ in NUMBER_FIELDS}
    assert {"RunConfig", "RiskConfig", "ExitsConfig", "SmaCrossConfig", "GridConfig",
            "TiersConfig", "SlippageModel", "SenderConfig", "ChainLimits"} <= covered
    assert len(NUMBER_FIELDS) > 40


@pytest.mark.parametrize(("cls", "name"), NUMBER_FIELDS,
                         ids=[f"{c.__name__}.{n}" for c, n in NUMBER_FIELDS])
def test_every_number_field_refuses_true_and_false(cls, name):
    for value in (True, False):
        with pytest.raises(ValidationError) as info:
            cls.model_validate({name: value})
        assert any(e["loc"] == (name,) for e in info.value.errors()), info.value


FLOAT_FIELDS = [(cls, name) for cls, name in NUMBER_FIELDS
                if set(_leaves(cls.model_fields[name].annotation)) <= {float, int, type(None)}
                and float in _leaves(cls.model_fields[name].annotation)]


@pytest.mark.parametrize(("cls", "name"), FLOAT_FIELDS,
                         ids=[f"{c.__name__}.{n}" for c, n in FLOAT_FIELDS])
def test_every_float_field_refuses_inf_and_nan(cls, name):
    """Both are valid TOML: `approval_expiry_s = inf` passed `quorum policy check` and broke the
    first approval request."""
    for value in (math.inf, -math.inf, math.nan):
        with pytest.raises(ValidationError) as info:
            cls.model_validate({name: value})
        assert any(e["loc"] == (name,) and e["type"] == "finite_number"
                   for e in info.value.errors()), info.value


BOOL_FIELDS = [(cls, name) for cls in _every_config_model()
               for name, field in cls.model_fields.items() if _plain(field.annotation, (bool,))]
PLAIN_NUMBER_FIELDS = [(cls, name) for cls, name in NUMBER_FIELDS
                       if _plain(cls.model_fields[name].annotation, (int, float))]


def test_the_true_false_fields_include_the_live_switch():
    assert ("PolicyFile", "live_enabled") in {(c.__name__, n) for c, n in BOOL_FIELDS}


@pytest.mark.parametrize(("cls", "name"), BOOL_FIELDS,
                         ids=[f"{c.__name__}.{n}" for c, n in BOOL_FIELDS])
def test_every_true_false_field_takes_only_true_or_false(cls, name):
    """pydantic read "yes", "on" and 1 as true: `live_enabled = "yes"` enabled live trading."""
    for value in ("yes", "true", 1, 0, 1.0):
        with pytest.raises(ValidationError) as info:
            cls.model_validate({name: value})
        assert any(e["loc"] == (name,) and "expected true or false" in e["msg"]
                   for e in info.value.errors()), info.value


@pytest.mark.parametrize(("cls", "name"), PLAIN_NUMBER_FIELDS,
                         ids=[f"{c.__name__}.{n}" for c, n in PLAIN_NUMBER_FIELDS])
def test_every_number_field_refuses_a_number_written_as_text(cls, name):
    with pytest.raises(ValidationError) as info:
        cls.model_validate({name: "20"})
    assert any(e["loc"] == (name,) and "expected a number, got the text '20'" in e["msg"]
               for e in info.value.errors()), info.value


def test_a_boolean_inside_a_list_or_table_of_numbers_is_refused_too():
    from agents.strategies.grid import GridConfig

    bad = {"exits": {"stop_loss": True}}
    with pytest.raises(ValidationError, match="expected a number, got true/false"):
        GridConfig.model_validate(bad)
    assert _numbers_only(dict[str, int]) and _numbers_only(tuple[float, ...])
    assert _numbers_only(int | None)
    assert not _numbers_only(bool) and not _numbers_only(int | bool)
    assert not _numbers_only(tuple[str, ...]) and not _numbers_only(str)


def test_true_still_sets_a_true_false_key_and_numbers_still_load(tmp_path: Path):
    config = tmp_path / "quorum.toml"
    config.write_text("[run]\nseed = 3\ncash_usd = 5000\n"
                      "[strategies.sma_cross]\nfast = 5\nslow = 20\n"
                      "[strategies.sma_cross.exits]\nstop_loss = 0.02\n", encoding="utf-8")
    settings = Settings.load(config)
    assert settings.run.seed == 3 and settings.run.cash_usd == 5000.0
    assert settings.strategies.params("sma_cross").exits.stop_loss == 0.02
    policy = tmp_path / "policy.toml"
    policy.write_text(DEFAULT_POLICY.read_text().replace("live_enabled = false",
                                                          "live_enabled = true"))
    assert PolicyEngine.load(policy).policy.live_enabled is True


@pytest.mark.parametrize(("text", "expected"), [
    ("[run]\nseed = true\n", "run.seed: expected a number, got true/false"),
    ("[strategies.sma_cross]\nslow = true\n",
     "strategies.sma_cross.slow: expected a number, got true/false"),
    ("[strategies.sma_cross.exits]\nmax_hold_bars = false\n",
     "strategies.sma_cross.exits.max_hold_bars: expected a number, got true/false"),
])
def test_the_settings_file_names_the_key_given_true_or_false(tmp_path: Path, text, expected):
    path = tmp_path / "quorum.toml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        Settings.load(path)
    assert str(info.value) == f"{path}: {expected}"


@pytest.mark.parametrize(("edit", "expected"), [
    # passed `quorum policy check`, then broke the first approval request
    (("approval_expiry_s = 900", "approval_expiry_s = inf"),
     "tiers.approval_expiry_s: Input should be a finite number"),
    # read as true: it enabled live trading
    (("live_enabled = false", 'live_enabled = "yes"'),
     "live_enabled: expected true or false, got 'yes'"),
    (("max_age_s = 7200", "max_age_s = true"),
     "rules.stale_data.max_age_s: expected a number, got true/false"),
    # passed, then matched no asset: every trade was denied
    (('assets = ["BTC"', 'assets = ["btc"'),
     "rules.asset_allowlist.assets: 'btc': expected upper-case symbols like BTC"),
])
def test_a_policy_file_names_the_key_it_refuses(tmp_path: Path, edit, expected):
    text = DEFAULT_POLICY.read_text()
    assert edit[0] in text
    policy = tmp_path / "policy.toml"
    policy.write_text(text.replace(*edit))
    with pytest.raises(ConfigError) as info:
        PolicyEngine.load(policy)
    assert str(info.value) == f"{policy}: {expected}"
