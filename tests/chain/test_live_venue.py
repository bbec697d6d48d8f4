"""--mode live against a real node: the shared anvil devnet stands in for the user's chain.

Live never deals or sets anything, so each test funds its key's address itself, through anvil's
cheat RPCs, before Quorum looks. The key is created in a keystore in tmp_path, as
`quorum keys new` would. The devnet's router, tokens and lending pool are named through
[chain.fork], as a user of a chain other than Ethereum mainnet would name theirs.
"""

from __future__ import annotations

import json
import os
import pickle
import sqlite3
import time
from contextlib import closing
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest
from pydantic import SecretStr

from agents.executor_chain import ChainExecutor
from agents.treasury import TreasuryAgent
from core.chain.adapters.erc20 import Erc20
from core.chain.adapters.uniswap_v2 import UniswapV2Router
from core.chain.anvil import rpc, set_balance
from core.chain.keys import Keystore
from core.chain.live import LiveChain, LiveVenue, live_rpc_url, opening_cash_usd
from core.chain.settings import ChainConfig, ForkConfig
from core.errors import ConfigError
from core.feeds.chain_feed import ChainFeed, ChainFeedError, SpotSource, spot_price
from core.live_gate import CONFIRMATION
from core.models import Side
from policies.engine import DEFAULT_POLICY, PolicyEngine
from tests.chain.conftest import PRICES
from tests.chain.test_chain_executor import bars, order
from tests.core.test_cli_modes import run_on_a_terminal

PASSWORD = "live-test-password-never-shown-5c1e"
RPC_KEY = "rpc-api-key-never-shown-0b7e"
KEY = "live"
CASH = 25_000.0
ASSETS = ["ETH", "BTC"]


@pytest.fixture
def key(tmp_path) -> tuple[Path, str]:
    """A key made as `quorum keys new` makes it (cheap scrypt: the test unlocks it often)."""
    keys = tmp_path / "keys"
    return keys, Keystore(keys, scrypt_n=2**4).new(KEY, SecretStr(PASSWORD))


def tokens(chain) -> dict[str, str]:
    deployment = chain.deployment
    return {"USD": deployment.tokens["USDC"], "ETH": deployment.tokens["WETH"],
            "BTC": deployment.tokens["WBTC"]}


def live_config(chain, keys: Path, *, key_name: str = KEY) -> ChainConfig:
    return ChainConfig(key_name=key_name, keys_dir=keys, receipt_timeout_s=5,
                       fork=ForkConfig(router=chain.deployment.router, tokens=tokens(chain),
                                       lending_pool=chain.deployment.pool))


def fund(chain, address: str, *, cash_usd: float = CASH, ether: int = 10**18) -> None:
    """What the user does before a live run: the wallet gets cash and gas (anvil cheats here)."""
    set_balance(chain.w3, address, ether)
    units = int(Decimal(repr(cash_usd)).scaleb(6))
    rpc(chain.w3, "anvil_dealERC20", [address, tokens(chain)["USD"], hex(units)])


def url(chain) -> SecretStr:
    return SecretStr(chain.anvil.rpc_url)


# -- (a) the venue and the executor on the user's chain -------------------------------------


def test_a_live_buy_is_booked_as_the_chain_moved_it_and_nothing_is_dealt(chain, key, tmp_path):
    keys, address = key
    fund(chain, address)
    config = live_config(chain, keys)
    usdc, weth = Erc20(chain.w3, tokens(chain)["USD"]), Erc20(chain.w3, tokens(chain)["ETH"])
    cash = opening_cash_usd(config, assets=ASSETS, rpc_url=url(chain))
    assert cash == CASH
    with LiveVenue.start(chain=config, policy=PolicyEngine.load(None), assets=ASSETS,
                         cash_usd=cash, rpc_url=url(chain)) as venue:
        assert venue.treasury == address
        assert venue.executor_config.mode == "live"
        assert set(venue.executor_config.lending) == {"AUSDC"}
        assert usdc.balance_of(address) == CASH * 10**6  # starting gave nothing, took nothing
        assert chain.w3.eth.get_balance(address) == 10**18
        executor = ChainExecutor(venue.executor_config, db_url=f"sqlite:///{tmp_path / 'l.db'}",
                                 password=SecretStr(PASSWORD))
        assert executor.address == address
        books = TreasuryAgent(cash_usd=cash, start=datetime(2024, 1, 1, tzinfo=UTC))
        executor.submit(order("live-buy", Side.BUY, tick=0, notional=1_000))
        [fill] = executor.settle(tick=1, bars=bars(1))
        portfolio = books.apply([fill])
        assert executor.reconcile(portfolio) == []
    assert usdc.balance_of(address) == (CASH - 1_000) * 10**6
    assert weth.balance_of(address) / 1e18 == pytest.approx(fill.quantity, rel=1e-12)
    assert portfolio.quantity("ETH") == pytest.approx(fill.quantity, rel=1e-12)


def test_a_live_run_never_creates_a_key(chain, tmp_path):
    config = live_config(chain, tmp_path / "keys", key_name="mine")
    with pytest.raises(ConfigError, match=r"key 'mine'.*`quorum keys new --name mine`"):
        LiveChain.connect(config, assets=ASSETS, rpc_url=url(chain))
    assert not (tmp_path / "keys" / "mine.json").exists()


def test_a_wallet_with_no_gas_other_cash_or_a_deposit_is_refused(chain, key, treasury_sender):
    keys, address = key
    config = live_config(chain, keys)
    fund(chain, address, ether=0)
    with pytest.raises(ConfigError, match="has no ether to pay gas"):
        opening_cash_usd(config, assets=ASSETS, rpc_url=url(chain))
    set_balance(chain.w3, address, 10**18)
    with pytest.raises(ConfigError, match=r"treasury would start with 100000.0 of cash but the "
                                          r"wallet .* holds 25000.0"):
        LiveVenue.start(chain=config, policy=PolicyEngine.load(None), assets=ASSETS,
                        cash_usd=100_000.0, rpc_url=url(chain))
    # Someone deposits 100 USDC to the lending pool on the wallet's behalf.
    for call in chain.lending.supply(asset=tokens(chain)["USD"], amount=100 * 10**6,
                                     on_behalf_of=address):
        treasury_sender.send(call)
    with pytest.raises(ConfigError, match=r"already has 100 AUSDC deposited; .* withdraw it"):
        opening_cash_usd(config, assets=ASSETS, rpc_url=url(chain))


def test_asset_tokens_the_wallet_holds_open_the_run_as_positions_at_the_pool_price(
        chain, key, tmp_path):
    """0.5 WETH in the wallet: the treasury starts holding it at the pool's spot price, the
    books reconcile with the chain from the first tick, and selling it is booked as any sale."""
    keys, address = key
    fund(chain, address)
    rpc(chain.w3, "anvil_dealERC20", [address, tokens(chain)["ETH"], hex(5 * 10**17)])
    config = live_config(chain, keys)
    cash = opening_cash_usd(config, assets=ASSETS, rpc_url=url(chain))
    assert cash == CASH
    with LiveVenue.start(chain=config, policy=PolicyEngine.load(None), assets=ASSETS,
                         cash_usd=cash, rpc_url=url(chain)) as venue:
        price = spot(chain, "ETH")
        assert venue.opening_positions == {"ETH": (0.5, price)}
        executor = ChainExecutor(venue.executor_config, db_url=f"sqlite:///{tmp_path / 'o.db'}",
                                 password=SecretStr(PASSWORD))
        books = TreasuryAgent(cash_usd=cash, start=datetime(2024, 1, 1, tzinfo=UTC),
                              opening=venue.opening_positions)
        assert books.initial_equity_usd == CASH + 0.5 * price
        assert executor.reconcile(books.portfolio()) == []
        without = TreasuryAgent(cash_usd=cash, start=datetime(2024, 1, 1, tzinfo=UTC))
        assert executor.reconcile(without.portfolio()) != []  # the holding is what matches
        executor.submit(order("live-sell", Side.SELL, tick=0, notional=1_500, quantity=0.5))
        [fill] = executor.settle(tick=1, bars=bars(1))
        assert executor.reconcile(books.apply([fill])) == []
    assert Erc20(chain.w3, tokens(chain)["ETH"]).balance_of(address) == 0
    [trade] = books.closed_trades()
    assert trade.entry_price == price and trade.size == 0.5  # the sale moved the pool since


def test_the_rpc_url_is_never_in_an_error(chain, key, monkeypatch):
    keys, _ = key
    secret = "http://127.0.0.1:9/v3/secret-api-key-4f1d"
    with pytest.raises(ConfigError) as refused:
        LiveChain.connect(live_config(chain, keys), assets=ASSETS, rpc_url=SecretStr(secret))
    assert "did not answer eth_chainId" in str(refused.value)
    assert "secret-api-key" not in str(refused.value)
    monkeypatch.delenv("QUORUM_RPC_URL", raising=False)
    with pytest.raises(ConfigError, match="set QUORUM_RPC_URL"):
        live_rpc_url()


# -- (b) the chain feed -----------------------------------------------------------------------


def spot(chain, asset: str) -> float:
    router = UniswapV2Router(chain.w3, chain.deployment.router)
    token, cash = tokens(chain)[asset], tokens(chain)["USD"]
    reserve_asset, reserve_cash = router.reserves(token, cash)
    return spot_price(reserve_asset=reserve_asset, reserve_cash=reserve_cash,
                      asset_decimals=Erc20(chain.w3, token).decimals, cash_decimals=6)


def test_the_chain_feed_bars_are_the_pools_spot_prices_as_they_move(chain):
    source = SpotSource(rpc_url=url(chain), router=chain.deployment.router,
                        quote_token=tokens(chain)["USD"],
                        tokens={asset: tokens(chain)[asset] for asset in ASSETS})
    feed = ChainFeed.start(source=source, n_bars=10, bar_s=0.2)
    try:
        before = {asset: spot(chain, asset) for asset in ASSETS}
        assert before["ETH"] == pytest.approx(3000.0, rel=1e-6)  # the devnet's seeded price
        first = feed.bar("ETH", 0)  # waits for bar 0 to close
        assert time.time() >= feed.time(0).timestamp() + 0.2
        assert (first.open, first.high, first.low, first.close) == (before["ETH"],) * 4
        assert feed.close[1, 0] == before["BTC"]

        chain.align({"ETH": 3300.0})  # someone trades the ETH pool up
        moved_at = time.time()
        after = spot(chain, "ETH")
        assert after == pytest.approx(3300.0, rel=1e-3)
        later = next((t for t in range(feed.n_bars) if feed.time(t).timestamp() > moved_at), None)
        assert later is not None, "every bar had opened before the pool moved"
        bar = feed.bar("ETH", later)
        assert (bar.open, bar.high, bar.low, bar.close) == (after,) * 4
        closes = feed.close[0, : later + 1]  # a slice waits for its last bar, no further
        assert closes.shape == (later + 1,) and closes[0] == before["ETH"]
        assert feed.bar("BTC", later).close == before["BTC"]
        assert list(feed.volume[:, later]) == [0.0, 0.0]
    finally:
        feed.stop()


def test_a_copy_sent_to_another_process_samples_on_its_own_clock(chain):
    source = SpotSource(rpc_url=url(chain), router=chain.deployment.router,
                        quote_token=tokens(chain)["USD"], tokens={"ETH": tokens(chain)["ETH"]})
    feed = ChainFeed.start(source=source, n_bars=2, bar_s=0.1)
    copy = pickle.loads(pickle.dumps(feed))  # what Ray does for the MarketIntel actor
    try:
        assert copy.live is not feed.live and copy.live.started_at is None
        assert copy.timestamps is copy.live.timestamps  # one clock per copy
        assert copy.bar("ETH", 1).close == spot(chain, "ETH")
        assert feed.live.ready == 0  # the original never sampled
        with pytest.raises(IndexError):
            copy.bar("ETH", 2)
    finally:
        copy.stop()
        feed.stop()


def test_a_feed_that_cannot_read_the_chain_fails_closed_without_showing_the_url():
    source = SpotSource(rpc_url=SecretStr("http://127.0.0.1:9/v3/feed-api-key-77aa"),
                        router="0x" + "11" * 20, quote_token="0x" + "22" * 20,
                        tokens={"ETH": "0x" + "33" * 20})
    feed = ChainFeed.start(source=source, n_bars=3, bar_s=0.05)
    with pytest.raises(ChainFeedError, match="reading the pools' reserves failed") as failed:
        feed.bar("ETH", 0)
    assert "feed-api-key" not in str(failed.value)
    with pytest.raises(ChainFeedError):  # and it stays failed: no bar is ever made up
        feed.close[0, 2]


# -- (c) `quorum run --mode live` on a terminal -----------------------------------------------


def write_live_config(chain, tmp_path: Path, keys: Path) -> Path:
    policy = tmp_path / "live-policy.toml"
    policy.write_text(DEFAULT_POLICY.read_text(encoding="utf-8").replace(
        "live_enabled = false", "live_enabled = true"), encoding="utf-8")
    addresses = tokens(chain)
    config = tmp_path / "quorum.toml"
    config.write_text(
        f'policy_file = "{policy}"\n'
        f'[chain]\nkey_name = "{KEY}"\nkeys_dir = "{keys}"\n'
        f'[chain.fork]\nrouter = "{chain.deployment.router}"\n'
        f'lending_pool = "{chain.deployment.pool}"\n'
        f'[chain.fork.tokens]\n' + "".join(f'{k} = "{v}"\n' for k, v in addresses.items()),
        encoding="utf-8")
    return config


def log_entries(db: Path, stage: str) -> list[dict]:
    with closing(sqlite3.connect(db)) as conn:
        rows = conn.execute("SELECT payload_json FROM decision_log WHERE stage = ?", (stage,))
        return [json.loads(payload) for (payload,) in rows]


@pytest.mark.slow
def test_quorum_run_live_on_a_terminal_ends_with_the_books_equal_to_the_chain(chain, key,
                                                                             tmp_path):
    keys, address = key
    fund(chain, address)
    rpc(chain.w3, "anvil_dealERC20", [address, tokens(chain)["ETH"], hex(5 * 10**17)])
    config = write_live_config(chain, tmp_path, keys)
    db = tmp_path / "live.db"
    env = {k: v for k, v in os.environ.items()
           if k not in ("QUORUM_KEYSTORE_PASSWORD", "QUORUM_FORK_URL")}
    # An API key in the URL, as providers hand them out: it must show nowhere.
    rpc_url = f"{chain.anvil.rpc_url.rstrip('/')}/?apikey={RPC_KEY}"
    env.update({"QUORUM_RPC_URL": rpc_url, "TERM": "dumb", "COLUMNS": "200",
                "PYTHONPATH": str(Path(__file__).resolve().parents[2])})
    started_at = time.time()
    code, shown = run_on_a_terminal(
        ["-m", "core.cli", "run", "--mode", "live", "--headless", "--ticks", "3",
         "--interval", "0.3", "--config", str(config), "--db", f"sqlite:///{db}"],
        # getpass writes the space after the prompt once echo is off (and pending input flushed)
        env, answers={"to go on": CONFIRMATION, f"Password for key '{KEY}': ": PASSWORD})
    assert code == 0, shown[-8000:]
    assert "3 ticks on the ray runtime" in shown
    assert PASSWORD not in shown  # the prompt hid it
    [started] = log_entries(db, "RunStarted")
    assert started["mode"] == "live" and started["data"] == "chain"
    assert started["treasury_address"] == address
    assert log_entries(db, "TreasuryMismatch") == []
    [balances] = log_entries(db, "ChainBalances")
    on_chain = {asset: Decimal(amount) for asset, amount in balances["on_chain"].items()}
    assert set(on_chain) == {"USD", "ETH", "BTC", "AUSDC"}
    for asset, amount in on_chain.items():
        booked = Decimal(repr(balances["treasury"].get(asset, 0.0)))
        assert abs(booked - amount) <= Decimal("1e-6") * max(1, abs(amount)), asset
    # The books started from the wallet as it was: its cash, not [run] cash_usd, and its 0.5
    # WETH as a position (return measured from both).
    [funded] = [e for e in log_entries(db, "RunFinished")]
    assert funded["equity_usd"] == pytest.approx(CASH + 0.5 * PRICES["ETH"], rel=0.01)
    assert abs(funded["return_pct"]) < 1.0
    places = {"the terminal": shown.encode()}
    for path in [db, *db.parent.glob("live.db-*"), *ray_logs_since(started_at)]:
        places[str(path)] = path.read_bytes()
    for where, content in places.items():
        for secret in (PASSWORD, RPC_KEY):
            assert secret.encode() not in content, f"{secret} appears in {where}"


def ray_logs_since(started_at: float) -> list[Path]:
    logs = [p for p in Path("/tmp/ray").rglob("*") if p.is_file() and "logs" in p.parts
            and p.stat().st_mtime >= started_at]
    assert logs, "the run's Ray logs were not found"
    return logs
