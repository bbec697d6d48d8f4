"""The settings file: the starter config, errors naming file and key, paths, secrets from env."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

import core.config
from agents.strategies.sma_cross import SmaCrossConfig
from core.config import Secrets, Settings
from core.errors import ConfigError

STARTER = Path(core.config.__file__).with_name("starter.toml")
SECRET = "sk-ant-test-0123456789-do-not-print"


def _write(tmp_path: Path, text: str, name: str = "quorum.toml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def _error(path: Path) -> str:
    with pytest.raises(ConfigError) as info:
        Settings.load(path)
    return str(info.value)


def test_the_starter_config_loads_and_equals_the_defaults():
    loaded = Settings.load(STARTER)
    defaults = Settings()
    for section in ("run", "data", "sentiment", "risk", "reviewer", "execution", "chain"):
        assert getattr(loaded, section) == getattr(defaults, section), section
    assert loaded.policy_file is None
    assert loaded.strategies.enabled == defaults.strategies.enabled == ("sma_cross",)
    assert loaded.strategies.params("sma_cross") == defaults.strategies.params("sma_cross")
    assert loaded.strategies.params("sma_cross") == SmaCrossConfig(fast=10, slow=30)


def test_the_starter_config_states_what_it_says():
    loaded = Settings.load(STARTER)
    assert loaded.run.seed == 7 and loaded.run.cash_usd == 100_000 and loaded.run.mode == "paper"
    assert loaded.data.start == datetime(2024, 1, 1, tzinfo=UTC)
    assert loaded.data.start.utcoffset().total_seconds() == 0
    assert loaded.execution.fee_rate == 0.001
    assert loaded.execution.slippage.impact_bps == 100.0
    assert loaded.reviewer.max_slippage_bps == 100


def test_no_path_gives_the_defaults():
    assert Settings.load(None) == Settings()


@pytest.mark.parametrize(
    ("text", "dotted"),
    [
        ("[risk]\nfractoin = 0.1\n", "risk.fractoin"),
        ("seeed = 1\n", "seeed"),
        ("[run]\nsed = 1\n", "run.sed"),
        ("[execution.slippage]\nbase_bpz = 1\n", "execution.slippage.base_bpz"),
        ("[reviewer]\nmin_confidance = 0.3\n", "reviewer.min_confidance"),
    ],
)
def test_an_unknown_key_at_any_depth_names_the_file_and_the_dotted_key(tmp_path, text, dotted):
    path = _write(tmp_path, text)
    assert _error(path) == f"{path}: {dotted}: unknown key"


def test_an_unknown_strategy_parameter_names_the_dotted_key(tmp_path):
    path = _write(tmp_path, "[strategies.sma_cross]\nfastt = 3\n")
    assert "strategies.sma_cross.fastt: unknown key" in _error(path)


def test_an_unknown_strategy_parameter_is_still_an_error(tmp_path):
    message = _error(_write(tmp_path, "[strategies.sma_cross]\nfastt = 3\n"))
    assert message.startswith(f"{tmp_path / 'quorum.toml'}: strategies")
    assert "fastt" in message


def test_an_unknown_strategy_is_named_with_the_known_ones(tmp_path):
    path = _write(tmp_path, '[strategies]\nenabled = ["moonshot"]\n')
    message = _error(path)
    assert message.startswith(f"{path}: strategies: ")
    assert "unknown strategy 'moonshot'" in message and "sma_cross" in message


@pytest.mark.parametrize(
    ("text", "dotted"),
    [
        ('[run]\nseed = "seven"\n', "run.seed"),
        ('[risk]\nfraction = "lots"\n', "risk.fraction"),
        ("[risk]\nfraction = 1.5\n", "risk.fraction"),
        ("[data]\nbars = 1\n", "data.bars"),
        ('[data]\nsource = "ftp"\n', "data.source"),
        ('[run]\nmode = "live"\n', "run.mode"),
        ("[execution.slippage]\nbase_bps = -1\n", "execution.slippage.base_bps"),
        ("risk = 3\n", "risk"),
    ],
)
def test_a_wrong_value_names_the_key(tmp_path, text, dotted):
    path = _write(tmp_path, text)
    message = _error(path)
    assert message.startswith(f"{path}: {dotted}: ")
    assert "unknown key" not in message


@pytest.mark.parametrize(
    ("text", "dotted", "kind"),
    [
        ("risk = 3\n", "risk", "a number"),
        (f'chain = "{SECRET}"\n', "chain", "text"),
        ("[strategies.sma_cross]\nexits = [1, 2]\n", "strategies.sma_cross.exits", "a list"),
    ],
)
def test_a_value_where_a_table_belongs_says_so_without_echoing_it(tmp_path, text, dotted, kind):
    # Regression: pydantic's "Input should be a valid dictionary or instance of ExitsConfig".
    name = dotted.rsplit(".", 1)[-1]
    message = _error(_write(tmp_path, text))
    assert message.endswith(f"{dotted}: expected a table of keys ({name}.KEY = value), got {kind}")
    assert SECRET not in message


# Regression: these reached the synthetic generator and ended `quorum backtest` in a traceback.
@pytest.mark.parametrize(
    ("text", "dotted", "problem"),
    [
        ("[data]\nassets = []\n", "data.assets", "at least one"),
        ('[data]\nassets = ["BTC", "ETH", "BTC"]\n', "data.assets", "repeated: BTC"),
        ('[data]\nassets = ["BTC", "eth"]\n', "data.assets", "'eth' is not an upper-case symbol"),
        ("[data]\nstart = 2024-01-01T00:00:00\n", "data.start", "needs a timezone"),
    ],
)
def test_a_bad_data_section_names_the_key_and_the_problem(tmp_path, text, dotted, problem):
    path = _write(tmp_path, text)
    message = _error(path)
    assert message.startswith(f"{path}: {dotted}: ")
    assert problem in message


def test_a_start_with_any_utc_offset_is_accepted(tmp_path):
    path = _write(tmp_path, "[data]\nstart = 2024-01-01T09:00:00+09:00\n")
    assert Settings.load(path).data.start == datetime(2024, 1, 1, tzinfo=UTC)


def test_every_problem_is_reported_at_once(tmp_path):
    path = _write(tmp_path, '[run]\nseed = "x"\n[risk]\nfractoin = 1\n')
    message = _error(path)
    assert "run.seed: " in message and "risk.fractoin: unknown key" in message


def test_invalid_toml_names_the_file(tmp_path):
    path = _write(tmp_path, "[run\nseed = 1\n")
    assert _error(path).startswith(f"{path}: not valid TOML")


def test_a_missing_file_names_it(tmp_path):
    path = tmp_path / "absent.toml"
    assert _error(path) == f"{path}: config file not found (write one with `quorum init`)"


def test_relative_paths_resolve_against_the_config_files_folder(tmp_path):
    folder = tmp_path / "conf"
    folder.mkdir()
    absolute = tmp_path / "elsewhere" / "b.csv"
    path = _write(
        folder,
        'policy_file = "policies/mine.toml"\n'
        f'[data]\nsource = "files"\nfiles = ["data/a.csv", "{absolute.as_posix()}"]\n'
        '[sentiment]\nheadlines = "news.jsonl"\n'
        '[chain]\nkeys_dir = "keys"\n',
    )
    settings = Settings.load(path)
    assert settings.chain.keys_dir == folder / "keys"
    assert settings.policy_file == folder / "policies" / "mine.toml"
    assert settings.data.files == (folder / "data" / "a.csv", absolute)
    assert settings.sentiment.headlines == folder / "news.jsonl"


def test_unset_paths_stay_unset(tmp_path):
    settings = Settings.load(_write(tmp_path, "[run]\nseed = 1\n"))
    assert settings.policy_file is None
    assert settings.sentiment.headlines is None
    assert settings.data.files == ()


def test_secrets_come_from_the_environment_and_never_show(monkeypatch):
    monkeypatch.setenv("ANTHROPIC_API_KEY", SECRET)
    secrets = Secrets.from_env()
    assert secrets.anthropic_api_key is not None
    assert secrets.anthropic_api_key.get_secret_value() == SECRET
    for shown in (
        repr(secrets),
        str(secrets),
        repr(secrets.anthropic_api_key),
        str(secrets.anthropic_api_key),
        f"{secrets}",
        secrets.model_dump_json(),
        str(secrets.model_dump()),
    ):
        assert SECRET not in shown
        assert "0123456789" not in shown


@pytest.mark.parametrize("value", [None, ""])
def test_no_key_in_the_environment_means_no_secret(monkeypatch, value):
    if value is None:
        monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    else:
        monkeypatch.setenv("ANTHROPIC_API_KEY", value)
    assert Secrets.from_env().anthropic_api_key is None


def test_a_secret_in_the_config_file_is_refused(tmp_path):
    path = _write(tmp_path, 'anthropic_api_key = "sk-ant-in-a-file"\n')
    message = _error(path)
    assert "anthropic_api_key: unknown key" in message
    assert "sk-ant-in-a-file" not in message
