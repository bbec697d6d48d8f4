"""Indicator speed: our Numba kernels against TA-Lib and pandas on the same series, same run.

Sections: single indicators on one long series (ours, TA-Lib, pandas, ratios); the fused
standard set against the sum of the separate TA-Lib calls; the fused set over many assets on 1
and 2 threads; one streaming update; one batched request through a real Ray actor against the
same call in-process. Prices are a seeded random walk; every time is a median over repeats.

    python bench/indicators.py [--bars 1000000] [--repeats 7]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable

import numba
import numpy as np
import pandas as pd
import talib

from agents.compute import ComputeAgent, IndicatorRequest, IndicatorSpec
from core.kernels import _fused, indicators
from core.kernels import fused as fused_kernels

PERIOD = 14
BAND = 20


def timed(function: Callable[[], object], repeats: int) -> float:
    """Median seconds of ``repeats`` calls, after one untimed call (compilation, caches)."""
    function()
    samples = []
    for _ in range(repeats):
        started = time.perf_counter()
        function()
        samples.append(time.perf_counter() - started)
    return statistics.median(samples)


def prices(assets: int, bars: int, seed: int = 1) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    close = 100.0 * np.exp(np.cumsum(rng.normal(0.0, 0.01, (assets, bars)), axis=1))
    spread = np.abs(rng.normal(0.0, 0.004, (assets, bars)))
    return {"high": close * (1 + spread), "low": close * (1 - spread), "close": close,
            "volume": rng.uniform(1.0, 1e3, (assets, bars))}


def pandas_rsi(close: pd.Series, period: int) -> pd.Series:
    change = close.diff()
    gain = change.clip(lower=0).ewm(alpha=1 / period, adjust=False).mean()
    loss = (-change).clip(lower=0).ewm(alpha=1 / period, adjust=False).mean()
    return 100 * gain / (gain + loss)


def pandas_atr(high: pd.Series, low: pd.Series, close: pd.Series, period: int) -> pd.Series:
    previous = close.shift(1)
    true_range = pd.concat([high - low, (high - previous).abs(), (low - previous).abs()], axis=1)
    return true_range.max(axis=1).ewm(alpha=1 / period, adjust=False).mean()


def pandas_bollinger(close: pd.Series, period: int) -> tuple[pd.Series, ...]:
    mean, std = close.rolling(period).mean(), close.rolling(period).std(ddof=0)
    return mean + 2 * std, mean, mean - 2 * std


def singles(bars: int, repeats: int) -> None:
    p = {k: v[0] for k, v in prices(1, bars).items()}
    h, lo, c = p["high"], p["low"], p["close"]
    hs, ls, cs = pd.Series(h), pd.Series(lo), pd.Series(c)
    rows = {
        "EMA": (lambda: indicators.ema(c, PERIOD), lambda: talib.EMA(c, PERIOD),
                lambda: cs.ewm(span=PERIOD, adjust=False).mean()),
        "RSI": (lambda: indicators.rsi(c, PERIOD), lambda: talib.RSI(c, PERIOD),
                lambda: pandas_rsi(cs, PERIOD)),
        "ATR": (lambda: indicators.atr(h, lo, c, PERIOD), lambda: talib.ATR(h, lo, c, PERIOD),
                lambda: pandas_atr(hs, ls, cs, PERIOD)),
        "Bollinger": (lambda: indicators.bollinger(c, BAND, 2.0),
                      lambda: talib.BBANDS(c, BAND, 2.0, 2.0, 0),
                      lambda: pandas_bollinger(cs, BAND)),
    }
    print(f"\n{bars:,} bars, one series, period {PERIOD} (Bollinger {BAND}, k=2), "
          f"ms, median of {repeats}")
    print(f"{'':12}{'ours':>9}{'TA-Lib':>9}{'pandas':>9}{'ours/TA-Lib':>13}{'pandas/ours':>13}")
    for name, (ours, ta, pandas_) in rows.items():
        t_ours, t_ta, t_pd = (timed(f, repeats) for f in (ours, ta, pandas_))
        print(f"{name:12}{t_ours * 1e3:>9.2f}{t_ta * 1e3:>9.2f}{t_pd * 1e3:>9.2f}"
              f"{t_ours / t_ta:>13.2f}{t_pd / t_ours:>13.1f}")
    fused_vs_separate(h, lo, c, repeats)


def fused_vs_separate(h: np.ndarray, lo: np.ndarray, c: np.ndarray, repeats: int) -> None:
    params = fused_kernels.FusedParams()

    def ta_separate() -> None:
        talib.EMA(c, params.ema_fast)
        talib.EMA(c, params.ema_slow)
        talib.RSI(c, params.rsi)
        talib.ATR(h, lo, c, params.atr)
        talib.BBANDS(c, params.bollinger, params.bollinger_k, params.bollinger_k, 0)
        returns = np.diff(np.log(c))  # TA-Lib has no log-return volatility: numpy + STDDEV
        talib.STDDEV(returns, params.volatility) * np.sqrt(params.volatility / (params.volatility - 1))

    def ours_separate() -> None:
        indicators.ema(c, params.ema_fast)
        indicators.ema(c, params.ema_slow)
        indicators.rsi(c, params.rsi)
        indicators.atr(h, lo, c, params.atr)
        indicators.bollinger(c, params.bollinger, params.bollinger_k)
        indicators.volatility(c, params.volatility)

    t_fused = timed(lambda: fused_kernels.fused(high=h, low=lo, close=c, params=params), repeats)
    t_ta = timed(ta_separate, repeats)
    t_ours = timed(ours_separate, repeats)
    print(f"\nstandard set (EMA 12/26, RSI 14, ATR 14, Bollinger 20, volatility 20), "
          f"{len(c):,} bars, ms")
    print(f"{'fused (one pass)':34}{t_fused * 1e3:>9.2f}")
    print(f"{'TA-Lib separate calls (+numpy log)':34}{t_ta * 1e3:>9.2f}")
    print(f"{'ours separate calls':34}{t_ours * 1e3:>9.2f}")
    print(f"{'ratio fused / TA-Lib separate':34}{t_fused / t_ta:>9.2f}")


def threads(repeats: int) -> None:
    """1 and 2 threads, each in a fresh process started with NUMBA_NUM_THREADS=n.

    A deployment runs a fixed thread count; flipping ``numba.set_num_threads`` back and forth
    in one process leaves libgomp's idle workers spinning against the next team (measured: 2
    threads then ran at 1.1× one thread instead of 1.95×), which would measure the flip.
    """
    available = numba.config.NUMBA_NUM_THREADS
    results = {n: _threads_in_fresh_process(n, repeats) if n <= available else None
               for n in (1, 2)}
    print(f"\nfused standard set, 100 assets × 10,000 bars, ms, median of {max(repeats, 20)} "
          f"(each thread count in its own process; cores here: {available})")
    print(f"{'':34}{'1 thread':>10}{'2 threads':>10}{'speed-up':>10}")
    for key, label in THREAD_ROWS.items():
        one, two = (results[n][key] if results[n] else float("nan") for n in (1, 2))
        print(f"{label:34}{one * 1e3:>10.2f}{two * 1e3:>10.2f}{one / two:>10.2f}")


SETTLE_SECONDS = 3.0
"""How long each thread-count process computes before it is timed (see threads_worker)."""

THREAD_ROWS = {
    "fresh": "fresh outputs",
    "reused": "reused output block (out=)",
    "kernel": "kernel alone (log precomputed)",
    "memory": "memory only: write 8 outputs",
}


def _threads_in_fresh_process(n: int, repeats: int) -> dict[str, float]:
    env = {**os.environ, "NUMBA_NUM_THREADS": str(n)}
    done = subprocess.run(
        [sys.executable, __file__, "--threads-worker", str(repeats)],
        env=env, capture_output=True, text=True, check=False,
    )
    if done.returncode != 0:
        raise SystemExit(f"the {n}-thread worker failed:\n{done.stderr}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def threads_worker(repeats: int) -> None:
    """Time the fused set at this process's thread count; print the medians as one JSON line."""
    fused_kernels.warm_up()
    p = prices(100, 10_000, seed=2)
    h, lo, c = p["high"], p["low"], p["close"]
    block = fused_kernels.output_block(c.shape)
    log_close = np.log(c)
    params = fused_kernels.FusedParams()
    rows = block[:_fused.N_OUTPUTS]
    repeats = max(repeats, 20)
    # Run until the scheduler has spread the team over the cores: a fresh 2-thread process ran
    # its first ~1.5 s at one thread's speed here (both threads on one core), then at 1.9×.
    settle_until = time.perf_counter() + SETTLE_SECONDS
    while time.perf_counter() < settle_until:
        fused_kernels.fused(high=h, low=lo, close=c, out=block)
    result = {  # the allocating variant last: its page faults leave the heap fragmented
        "kernel": timed(lambda: _fused.fused_2d(
            h, lo, c, log_close, params.ema_fast, params.ema_slow, params.rsi, params.atr,
            params.bollinger, params.bollinger_k, params.volatility, rows), repeats),
        "reused": timed(lambda: fused_kernels.fused(high=h, low=lo, close=c, out=block), repeats),
        "memory": timed(lambda: _write_eight(c, rows), repeats),
        "fresh": timed(lambda: fused_kernels.fused(high=h, low=lo, close=c), repeats),
    }
    print(json.dumps(result))


@numba.njit(parallel=True, cache=True)
def _write_eight(x, out):
    """The kernel's memory traffic without its arithmetic: read one input, write 8 outputs."""
    for i in numba.prange(x.shape[0]):
        for j in range(out.shape[0]):
            for t in range(x.shape[1]):
                out[j, i, t] = x[i, t]


def streaming(repeats: int) -> None:
    try:
        from core.kernels import streaming as streaming_kernels
    except ImportError:
        print(f"\n{'streaming update, one asset':34}{'n/a':>9}")
        return
    p = {k: v[0] for k, v in prices(1, 2_000, seed=3).items()}
    opens = np.concatenate([[p["close"][0]], p["close"][:-1]])
    history = {"open": opens[:1000], **{k: v[:1000] for k, v in p.items()}}
    fused_set = (("ema", 12), ("ema", 26), ("rsi", 14), ("atr", 14), ("bollinger", 20, 2.0),
                 ("volatility", 20))
    print("\none streaming update, one asset, µs per bar")
    for label, specs in (("fused set (6 indicators)", fused_set),
                         ("all 16 families", streaming_kernels.STANDARD_SPECS)):
        bars = [(opens[t], p["high"][t], p["low"][t], p["close"][t], p["volume"][t])
                for t in range(1000, 2000)]

        def run(specs=specs, bars=bars) -> None:
            state = streaming_kernels.StreamingIndicators.from_history(**history, specs=specs)
            started = time.perf_counter()
            for bar in bars:
                state.update(*bar)
            run.elapsed = (time.perf_counter() - started) / len(bars)

        samples = []
        for _ in range(repeats + 1):
            run()
            samples.append(run.elapsed)
        print(f"{label:34}{statistics.median(samples[1:]) * 1e6:>9.2f}")


BATCH_SPECS = (
    IndicatorSpec(name="sma", period=20), IndicatorSpec(name="ema", period=12),
    IndicatorSpec(name="ema", period=26), IndicatorSpec(name="rsi", period=14),
    IndicatorSpec(name="atr", period=14), IndicatorSpec(name="bollinger", period=20),
    IndicatorSpec(name="macd", period=12), IndicatorSpec(name="stoch", period=14),
)


def through_ray(repeats: int) -> None:
    import ray

    from core.runtime import ActorProxy, _actor_class
    from core.wiring import AgentSpec

    p = prices(20, 500, seed=4)
    arrays = {"close": p["close"], "high": p["high"], "low": p["low"]}
    request = IndicatorRequest(specs=BATCH_SPECS)
    local = ComputeAgent()
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)
    try:
        spec = AgentSpec("compute", ComputeAgent, {}, compiled=True)  # as core.wiring builds it
        actor = ray.remote(_actor_class(spec)).remote()
        ray.get(actor.health.remote())
        proxy = ActorProxy(actor, compiled=True)  # what MarketIntel holds in `quorum run`
        calls = max(50, 20 * repeats)
        t_local = timed(lambda: local.compute(request, **arrays), calls)
        t_plain = timed(lambda: ray.get(actor.compute.remote(request, **arrays)), calls)
        t_proxy = timed(lambda: proxy.compute(request, **arrays), calls)
        compiled = proxy.uses_compiled_graph
        proxy.close()
    finally:
        ray.shutdown()
    print(f"\none batched request: 20 assets × {len(BATCH_SPECS)} indicators × 500 bars, ms, "
          f"median of {calls}")
    print(f"{'in-process ComputeAgent':44}{t_local * 1e3:>9.3f}")
    print(f"{'Ray actor, plain .remote() + ray.get':44}{t_plain * 1e3:>9.3f}")
    label = "Ray actor, Quorum's proxy (compiled graph)" if compiled else "Ray actor, proxy (plain)"
    print(f"{label:44}{t_proxy * 1e3:>9.3f}")
    print(f"{'overhead, plain':44}{(t_plain - t_local) * 1e3:>9.3f}")
    print(f"{'overhead, proxy':44}{(t_proxy - t_local) * 1e3:>9.3f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bars", type=int, default=1_000_000)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--threads-worker", type=int, metavar="REPEATS", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.threads_worker is not None:  # one thread count, in its own process (see threads)
        threads_worker(args.threads_worker)
        return
    print("$ python " + " ".join(["bench/indicators.py", *sys.argv[1:]]))
    indicators.warm_up()
    fused_kernels.warm_up()
    singles(args.bars, args.repeats)
    threads(args.repeats)
    streaming(args.repeats)
    through_ray(args.repeats)


if __name__ == "__main__":
    main()
