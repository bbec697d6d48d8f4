"""One real anvil devnet for the whole chain test run, reverted to a snapshot after each test.

The devnet is started once (anvil, compile into a fresh cache, deploy, seed, fund); each test
that takes ``chain`` runs on it from an evm_snapshot and is reverted afterwards, so tests stay
independent at the cost of one RPC each. Without anvil the tests skip, saying how to install it,
except under CI, which installs it (``.ci/run``) and so fails instead.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from eth_account import Account
from eth_account.signers.local import LocalAccount

from core.chain.anvil import find_anvil, revert, snapshot
from core.chain.devnet import Devnet, DevnetConfig
from core.chain.errors import AnvilNotFound
from core.chain.tx import ServiceSender

PRICES = {"ETH": 3000.0, "BTC": 60000.0}
CASH_USD = 1_000_000.0
POOL_DEPTH_USD = 10_000_000.0


@pytest.fixture(scope="session")
def anvil_binary() -> Path:
    try:
        return find_anvil()
    except AnvilNotFound as error:
        if os.environ.get("CI"):
            pytest.fail(f"CI installs anvil (.ci/run) but it was not found: {error}")
        pytest.skip(f"anvil is not installed: {error}")


@pytest.fixture(scope="session")
def contract_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("contract-cache")


@pytest.fixture(scope="session")
def treasury() -> LocalAccount:
    return Account.create()


@pytest.fixture(scope="session")
def devnet(anvil_binary: Path, contract_cache: Path, treasury: LocalAccount) -> Iterator[Devnet]:
    with Devnet.start(
        prices=PRICES,
        treasury=treasury.address,
        cash_usd=CASH_USD,
        config=DevnetConfig(pool_depth_usd=POOL_DEPTH_USD),
        cache_dir=contract_cache,
        anvil_binary=anvil_binary,
    ) as devnet:
        yield devnet


@pytest.fixture
def chain(devnet: Devnet) -> Iterator[Devnet]:
    """The shared devnet, reverted to how this test found it when the test ends."""
    saved = snapshot(devnet.w3)
    yield devnet
    revert(devnet.w3, saved)


@pytest.fixture
def treasury_sender(chain: Devnet, treasury: LocalAccount) -> ServiceSender:
    """Sends the treasury's transactions (standing in for the chain executor)."""
    return ServiceSender(chain.w3, treasury)
