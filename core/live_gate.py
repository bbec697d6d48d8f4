"""The gate in front of live trading: every condition in order, each refusal naming what is
missing. Nothing here is ever a default: paper is.

Live trading needs ``live_enabled = true`` in the policy, a terminal (a service, a pipe or CI is
refused: a person must be there), and the confirmation phrase typed exactly. Only then may a
live run go on to what it needs next: ``$QUORUM_RPC_URL``, an existing keystore key and its
password (core/cli.py), the wallet as it is on chain (core/chain/live.py).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TextIO

from core.errors import ConfigError
from policies.engine import PolicyEngine

CONFIRMATION = "trade real money"


class LiveRefused(ConfigError):
    """Live trading was asked for and one of its conditions does not hold."""


def check_live(policy: PolicyEngine, *, stdin: TextIO, ask: Callable[[str], str]) -> None:
    """Raise LiveRefused unless every condition for a live run holds."""
    where = policy.path or "the shipped policy"
    if not policy.policy.live_enabled:
        raise LiveRefused(f"--mode live: {where} has live_enabled = false; set it to true in a "
                          "policy of your own (policy_file in the config) to allow live trading")
    if not stdin.isatty():
        raise LiveRefused("--mode live needs a person to type a confirmation on a terminal; "
                          "stdin is not a terminal, so nothing was started")
    typed = ask(f'Live trading moves real money. Type "{CONFIRMATION}" to go on')
    if typed.strip() != CONFIRMATION:
        raise LiveRefused("--mode live: the confirmation was not typed; nothing was started")
