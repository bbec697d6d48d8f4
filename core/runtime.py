"""The two ways to run one set of agents: LocalRuntime (plain objects, one process) and
RayRuntime (named actors in namespace ``quorum``). The only module in Quorum that imports ray.

Both expose ``call(agent, method, *args, **kwargs)``; the governor cannot tell them apart.

An agent whose spec says ``compiled=True`` (the shared compute agent) is also reachable through
a Ray compiled graph: each process that holds an ActorProxy to it compiles, on first use, one
graph into the actor's generic ``_quorum_invoke`` method, and its calls then travel over shared
memory channels instead of a task submission each (about 1 ms less per call here). A process
that cannot compile one (an actor runs one compiled graph at a time) uses plain calls.
"""

from __future__ import annotations

import os
import socket
import time
import uuid
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, NamedTuple

import ray
import structlog
from ray.exceptions import RayError, RayTaskError

from core.errors import OperationalError
from core.wiring import AgentRef, AgentSpec

log = structlog.get_logger(__name__)

NAMESPACE = "quorum"
PACKAGES = ("agents", "core", "policies", "state")
"""Quorum's packages a Ray worker may import: actor classes, task functions, their arguments."""


def job_runtime_env() -> dict[str, Any]:
    """The runtime_env of a Ray job Quorum starts: each worker imports Quorum's packages from this
    install before anything else. Ray puts the folder a driver starts in first on its workers'
    path (its ``py_driver_sys_path``), so a ``core/`` there, an old checkout say, would otherwise
    be what the workers import. The workers keep that folder as their own, so relative paths
    mean what they mean to the driver."""
    return {"worker_process_setup_hook": _importer(str(Path(__file__).resolve().parents[1]),
                                                   PACKAGES)}


def _importer(root: str, packages: tuple[str, ...]) -> Callable[[], None]:
    """A function Ray runs first in each worker. A closure, so Ray pickles it by value: by
    reference, the worker would import it from ``core`` on the very path it is there to fix.
    On a machine without ``root`` (a remote cluster node) it does nothing."""

    def import_quorum_first() -> None:
        import importlib
        import os
        import sys

        if not os.path.isdir(root):
            return
        sys.path.insert(0, root)
        try:  # once imported, a package finds its modules under its own folder, not sys.path
            for name in packages:
                importlib.import_module(name)
        finally:
            sys.path.remove(root)

    return import_quorum_first


class LocalRuntime:
    """Every agent a plain object in this process; deterministic for a given seed."""

    name = "local"

    def __init__(self, specs: Sequence[AgentSpec]) -> None:
        self.agents: dict[str, Any] = {}
        for spec in specs:
            kwargs = {
                k: self.agents[v.name] if isinstance(v, AgentRef) else v
                for k, v in spec.kwargs.items()
            }
            self.agents[spec.name] = spec.cls(**kwargs)

    def call(self, agent: str, method: str, /, *args: Any, **kwargs: Any) -> Any:
        return getattr(self.agents[agent], method)(*args, **kwargs)

    def shutdown(self) -> None:
        """Close every agent that has ``close`` (a backtest's executor writes out its orders),
        then drop them all; a failing close is raised, never swallowed."""
        try:
            for agent in self.agents.values():
                if callable(getattr(agent, "close", None)):
                    agent.close()
        finally:
            self.agents.clear()


def _quorum_invoke(self: Any, call: tuple[str, tuple, dict]) -> Any:
    """The one method a compiled graph calls: ``(method, args, kwargs)`` → the method's result."""
    method, args, kwargs = call
    if method.startswith("_"):
        raise AttributeError(f"{type(self).__name__}.{method} is private")
    return getattr(self, method)(*args, **kwargs)


def _quorum_claim(self: Any, token: str) -> bool:
    """Reserve the actor's one compiled graph for the caller ``token``; False if taken.

    Ray runs one compiled graph per actor; a second caller's graph would not fail to compile,
    it would hang on its first call. So callers ask first, and the loser makes plain calls.
    """
    owner = getattr(self, "_quorum_graph_owner", None)
    if owner is None:
        self._quorum_graph_owner = owner = token
    return owner == token


def _quorum_release(self: Any, token: str) -> None:
    if getattr(self, "_quorum_graph_owner", None) == token:
        self._quorum_graph_owner = None


def _actor_class(spec: AgentSpec) -> type:
    """The class Ray instantiates: the agent's own, plus the compiled-graph methods."""
    if not spec.compiled:
        return spec.cls
    methods = {"_quorum_invoke": _quorum_invoke, "_quorum_claim": _quorum_claim,
               "_quorum_release": _quorum_release, "__module__": spec.cls.__module__}
    return type(spec.cls.__name__, (spec.cls,), methods)


class ActorProxy:
    """A handle to a named actor that looks like the plain object: ``proxy.method(...)``.

    Passed to agents that need another agent (MarketIntel → Compute) so agents stay ray-free.
    With ``compiled=True`` calls go through a compiled graph built lazily in this process; if
    the graph breaks (the actor restarted) it is dropped and the call is made the plain way,
    which Ray retries under the agent's restart policy.
    """

    def __init__(self, handle: Any, *, compiled: bool = False) -> None:
        self._handle = handle
        self._compiled = compiled
        self._graph: Any = None
        self._graph_failed = False
        self._token = uuid.uuid4().hex

    def __reduce__(self):
        return (_proxy, (self._handle, self._compiled))  # the graph stays in its process

    def __getattr__(self, method: str) -> Any:
        if method.startswith("_"):
            raise AttributeError(method)  # no private lookups through the proxy (pickle asks)
        plain = getattr(self._handle, method).remote

        def call(*args: Any, **kwargs: Any) -> Any:
            graph = self._graph_for_calls()
            if graph is None:
                return ray.get(plain(*args, **kwargs))
            try:
                return ray.get(graph.execute((method, args, kwargs)))
            except Exception as error:
                if isinstance(error, RayTaskError) and not isinstance(error.cause, RayError):
                    raise  # the method itself raised: exactly what a plain call would raise
                # The graph broke (the actor died or restarted): fall back to a plain call,
                # which Ray retries under the agent's restart policy.
                log.warning("runtime.compiled_graph_lost", method=method,
                            error=type(error).__name__)
                self.close()
                self._graph_failed = True
                return ray.get(plain(*args, **kwargs))

        return call

    @property
    def uses_compiled_graph(self) -> bool:
        return self._graph is not None

    def close(self) -> None:
        """Tear down this process's compiled graph, if any (plain calls keep working)."""
        graph, self._graph = self._graph, None
        if graph is None:
            return
        try:
            graph.teardown()
            ray.get(self._handle._quorum_release.remote(self._token))
        except Exception as error:  # noqa: BLE001  (a dead actor's graph may not tear down)
            log.debug("runtime.compiled_graph_teardown_failed", error=type(error).__name__)

    def _graph_for_calls(self) -> Any:
        if not self._compiled or self._graph_failed:
            return None
        if self._graph is None:
            from ray.dag import InputNode

            self._graph_failed = True  # until the graph is built: a failure means plain calls
            if not ray.get(self._handle._quorum_claim.remote(self._token)):
                log.info("runtime.compiled_graph_taken", detail="another caller holds it")
                return None
            try:
                with InputNode() as call:
                    node = self._handle._quorum_invoke.bind(call)
                self._graph = node.experimental_compile()
            except Exception as error:  # noqa: BLE001  (any failure here means plain calls)
                log.info("runtime.compiled_graph_unavailable", error=type(error).__name__,
                         detail=str(error)[:200])
                ray.get(self._handle._quorum_release.remote(self._token))
                return None
            self._graph_failed = False
        return self._graph


def check_reachable(address: str, *, timeout_s: float = 3.0) -> None:
    """Fail fast, with a clear message, when a ``host:port`` Ray address does not answer.

    Without this, ``ray.init`` keeps retrying an unreachable cluster for minutes.
    """
    target = address.removeprefix("ray://")
    if target in ("auto", "local") or ":" not in target:
        return
    host, _, port = target.rpartition(":")
    try:
        with socket.create_connection((host.strip("[]"), int(port)), timeout=timeout_s):
            pass
    except (OSError, ValueError) as error:
        reason = error.strerror if isinstance(error, OSError) and error.strerror else str(error)
        raise OperationalError(
            f"no Ray cluster answers at {address} ({reason or type(error).__name__}); start one "
            "with `ray start --head`, or leave out --address to run a local Ray"
        ) from None


def _proxy(handle: Any, compiled: bool) -> ActorProxy:
    return ActorProxy(handle, compiled=compiled)


class RayRuntime:
    """Every agent a named Ray actor in namespace ``quorum``; compute is one shared actor."""

    name = "ray"

    def __init__(self, specs: Sequence[AgentSpec], *, address: str | None = None) -> None:
        self.owns_ray = not ray.is_initialized()
        if self.owns_ray:
            if address is not None:
                check_reachable(address)
            ray.init(
                address=address,
                namespace=NAMESPACE,
                include_dashboard=False,
                log_to_driver=True,
                configure_logging=False,
                runtime_env=job_runtime_env(),
            )
        self.handles: dict[str, Any] = {}
        compiled: dict[str, bool] = {}
        for spec in specs:
            kwargs = {
                k: ActorProxy(self.handles[v.name], compiled=compiled[v.name])
                if isinstance(v, AgentRef) else v
                for k, v in spec.kwargs.items()
            }
            compiled[spec.name] = spec.compiled
            self.handles[spec.name] = (
                ray.remote(_actor_class(spec))
                .options(
                    name=spec.name,
                    namespace=NAMESPACE,
                    max_restarts=spec.restart.max_restarts,
                    max_task_retries=spec.restart.max_task_retries,
                    num_cpus=spec.num_cpus,
                )
                .remote(**kwargs)
            )
        # Wait until every actor is constructed, so a broken one fails the start, not tick 0.
        ray.get([handle.health.remote() for handle in self.handles.values()])

    def call(self, agent: str, method: str, /, *args: Any, **kwargs: Any) -> Any:
        return ray.get(getattr(self.handles[agent], method).remote(*args, **kwargs))

    @property
    def address(self) -> str:
        """The cluster's GCS address, for another process to attach to (the control panel)."""
        return ray.get_runtime_context().gcs_address

    def shutdown(self) -> None:
        for handle in self.handles.values():
            ray.kill(handle, no_restart=True)
        self.handles.clear()
        if self.owns_ray:
            ray.shutdown()


# -- read-only attachment (the control panel) ----------------------------------------------------


class ActorAnswer(NamedTuple):
    """What one named actor said to a read-only question, and what Ray's actor table says."""

    running: bool
    state: str = "not running"
    restarts: int | None = None
    value: Any = None
    latency_ms: float | None = None
    error: str | None = None


def attach(address: str) -> None:
    """Join the Ray cluster at ``address`` (host:port or auto) as a driver, failing fast."""
    check_reachable(address)
    try:
        ray.init(address=address, namespace=NAMESPACE, include_dashboard=False,
                 log_to_driver=False, configure_logging=False)
    except ConnectionError as error:  # address="auto" and no cluster on this machine
        raise OperationalError(f"cannot attach to Ray at {address}: {error}") from None


def ask_actor(name: str, method: str, *, timeout_s: float) -> ActorAnswer:
    """Call ``method()`` (a read-only one: health, portfolio) on the named actor, timed."""
    try:
        handle = ray.get_actor(name, namespace=NAMESPACE)
    except ValueError:
        return ActorAnswer(running=False)
    state, restarts, death = _actor_record(handle)
    started = time.perf_counter()
    try:
        value = ray.get(getattr(handle, method).remote(), timeout=timeout_s)
    except ray.exceptions.GetTimeoutError:
        return ActorAnswer(True, state.lower(), restarts, error=f"no answer in {timeout_s:g} s")
    except RayError as error:
        reason = death or f"{type(error).__name__}: {str(error)[:120]}"
        return ActorAnswer(True, state.lower(), restarts, error=reason)
    latency_ms = (time.perf_counter() - started) * 1000
    return ActorAnswer(True, "live", restarts, value=value, latency_ms=latency_ms)


def _actor_record(handle: Any) -> tuple[str, int | None, str | None]:
    """(state, restarts, cause of death) from Ray's actor table, as far as it tells."""
    # Ray's public state API (ray.util.state) needs the dashboard, which runs are started
    # without; the actor table the GCS keeps is read here instead.
    from ray._private import state

    try:
        record = state.actors(actor_id=handle._actor_id.hex())
    except Exception:  # noqa: BLE001  (read-only display: an unreadable table is just unknown)
        return "unknown", None, None
    death = str(record.get("DeathCause") or "").strip() or None
    return str(record.get("State", "unknown")), record.get("NumRestarts"), death


# -- tasks (parameter sweeps) ------------------------------------------------------------------------


class RayTaskPool:
    """``function(item, shared)`` as Ray tasks, one CPU each, on ``$RAY_ADDRESS`` or a local Ray.

    ``shared`` goes into the object store once and every task reads it from there.
    """

    def __init__(self, function: Any, shared: Any, *, workers: int) -> None:
        self.started_here = not ray.is_initialized()
        if self.started_here:
            ray.init(num_cpus=None if os.environ.get("RAY_ADDRESS") else workers,
                     include_dashboard=False, log_to_driver=False, configure_logging=False,
                     runtime_env=job_runtime_env())
        self._task = ray.remote(num_cpus=1)(function)
        self._shared = ray.put(shared)

    def submit(self, item: Any) -> Any:
        return self._task.remote(item, self._shared)

    def wait_one(self, pending: Sequence[Any]) -> tuple[Any, Any]:
        """(the first finished task, its result); a failed task raises here."""
        finished, _ = ray.wait(list(pending), num_returns=1)
        return finished[0], ray.get(finished[0])

    @staticmethod
    def cancel(ref: Any) -> None:
        ray.cancel(ref)

    def close(self) -> None:
        if self.started_here:
            ray.shutdown()
