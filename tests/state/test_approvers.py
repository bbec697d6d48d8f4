"""The [approvals] allowlists: what a config file may say, and the errors that name the key."""

from __future__ import annotations

import getpass
from pathlib import Path

import pytest

import core.config
from core.config import Settings
from core.errors import ConfigError
from state.approvers import ApprovalsConfig, Approver, Channel

STARTER = Path(core.config.__file__).with_name("starter.toml")


def _load(tmp_path: Path, text: str) -> Settings:
    path = tmp_path / "quorum.toml"
    path.write_text(text, encoding="utf-8")
    return Settings.load(path)


def test_a_config_names_people_per_channel(tmp_path):
    approvals = _load(tmp_path, """
[approvals]
cli = ["alice", "bob"]
tui = []
telegram = { alice = 123456789, dave = "555000111" }
""").approvals
    assert approvals == ApprovalsConfig(
        cli=("alice", "bob"), tui=(), telegram={"alice": 123456789, "dave": 555000111})
    assert approvals.person(Approver(Channel.TELEGRAM, "555000111")) == "dave"
    assert approvals.person(Approver(Channel.CLI, "bob")) == "bob"
    assert approvals.person(Approver(Channel.TUI, "alice")) is None  # tui = []: nobody


def test_the_default_is_the_os_user_on_cli_and_tui_and_nobody_on_telegram(tmp_path):
    me = getpass.getuser()
    assert Settings().approvals == ApprovalsConfig(cli=(me,), tui=(me,), telegram={})
    assert _load(tmp_path, "[approvals]\n").approvals == Settings().approvals
    only_cli = _load(tmp_path, '[approvals]\ncli = ["alice"]\n').approvals
    assert (only_cli.cli, only_cli.tui) == (("alice",), (me,))


def test_the_starter_config_shows_the_section_and_means_the_defaults():
    text = STARTER.read_text(encoding="utf-8")
    assert "\n[approvals]\n" in text
    assert Settings.load(STARTER).approvals == ApprovalsConfig()


def test_the_starter_configs_examples_load_as_they_read(tmp_path):
    text = STARTER.read_text(encoding="utf-8")
    for key in ("policy_file", "cli", "tui", "telegram"):
        assert f"\n# {key} = " in text, key
        text = text.replace(f"\n# {key} = ", f"\n{key} = ")
    settings = _load(tmp_path, text)
    assert settings.approvals == ApprovalsConfig(
        cli=("alice", "bob"), tui=("alice",), telegram={"alice": 123456789})
    assert settings.policy_file == tmp_path / "my-policy.toml"


@pytest.mark.parametrize(
    ("section", "named"),
    [
        ('cli = "alice"', 'approvals.cli: must be a list of names, like ["alice"]'),
        ('cli = ["alice", "bob", "alice"]', "approvals.cli: must be unique; repeated: alice"),
        ('tui = [""]', "approvals.tui: '' is empty"),
        ('tui = ["  "]', "approvals.tui: '  ' is empty"),
        ('cli = [" alice"]', "approvals.cli: ' alice' has spaces at its ends"),
        ('cli = ["quorum:expiry"]', "approvals.cli: 'quorum:expiry' contains ':'"),
        ('cli = ["a\\tb"]', "approvals.cli: 'a\\tb' has control characters"),
        (f'cli = ["{"x" * 65}"]', "approvals.cli: 'xxxxxxxx"),
        ("cli = [7]", "approvals.cli.0: Input should be a valid string"),
        ('telegram = { alice = "@alice" }',
         "approvals.telegram: alice = '@alice' is a username, and usernames can be changed"),
        ("telegram = { alice = -5 }",
         "approvals.telegram: alice = -5 is not a numeric Telegram user id"),
        ("telegram = { alice = true }",
         "approvals.telegram: alice = True is not a numeric Telegram user id"),
        ("telegram = { alice = 1, bob = 1 }",
         "approvals.telegram: one user id may belong to one person; repeated: 1"),
        ('telegram = { "" = 1 }', "approvals.telegram: '' is empty"),
        ("telegram = [123456789]",
         ("approvals.telegram: must be a table of name = numeric user id, like "
          "{ alice = 123456789 }")),
        ('sms = ["alice"]', "approvals.sms: unknown key"),
    ],
)
def test_a_bad_approvals_section_names_the_file_and_key(tmp_path, section, named):
    with pytest.raises(ConfigError) as info:
        _load(tmp_path, f"[approvals]\n{section}\n")
    assert str(info.value).startswith(f"{tmp_path / 'quorum.toml'}: {named}")


def test_a_too_long_name_says_so(tmp_path):
    with pytest.raises(ConfigError, match="is longer than 64 characters"):
        _load(tmp_path, f'[approvals]\ncli = ["{"x" * 65}"]\n')


def test_an_approver_on_an_unknown_channel_is_a_programming_error():
    with pytest.raises(ValueError, match="'sms' is not a valid Channel"):
        Approver("sms", "alice")
    with pytest.raises(TypeError, match="identity must be text, got int"):
        Approver(Channel.TELEGRAM, 123456789)
