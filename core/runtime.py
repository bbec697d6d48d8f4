"""The two ways to run one set of agents: LocalRuntime (plain objects, one process) and
RayRuntime (named actors in namespace ``quorum``). The only module in Quorum that imports ray.

Both expose ``call(agent, method, *args, **kwargs)``; the governor cannot tell them apart.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import ray

from core.wiring import AgentRef, AgentSpec

NAMESPACE = "quorum"


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
        self.agents.clear()


class ActorProxy:
    """A handle to a named actor that looks like the plain object: ``proxy.method(...)``.

    Passed to agents that need another agent (MarketIntel → Compute) so agents stay ray-free.
    """

    def __init__(self, handle: Any) -> None:
        self._handle = handle

    def __reduce__(self):
        return (ActorProxy, (self._handle,))

    def __getattr__(self, method: str) -> Any:
        if method.startswith("_"):
            raise AttributeError(method)  # no private lookups through the proxy (pickle asks)
        remote = getattr(self._handle, method).remote

        def call(*args: Any, **kwargs: Any) -> Any:
            return ray.get(remote(*args, **kwargs))

        return call


class RayRuntime:
    """Every agent a named Ray actor in namespace ``quorum``; compute is one shared actor."""

    name = "ray"

    def __init__(self, specs: Sequence[AgentSpec], *, address: str | None = None) -> None:
        self.owns_ray = not ray.is_initialized()
        if self.owns_ray:
            ray.init(
                address=address,
                namespace=NAMESPACE,
                include_dashboard=False,
                log_to_driver=True,
                configure_logging=False,
            )
        self.handles: dict[str, Any] = {}
        for spec in specs:
            kwargs = {
                k: ActorProxy(self.handles[v.name]) if isinstance(v, AgentRef) else v
                for k, v in spec.kwargs.items()
            }
            self.handles[spec.name] = (
                ray.remote(spec.cls)
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

    def shutdown(self) -> None:
        for handle in self.handles.values():
            ray.kill(handle, no_restart=True)
        self.handles.clear()
        if self.owns_ray:
            ray.shutdown()
