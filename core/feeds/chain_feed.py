"""The live market feed: bars built in real time from an AMM's on-chain spot prices.

A ``ChainFeed`` is a ``MarketData`` of ``n_bars`` bars of ``bar_s`` seconds each, for
``quorum run --mode live``. Bar i is made from samples of each asset's spot price (the pool's
reserves against the cash token, read through the Uniswap V2 adapter) taken ``samples_per_bar``
times over the bar, plus the sample that closes it; its open, high, low and close are the first,
highest, lowest and last of those. Volume is 0: a spot price says nothing about traded volume.

The bars exist only once their time has passed: reading bar i (``bar``, or any slice of the price
arrays that reaches column i) waits until it closes. The clock starts when the feed is first used
in a process (``time``, or a read); a copy sent to another process (a Ray actor) starts its own
clock there, so a run's bars are those of the process that reads them, starting when it first asks.

Caveat: an AMM's spot price is whatever the pool's reserves say this block, and anyone can move it
with a large swap (or a flash loan) for a block or more. Strategies and the risk agent see that
price. What still bounds a trade: the policy's slippage rule (on the expected slippage), and every
swap's ``amountOutMin``, a fresh quote at execution less the policy's max slippage, which makes the
swap revert if the pool moves between that quote and the block that mines it. A pool already moved
when the executor quotes is traded at its moved price, within those bounds.

This module never sends a transaction and never logs or shows the RPC URL (it may hold an API key):
a failed read names the exception's class only.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import numpy as np
from pydantic import SecretStr

from core.errors import OperationalError
from core.feeds.base import MarketData
from core.logging import get_logger

log = get_logger(__name__)

PRICE_ARRAYS = ("open", "high", "low", "close", "volume")
STALL_GRACE_S = 30.0
"""How long past a bar's close a reader waits for it before the feed counts as stalled."""


class ChainFeedError(OperationalError):
    """The live feed could not read the chain's prices; the run stops (fails closed)."""


@dataclass(frozen=True)
class SpotSource:
    """Where the spot prices come from: a node, a Router02, the cash token and each asset's."""

    rpc_url: SecretStr
    router: str
    quote_token: str
    tokens: dict[str, str]

    def connect(self) -> _SpotReader:
        return _SpotReader(self)


class _SpotReader:
    """Reads every asset's spot price in cash from its pool's reserves (no fee, no size)."""

    def __init__(self, source: SpotSource) -> None:
        from core.chain.adapters.erc20 import Erc20  # web3: only when a live feed runs
        from core.chain.adapters.uniswap_v2 import UniswapV2Router
        from core.chain.anvil import http_web3

        w3 = http_web3(source.rpc_url.get_secret_value())
        self.router = UniswapV2Router(w3, source.router)
        quote = Erc20(w3, source.quote_token)
        self.quote, self.quote_decimals = quote.address, quote.decimals
        tokens = {asset: Erc20(w3, address) for asset, address in source.tokens.items()}
        self.tokens = {asset: (token.address, token.decimals) for asset, token in tokens.items()}

    def prices(self) -> dict[str, float]:
        prices = {}
        for asset, (token, decimals) in self.tokens.items():
            reserve_asset, reserve_cash = self.router.reserves(token, self.quote)
            if reserve_asset <= 0 or reserve_cash <= 0:
                raise ChainFeedError(f"the {asset} pool against the cash token has no liquidity")
            prices[asset] = spot_price(reserve_asset=reserve_asset, reserve_cash=reserve_cash,
                                       asset_decimals=decimals,
                                       cash_decimals=self.quote_decimals)
        return prices


def spot_price(*, reserve_asset: int, reserve_cash: int, asset_decimals: int,
               cash_decimals: int) -> float:
    """A pool's mid price: cash per whole asset token, from its reserves in base units."""
    return (reserve_cash / 10**cash_decimals) / (reserve_asset / 10**asset_decimals)


class LiveBars:
    """The bars of one feed, filled by a sampling thread; readers wait for the bars they read."""

    def __init__(self, *, source: SpotSource, assets: tuple[str, ...], n_bars: int,
                 bar_s: float, samples_per_bar: int) -> None:
        if n_bars < 1 or bar_s <= 0 or samples_per_bar < 1:
            raise ValueError("a chain feed needs n_bars >= 1, bar_s > 0 and samples_per_bar >= 1")
        self.source, self.assets, self.n_bars = source, assets, n_bars
        self.bar_s, self.samples_per_bar = bar_s, samples_per_bar
        self.timestamps = np.zeros(n_bars, dtype=np.int64)
        self._set_start(time.time())  # the planned clock, until first use re-anchors it
        self._fresh()

    def _fresh(self) -> None:
        shape = (len(self.assets), self.n_bars)
        self.arrays = {name: np.full(shape, np.nan) for name in PRICE_ARRAYS}
        self.ready = 0
        self.started_at: float | None = None
        self.error: str | None = None
        self._thread: threading.Thread | None = None
        self._stopped = threading.Event()
        self._changed = threading.Condition()

    def __getstate__(self) -> dict[str, Any]:
        # Another process gets the plan, never this process's clock, samples or thread.
        keep = ("source", "assets", "n_bars", "bar_s", "samples_per_bar", "timestamps")
        return {name: getattr(self, name) for name in keep}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self.timestamps = np.array(self.timestamps)  # Ray hands arrays over read-only
        self._fresh()

    # -- the clock --------------------------------------------------------------------------

    def _set_start(self, start: float) -> None:
        first_ns = round(start * 1000) * 1_000_000
        bar_ns = round(self.bar_s * 1e9)
        self.timestamps[:] = first_ns + np.arange(self.n_bars, dtype=np.int64) * bar_ns

    def anchor(self) -> None:
        """Start this process's clock now, once: bar 0 opens at the first use."""
        with self._changed:
            if self.started_at is None:
                self.started_at = time.time()
                self._set_start(self.started_at)

    def start_of(self, bar: int) -> float:
        return int(self.timestamps[bar]) / 1e9

    # -- reading ----------------------------------------------------------------------------

    def wait(self, last: int) -> None:
        """Block until bars 0..``last`` have closed (starting the clock and sampler if needed)."""
        if last < 0:
            return
        if last >= self.n_bars:
            raise IndexError(f"bar {last} outside the feed's {self.n_bars} bars")
        self.anchor()
        with self._changed:
            if self._thread is None:
                self._thread = threading.Thread(target=self._sample, name="chain-feed",
                                                daemon=True)
                self._thread.start()
            deadline_s = self.start_of(last) + self.bar_s + STALL_GRACE_S
            while self.ready <= last and self.error is None:
                if time.time() > deadline_s or not self._thread.is_alive():
                    raise ChainFeedError(f"the chain feed stalled before bar {last} closed")
                self._changed.wait(timeout=min(self.bar_s, 1.0))
            if self.ready <= last:
                raise ChainFeedError(f"the chain feed stopped at bar {self.ready}: {self.error}")

    def stop(self) -> None:
        self._stopped.set()

    # -- the sampler ------------------------------------------------------------------------

    def _sample(self) -> None:
        """Take each sample on schedule; a sample that is due closes the bar before it."""
        try:
            reader = self.source.connect()
            step_s = self.bar_s / self.samples_per_bar
            samples: list[dict[str, float]] = []
            for j in range(self.n_bars * self.samples_per_bar + 1):
                due = self.start_of(0) + j * step_s
                while (delay := due - time.time()) > 0:  # never before its time, by the wall clock
                    if self._stopped.wait(delay):
                        return
                prices = reader.prices()
                if j > 0 and j % self.samples_per_bar == 0:
                    self._close_bar(j // self.samples_per_bar - 1, [*samples, prices])
                    samples = []
                samples.append(prices)
        except ChainFeedError as error:
            self._fail(str(error))
        except Exception as error:  # noqa: BLE001 - web3 errors may quote the URL: class only
            self._fail(f"reading the pools' reserves failed ({type(error).__name__})")

    def _close_bar(self, bar: int, samples: list[dict[str, float]]) -> None:
        for i, asset in enumerate(self.assets):
            prices = [sample[asset] for sample in samples]
            self.arrays["open"][i, bar] = prices[0]
            self.arrays["high"][i, bar] = max(prices)
            self.arrays["low"][i, bar] = min(prices)
            self.arrays["close"][i, bar] = prices[-1]
            self.arrays["volume"][i, bar] = 0.0
        with self._changed:
            self.ready = bar + 1
            self._changed.notify_all()
        log.debug("feed.chain.bar_closed", bar=bar, samples=len(samples))

    def _fail(self, reason: str) -> None:
        log.error("feed.chain.failed", reason=reason, ready=self.ready)
        with self._changed:
            self.error = reason
            self._changed.notify_all()


class LiveColumns:
    """One price array of a ChainFeed: indexing it waits for the last bar the index reaches."""

    def __init__(self, bars: LiveBars, name: str) -> None:
        self.bars, self.name = bars, name

    @property
    def shape(self) -> tuple[int, ...]:
        return self.bars.arrays[self.name].shape

    def __len__(self) -> int:
        return self.shape[0]

    def __getitem__(self, key: Any) -> Any:
        self.bars.wait(_last_column(key, self.bars.n_bars))
        value = self.bars.arrays[self.name][key]
        return value.copy() if isinstance(value, np.ndarray) else value

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        self.bars.wait(self.bars.n_bars - 1)
        return np.array(self.bars.arrays[self.name], dtype=dtype)


def _last_column(key: Any, n_bars: int) -> int:
    """The highest bar an index into an (assets x bars) array reaches (all of them if unsure)."""
    columns = key[1] if isinstance(key, tuple) and len(key) == 2 else None
    if isinstance(columns, slice):
        reached = range(*columns.indices(n_bars))
        return max(reached) if reached else -1
    if isinstance(columns, int | np.integer):
        if not -n_bars <= columns < n_bars:
            raise IndexError(f"bar {columns} outside the feed's {n_bars} bars")
        return int(columns) % n_bars
    return n_bars - 1


@dataclass(frozen=True, eq=False)
class ChainFeed(MarketData):
    """A MarketData whose bars arrive in real time from the chain (see the module docstring)."""

    live: LiveBars | None = field(default=None, repr=False)

    @classmethod
    def start(cls, *, source: SpotSource, n_bars: int, bar_s: float,
              samples_per_bar: int = 4) -> ChainFeed:
        """A feed of ``n_bars`` bars of ``bar_s`` seconds over ``source``'s assets."""
        assets = tuple(source.tokens)
        live = LiveBars(source=source, assets=assets, n_bars=n_bars, bar_s=bar_s,
                        samples_per_bar=samples_per_bar)
        columns = {name: LiveColumns(live, name) for name in PRICE_ARRAYS}
        note = (f"live: on-chain AMM spot prices sampled {samples_per_bar} times per "
                f"{bar_s:g} s bar; others can move a pool's spot price, the slippage guard "
                "and amountOutMin still bound each trade; volume is not observed (0)")
        return cls(assets=assets, timestamps=live.timestamps, source="chain", notes=(note,),
                   live=live, **columns)

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        object.__setattr__(self, "timestamps", self.live.timestamps)  # one clock, the live one

    def time(self, t: int) -> datetime:
        """Open time of bar ``t`` on this process's clock (starting it on first use)."""
        self.live.anchor()
        if not 0 <= t < self.n_bars:
            raise IndexError(f"bar {t} outside the feed's {self.n_bars} bars")
        return datetime.fromtimestamp(int(self.live.timestamps[t]) / 1e9, tz=UTC)

    def times(self, start: int, stop: int) -> list[datetime]:
        """``time(t)`` for bars start..stop-1."""
        return [self.time(t) for t in range(start, stop)]

    def wait_for(self, t: int) -> None:
        """Block until bar ``t`` has closed."""
        self.live.wait(t)

    def stop(self) -> None:
        """Stop sampling (the thread is a daemon: a process that exits stops it anyway)."""
        self.live.stop()
