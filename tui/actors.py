"""The panel's line to a running system: its named Ray actors, asked only read-only questions.

A system started with ``quorum run`` registers its agents as named actors in namespace
``quorum``. Through ``core.runtime`` (the one module that imports ray) the panel looks them up by
name, asks each for its ``health()`` (timing the round trip) and the treasury for its portfolio,
and reads restarts and state from Ray's actor table. Every call here blocks for at most ``timeout_s``: screens run them
in worker threads. This module never calls a method that changes an agent's state.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from core.models import PortfolioState
from tui.agents_view import AGENTS, AgentRow

TIMEOUT_S = 2.0


def connect(address: str) -> AgentLink:
    """Join the Ray cluster at ``address`` (host:port or auto) as a driver, failing fast."""
    from core.runtime import attach  # ray: only when the panel attaches

    attach(address)
    return AgentLink(address=address)


class AgentLink:
    """Health probes of the named actors of the system running on the connected Ray."""

    def __init__(self, *, address: str = "this process's Ray", timeout_s: float = TIMEOUT_S,
                 clock: Callable[[], datetime] | None = None) -> None:
        from state.tables import utc_now

        self.address = address
        self.timeout_s = timeout_s
        self.clock = clock or utc_now
        self._seen: dict[str, datetime] = {}  # agent -> time of its last answer
        self._errors: dict[str, str] = {}  # agent -> the last thing that went wrong

    def probe(self) -> dict[str, AgentRow]:
        """Ask every agent for its health; a missing or silent one says why."""
        return {agent: self._probe(agent) for agent in AGENTS}

    def portfolio(self) -> PortfolioState | None:
        """The treasury's portfolio now, or None if no treasury answers."""
        from core.runtime import ask_actor

        answer = ask_actor("treasury", "portfolio", timeout_s=self.timeout_s)
        return answer.value if answer.error is None else None

    def _probe(self, agent: str) -> AgentRow:
        from core.runtime import ask_actor

        answer = ask_actor(agent, "health", timeout_s=self.timeout_s)
        if not answer.running:
            return AgentRow(agent, status="not running", heartbeat=self._seen.get(agent),
                            last_error=self._errors.get(agent))
        if answer.error is not None:
            self._errors[agent] = answer.error
            return AgentRow(agent, status=answer.state, heartbeat=self._seen.get(agent),
                            restarts=answer.restarts, last_error=answer.error)
        self._seen[agent] = self.clock()
        return AgentRow(agent, status="live", heartbeat=self._seen[agent],
                        restarts=answer.restarts, last_error=self._errors.get(agent),
                        latency_ms=answer.latency_ms, health=health_text(agent, answer.value))


def health_text(agent: str, health: dict[str, Any]) -> str:
    """An agent's health() report in one line; the compute agent's kernel time per call too."""
    parts = [f"{key}={_short(value)}" for key, value in health.items()]
    if agent == "compute" and health.get("calls"):
        per_call_ms = health.get("compute_seconds", 0.0) / health["calls"] * 1000
        parts.insert(0, f"kernels {per_call_ms:.2f} ms/call")
    return ", ".join(parts)


def _short(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.3g}"
    if isinstance(value, (list, tuple)):
        return "/".join(map(str, value))
    return str(value)
