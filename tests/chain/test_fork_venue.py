"""--mode fork without the internet: anvil forks the test devnet (chain 31337), the venue points
the executor at the protocols through [chain.fork], and swaps and lending on the fork leave the
source chain untouched."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from pydantic import SecretStr
from structlog.testing import capture_logs

from agents.executor_chain import ChainExecutor
from agents.executor_chain_config import LendingReserve
from agents.treasury import TreasuryAgent
from core.chain import mainnet
from core.chain.adapters.aave_v3 import AaveV3Pool
from core.chain.adapters.erc20 import Erc20
from core.chain.anvil import RUN_CHAIN_IDS, increase_time
from core.chain.settings import ChainConfig, ForkConfig
from core.chain.venue import (
    ChainVenue,
    _closed_states,
    fork_addresses,
    fork_lending,
    fork_lending_pool,
)
from core.config import Settings
from core.errors import ConfigError
from core.models import Deposit, Proposal, Side
from policies.engine import PolicyEngine, unexecutable
from tests.chain.conftest import PRICES
from tests.chain.test_chain_executor import bars, order

PASSWORD = SecretStr("fork-test-password")
CASH = 50_000.0
START = datetime(2024, 1, 1, tzinfo=UTC)
YEAR = 365 * 86_400


def devnet_tokens(chain) -> dict[str, str]:
    tokens = chain.deployment.tokens
    return {"USD": tokens["USDC"], "ETH": tokens["WETH"], "BTC": tokens["WBTC"]}


def start_fork(chain, tmp_path, fork: ForkConfig) -> ChainVenue:
    config = ChainConfig(key_name="fork-treasury", keys_dir=tmp_path / "keys", fork=fork)
    return ChainVenue.start(mode="fork", chain=config, policy=PolicyEngine.load(None),
                            password=PASSWORD, prices=dict(PRICES), cash_usd=CASH, start=START,
                            fork_url=SecretStr(chain.anvil.rpc_url))


def lending_order(decision: str, side: Side, *, tick: int, notional: float,
                  quantity: float | None = None):
    return order(decision, side, tick=tick, notional=notional, quantity=quantity).model_copy(
        update={"asset": "AUSDC", "mode": "fork"})


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
        # Its own chain id: what the key signs on the fork is void on the forked chain, and the
        # fork's nonces never mix with a live run's in a shared database.
        assert venue.w3.eth.chain_id in RUN_CHAIN_IDS
        assert venue.w3.eth.chain_id != chain.w3.eth.chain_id
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
        fork_addresses(31337, ForkConfig(), assets=["ETH"])
    router, tokens = fork_addresses(1, ForkConfig(), assets=["ETH", "BTC"])
    assert router == "0x7a250d5630B4cF539739dF2C5dAcb4c659F2488D"
    assert tokens["USD"] == "0xA0b86991c6218b36c1d19D4a2e9Eb0cE3606eB48"


def test_a_fork_lends_the_cash_to_the_configured_pool_and_takes_it_back(chain, tmp_path):
    deployment, tokens = chain.deployment, devnet_tokens(chain)
    source_pool = AaveV3Pool(chain.w3, deployment.pool)
    source_a_token = source_pool.a_token(tokens["USD"])
    scaled_supply_before = source_a_token.functions.scaledTotalSupply().call()
    fork = ForkConfig(router=deployment.router, tokens=tokens, lending_pool=deployment.pool)
    with start_fork(chain, tmp_path, fork) as venue:
        assert venue.executor_config.lending == {
            "AUSDC": LendingReserve(pool=deployment.pool, asset=tokens["USD"])}
        executor = ChainExecutor(venue.executor_config, db_url=f"sqlite:///{tmp_path / 'l.db'}",
                                 password=PASSWORD)
        books = TreasuryAgent(cash_usd=CASH, start=START)
        usdc, pool = Erc20(venue.w3, tokens["USD"]), AaveV3Pool(venue.w3, deployment.pool)

        executor.submit(lending_order("fork-lend", Side.BUY, tick=0, notional=20_000))
        [lent] = executor.settle(tick=1, bars=bars(1))
        assert (lent.asset, lent.side, lent.fee_usd) == ("AUSDC", Side.BUY, 0.0)
        assert lent.quantity * lent.price == pytest.approx(20_000, rel=1e-12)
        assert usdc.balance_of(venue.treasury) == (CASH - 20_000) * 10**6
        assert abs(pool.supplied(tokens["USD"], venue.treasury) - 20_000 * 10**6) <= 1
        assert usdc.allowance(venue.treasury, deployment.pool) == 0  # approved exactly
        assert executor.reconcile(books.apply([lent])) == []

        increase_time(venue.w3, 30 * 86_400)  # the devnet pool's 5 % a year, for 30 days
        prices = executor.receipt_prices()
        assert prices["AUSDC"] == pytest.approx(1 + 0.05 * 30 / 365, rel=1e-4)
        marked = books.mark(tick=2, ts=START + timedelta(hours=2),
                            prices={"ETH": PRICES["ETH"], **prices})
        assert executor.reconcile(marked) == []

        held = marked.quantity("AUSDC")
        executor.submit(lending_order("fork-unlend", Side.SELL, tick=2, notional=1,
                                      quantity=held))
        [back] = executor.settle(tick=3, bars=bars(3))
        after = books.apply([back])
        assert after.quantity("AUSDC") == 0 and "AUSDC" not in after.positions
        assert pool.supplied(tokens["USD"], venue.treasury) == 0
        interest = usdc.balance_of(venue.treasury) - CASH * 10**6
        assert interest == pytest.approx(20_000 * 10**6 * 0.05 * 30 / 365, rel=1e-3)
        assert after.realized_pnl_usd == pytest.approx(interest / 10**6, rel=1e-6)
        assert executor.reconcile(after) == []
    # The source chain never saw the fork's deposit or withdrawal.
    assert Erc20(chain.w3, tokens["USD"]).balance_of(venue.treasury) == 0
    assert source_pool.supplied(tokens["USD"], venue.treasury) == 0
    assert source_a_token.functions.scaledTotalSupply().call() == scaled_supply_before


def test_a_fork_of_another_chain_without_a_lending_pool_does_not_lend(chain, tmp_path):
    fork = ForkConfig(router=chain.deployment.router, tokens=devnet_tokens(chain))
    with capture_logs() as logs, start_fork(chain, tmp_path, fork) as venue:
        assert venue.executor_config.lending == {}
        lendable = frozenset(venue.executor_config.lending)  # what the governor denies against
    assert [e for e in logs if e["event"] == "chain.venue.lending_off"] == [{
        "event": "chain.venue.lending_off", "log_level": "warning", "chain_id": 31337,
        "reason": "[chain.fork] lending_pool is not set; deposits are denied"}]
    deposit = Proposal(decision_id="d", tick=0, ts=START, strategy="treasury_regime",
                       action=Deposit(asset="USDC", protocol="aave-v3", receipt="AUSDC"),
                       notional_usd=1_000.0, rationale="base layer", confidence=1.0)
    verdict = unexecutable(deposit, policy_version="v", mode="fork", lendable=lendable)
    assert verdict is not None and verdict.fired[0].rule == "executable"


def test_the_lending_pool_defaults_to_aave_v3_on_mainnet_only():
    assert fork_lending_pool(1, ForkConfig()) == mainnet.AAVE_V3_POOL
    assert mainnet.AAVE_V3_POOL == "0x87870Bca3F3fD6335C3F4ce8392D69350B4fA4E2"
    assert fork_lending_pool(31337, ForkConfig()) is None
    other = "0x" + "ab" * 20
    assert fork_lending_pool(1, ForkConfig(lending_pool=other)) == other
    assert fork_lending_pool(10, ForkConfig(lending_pool=other)) == other


def test_a_lending_pool_that_cannot_take_the_cash_token_is_a_config_error(chain, treasury):
    usdc, deployment = chain.deployment.tokens["USDC"], chain.deployment
    with pytest.raises(ConfigError, match=r"\[chain.fork\] lending_pool 0x\w+ on chain 31337: "
                                          r"no contract at that address"):
        fork_lending(chain.w3, treasury.address, usdc)
    with pytest.raises(ConfigError, match=r"lending_pool .*: does not answer Aave V3's "
                                          r"getReserveData"):
        fork_lending(chain.w3, deployment.router, usdc)  # a contract, but not a pool
    with pytest.raises(ConfigError, match=rf"the cash token {deployment.router} \(tokens.USD\) "
                                          r"is not one of its reserves"):
        fork_lending(chain.w3, deployment.pool, deployment.router)
    assert fork_lending(chain.w3, deployment.pool, usdc) == {
        "AUSDC": LendingReserve(pool=deployment.pool, asset=usdc)}


def test_a_frozen_or_paused_reserve_is_closed_to_deposits():
    active_usdc = 1 << 56 | 6 << 48  # Aave's bitmap: active, 6 decimals
    assert _closed_states(0) == [] and _closed_states(active_usdc) == []
    assert _closed_states(active_usdc | 1 << 57) == ["frozen"]
    assert _closed_states(active_usdc | 1 << 57 | 1 << 60) == ["frozen", "paused"]


@pytest.mark.parametrize(("toml", "key"), [
    ('lending_pool = "0x1234"', "chain.fork.lending_pool: '0x1234' is not an address"),
    ('tokens = { USD = "usdc" }', "chain.fork.tokens.USD: 'usdc' is not an address"),
    ('router = "0x" ', "chain.fork.router: '0x' is not an address"),
])
def test_a_bad_fork_address_is_an_error_naming_the_key(tmp_path, toml, key):
    path = tmp_path / "quorum.toml"
    path.write_text(f"[chain.fork]\n{toml}\n", encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        Settings.load(path)
    assert key in str(info.value)
