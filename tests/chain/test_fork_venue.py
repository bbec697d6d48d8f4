"""--mode fork without the internet: anvil forks the test devnet (chain 31337), the venue points
the executor at the protocol through [chain.fork], and a swap on the fork leaves the source
chain untouched."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from pydantic import SecretStr

from agents.executor_chain import ChainExecutor
from agents.treasury import TreasuryAgent
from core.chain.adapters.erc20 import Erc20
from core.chain.settings import ChainConfig, ForkConfig
from core.chain.venue import ChainVenue, _fork_addresses
from core.errors import ConfigError
from core.models import Side
from policies.engine import PolicyEngine
from tests.chain.conftest import PRICES
from tests.chain.test_chain_executor import bars, order

PASSWORD = SecretStr("fork-test-password")
CASH = 50_000.0


def test_a_fork_deals_the_cash_and_trades_on_the_forked_pools(chain, tmp_path):
    deployment = chain.deployment
    tokens = {"USD": deployment.tokens["USDC"], "ETH": deployment.tokens["WETH"],
              "BTC": deployment.tokens["WBTC"]}
    config = ChainConfig(key_name="fork-treasury", keys_dir=tmp_path / "keys",
                         fork=ForkConfig(router=deployment.router, tokens=tokens))
    with ChainVenue.start(mode="fork", chain=config, policy=PolicyEngine.load(None),
                          password=PASSWORD, prices=dict(PRICES), cash_usd=CASH,
                          start=datetime(2024, 1, 1, tzinfo=UTC),
                          fork_url=SecretStr(chain.anvil.rpc_url)) as venue:
        assert venue.anvil.rpc_url != chain.anvil.rpc_url
        usdc_on_fork = Erc20(venue.w3, tokens["USD"])
        assert usdc_on_fork.balance_of(venue.treasury) == CASH * 10**6
        executor = ChainExecutor(venue.executor_config, db_url=f"sqlite:///{tmp_path / 'f.db'}",
                                 password=PASSWORD)
        assert executor.address == venue.treasury
        books = TreasuryAgent(cash_usd=CASH, start=datetime(2024, 1, 1, tzinfo=UTC))
        executor.submit(order("fork-buy", Side.BUY, tick=0, notional=10_000))
        [fill] = executor.settle(tick=1, bars=bars(1))
        assert fill.price == pytest.approx(PRICES["ETH"], rel=0.01)
        assert executor.reconcile(books.apply([fill])) == []
    # The source chain never saw the fork's deal or swap.
    assert Erc20(chain.w3, tokens["USD"]).balance_of(venue.treasury) == 0
    assert Erc20(chain.w3, tokens["ETH"]).balance_of(venue.treasury) == 0


def test_a_fork_of_another_chain_must_name_its_router_and_tokens():
    with pytest.raises(ConfigError, match=r"chain 31337 .* router, tokens.USD, tokens.ETH"):
        _fork_addresses(31337, ForkConfig(), assets=["ETH"])
    router, tokens = _fork_addresses(1, ForkConfig(), assets=["ETH", "BTC"])
    assert router == "0x7a250d5630B4cF539739dF2C5dAcb4c659F2488D"
    assert tokens["USD"] == "0xA0b86991c6218b36c1d19D4a2e9Eb0cE3606eB48"
