"""The Ray runtime's fast path: a compiled graph to the compute actor, on a real local Ray."""

from __future__ import annotations

import numpy as np
import pytest

from agents.compute import ComputeAgent, IndicatorRequest, IndicatorSpec, StandardSet
from core.runtime import ActorProxy, _actor_class
from core.wiring import AgentSpec, Restart

pytestmark = pytest.mark.slow

REQUEST = IndicatorRequest(
    specs=(IndicatorSpec(name="sma", period=5), IndicatorSpec(name="macd", period=3, slow=6)),
    standard=StandardSet(ema_fast=3, ema_slow=6, rsi=4, atr=4, bollinger=5, volatility=5),
)


@pytest.fixture
def ohlc() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(5)
    close = 100 * np.exp(np.cumsum(rng.normal(0, 0.01, (3, 300)), axis=1))
    return {"close": close, "high": close * 1.01, "low": close * 0.99}


@pytest.fixture
def compute_actor(ray_session):
    import ray

    spec = AgentSpec("compute_under_test", ComputeAgent, {}, Restart(max_restarts=2,
                                                                      max_task_retries=2),
                     compiled=True)
    handle = ray.remote(_actor_class(spec)).options(
        max_restarts=2, max_task_retries=2, num_cpus=0
    ).remote()
    ray.get(handle.health.remote())
    yield handle
    ray.kill(handle, no_restart=True)


def assert_same(remote: dict[str, np.ndarray], local: dict[str, np.ndarray]) -> None:
    assert remote.keys() == local.keys()
    for key, values in local.items():
        np.testing.assert_array_equal(remote[key], values, err_msg=key)


def test_calls_through_the_compiled_graph_equal_in_process_calls(compute_actor, ohlc):
    proxy = ActorProxy(compute_actor, compiled=True)
    try:
        local = ComputeAgent().compute(REQUEST, **ohlc)
        for _ in range(3):
            assert_same(proxy.compute(REQUEST, **ohlc), local)
        assert proxy.uses_compiled_graph
        assert proxy.health()["calls"] == 3  # other methods go through the same graph
    finally:
        proxy.close()


def test_an_error_in_the_method_is_raised_and_the_graph_keeps_serving(compute_actor, ohlc):
    proxy = ActorProxy(compute_actor, compiled=True)
    try:
        with pytest.raises(ValueError, match=r"high has shape \(3, 299\), close has \(3, 300\)"):
            proxy.compute(REQUEST, close=ohlc["close"], high=ohlc["high"][:, 1:], low=ohlc["low"])
        assert proxy.uses_compiled_graph
        assert_same(proxy.compute(REQUEST, **ohlc), ComputeAgent().compute(REQUEST, **ohlc))
    finally:
        proxy.close()


def test_a_second_caller_falls_back_to_plain_calls(compute_actor, ohlc):
    first = ActorProxy(compute_actor, compiled=True)
    second = ActorProxy(compute_actor, compiled=True)
    try:
        local = ComputeAgent().compute(REQUEST, **ohlc)
        assert_same(first.compute(REQUEST, **ohlc), local)
        assert_same(second.compute(REQUEST, **ohlc), local)  # one graph per actor: plain call
        assert first.uses_compiled_graph
        assert not second.uses_compiled_graph
    finally:
        first.close()
        second.close()


def test_calls_survive_a_restart_of_the_actor(compute_actor, ohlc):
    """Either Ray re-runs the graph's loop on the new actor, or the proxy falls back."""
    import ray

    proxy = ActorProxy(compute_actor, compiled=True)
    try:
        local = ComputeAgent().compute(REQUEST, **ohlc)
        assert_same(proxy.compute(REQUEST, **ohlc), local)
        assert proxy.uses_compiled_graph
        ray.kill(compute_actor, no_restart=False)  # Ray restarts it (max_restarts=2)
        assert_same(proxy.compute(REQUEST, **ohlc), local)
        assert_same(proxy.compute(REQUEST, **ohlc), local)
    finally:
        proxy.close()


def test_a_plain_spec_gets_the_agent_class_itself():
    spec = AgentSpec("compute", ComputeAgent, {})
    assert _actor_class(spec) is ComputeAgent
    compiled = _actor_class(AgentSpec("compute", ComputeAgent, {}, compiled=True))
    assert issubclass(compiled, ComputeAgent) and compiled.__name__ == "ComputeAgent"
    assert hasattr(compiled, "_quorum_invoke")


def test_an_unreachable_cluster_address_fails_fast_naming_it():
    import socket
    import subprocess
    import sys

    from core.errors import OperationalError
    from core.runtime import check_reachable

    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(OperationalError, match=rf"no Ray cluster answers at 127.0.0.1:{port}"):
        check_reachable(f"127.0.0.1:{port}")
    with pytest.raises(OperationalError, match="no Ray cluster answers at ray://127.0.0.1:x"):
        check_reachable("ray://127.0.0.1:x")
    check_reachable("auto")  # resolved by Ray itself
    run = subprocess.run(
        [sys.executable, "-m", "core.cli", "run", "--headless", "--ticks", "1", "--address",
         f"127.0.0.1:{port}"],
        capture_output=True, text=True, timeout=60, check=False,
    )
    assert run.returncode == 2, run.stderr  # an operational error, like other CLI failures
    assert f"no Ray cluster answers at 127.0.0.1:{port}" in run.stderr
