"""Many backtests at once: worker processes (default), Ray tasks, or this process.

``runner(market, backend=..., workers=...)`` opens the workers once and gives a ``run_all(specs,
on_done)`` to call as often as needed (a walk-forward calls it per phase). The market data goes
to each worker once (a process's initializer, one ``ray.put``); each task carries only its
RunSpec. Workers are forked from a clean fork server (forking a process whose OpenMP threads
have run is unsafe) and run numba's kernels on one thread each: the runs are the parallelism,
and per-bar kernels on a few assets lose far more waiting for busy cores than they gain from a
second thread. Results come back in the order of the specs, whatever order they finish in;
``on_done(done, total, result)`` is called in this process as each one finishes, for progress.
A failed run is re-raised here: never a partial table that looks complete.
"""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from contextlib import contextmanager
from typing import Literal

from core.backtest_runs import RunResult, RunSpec, run_one
from core.feeds.base import MarketData

Backend = Literal["process", "ray", "serial"]
OnDone = Callable[[int, int, RunResult], None]
RunAll = Callable[[Sequence[RunSpec], "OnDone | None"], list[RunResult]]

_WORKER_MARKET: MarketData | None = None
"""The market data of this worker process, set once by its initializer."""


def default_workers() -> int:
    """Runs at once when --workers is not given: one per CPU."""
    return os.cpu_count() or 1


@contextmanager
def runner(market: MarketData, *, backend: Backend = "process",
           workers: int | None = None) -> Iterator[RunAll]:
    """Workers for runs on ``market``, open for the ``with`` block."""
    workers = workers or default_workers()
    if backend == "ray":
        with _ray_runner(market, workers=workers) as run_all:
            yield run_all
    elif backend == "serial" or workers == 1:
        yield lambda specs, on_done=None: _serial(specs, market, on_done=on_done)
    else:
        with _process_runner(market, workers=workers) as run_all:
            yield run_all


def _serial(specs: Sequence[RunSpec], market: MarketData, *, on_done: OnDone | None) -> list[RunResult]:
    results = []
    for spec in specs:
        results.append(run_one(spec, market))
        if on_done:
            on_done(len(results), len(specs), results[-1])
    return results


@contextmanager
def _process_runner(market: MarketData, *, workers: int) -> Iterator[RunAll]:
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(["core.backtest_runs", "core.session"])
    _start_fork_server()
    with ProcessPoolExecutor(max_workers=workers, mp_context=context, initializer=_init_worker,
                             initargs=(market,)) as pool:

        def run_all(specs: Sequence[RunSpec], on_done: OnDone | None = None) -> list[RunResult]:
            futures = {pool.submit(_run_in_worker, spec): i for i, spec in enumerate(specs)}
            return _gather(futures, len(specs), wait_one=_first_future, on_done=on_done,
                           cancel=lambda future: future.cancel())

        yield run_all


def _start_fork_server() -> None:
    """Start the fork server (once per process) without the current directory on its path.

    It runs as ``python -c``, which puts the current directory first on ``sys.path``: started
    from a folder holding a ``core/`` (another checkout, a project of the user's), it would
    preload that instead of Quorum's and every worker would run the wrong code.
    """
    import multiprocessing.forkserver

    before = os.environ.get("PYTHONSAFEPATH")
    os.environ["PYTHONSAFEPATH"] = "1"  # read by the server's interpreter as it starts
    try:
        multiprocessing.forkserver.ensure_running()
    finally:
        if before is None:
            del os.environ["PYTHONSAFEPATH"]
        else:
            os.environ["PYTHONSAFEPATH"] = before


def _init_worker(market: MarketData) -> None:
    global _WORKER_MARKET
    from core.logging import configure

    configure(level="warning")  # a worker's info events would interleave with the progress
    _one_kernel_thread()
    _WORKER_MARKET = market


def _run_in_worker(spec: RunSpec) -> RunResult:
    assert _WORKER_MARKET is not None, "the worker's initializer sets the market data"
    return run_one(spec, _WORKER_MARKET)


def _first_future(pending: dict) -> tuple[object, RunResult]:
    finished, _ = wait(pending, return_when=FIRST_COMPLETED)
    future: Future = next(iter(finished))
    return future, future.result()  # a failed run raises here


@contextmanager
def _ray_runner(market: MarketData, *, workers: int) -> Iterator[RunAll]:
    from core.runtime import RayTaskPool  # the one module that imports ray

    pool = RayTaskPool(_ray_task, market, workers=workers)
    try:
        def run_all(specs: Sequence[RunSpec], on_done: OnDone | None = None) -> list[RunResult]:
            refs = {pool.submit(spec): i for i, spec in enumerate(specs)}
            return _gather(refs, len(specs), wait_one=pool.wait_one, on_done=on_done,
                           cancel=pool.cancel)

        yield run_all
    finally:
        pool.close()


def _ray_task(spec: RunSpec, market: MarketData) -> RunResult:
    _one_kernel_thread()
    return run_one(spec, market)


def _one_kernel_thread() -> None:
    import numba

    numba.set_num_threads(1)


def _gather(pending: dict, total: int, *, wait_one: Callable[[dict], tuple[object, RunResult]],
            on_done: OnDone | None, cancel: Callable[[object], object]) -> list[RunResult]:
    """Collect ``pending`` (handle -> spec index) as they finish, in the order of the specs."""
    results: list[RunResult | None] = [None] * total
    try:
        while pending:
            handle, result = wait_one(pending)
            results[pending.pop(handle)] = result
            if on_done:
                on_done(total - len(pending), total, result)
    finally:
        for handle in pending:
            cancel(handle)
    return results  # type: ignore[return-value]  (every slot is filled once pending is empty)
