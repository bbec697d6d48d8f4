"""Which agents make up a Quorum system and how each is built: one list for both runtimes.

This module builds specs only; it never starts anything and never imports ray.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

from agents.compute import ComputeAgent, StandardSet
from agents.executor import PaperExecutor
from agents.market_intel import MarketIntelAgent
from agents.reviewer import OfflineReviewer
from agents.risk import RiskAgent
from agents.sentiment import SentimentAgent
from agents.strategy import StrategyAgent
from agents.treasury import TreasuryAgent
from core.config import Secrets, Settings
from core.feeds.base import MarketData


class Runtime(Protocol):
    """What the governor needs from a runtime (core.runtime has the two implementations)."""

    name: str

    def call(self, agent: str, method: str, /, *args: Any, **kwargs: Any) -> Any: ...

    def shutdown(self) -> None: ...


class Venue(Protocol):
    """A chain run's market venue: called each tick before orders settle (core.chain.venue)."""

    def before_settle(self, snapshot: Any) -> None: ...


@dataclass(frozen=True)
class AgentRef:
    """A constructor argument that is another agent: the runtime passes a handle to it."""

    name: str


@dataclass(frozen=True)
class Restart:
    """How a runtime may restart an agent and retry its calls (Ray semantics)."""

    max_restarts: int = 0
    max_task_retries: int = 0


@dataclass(frozen=True)
class AgentSpec:
    name: str
    cls: type
    kwargs: dict[str, Any] = field(default_factory=dict)
    restart: Restart = Restart()
    num_cpus: float = 0.0
    compiled: bool = False
    """Callers reach it through a Ray compiled graph (hot, stateless agents only)."""


STATELESS = Restart(max_restarts=3, max_task_retries=1)
NEVER = Restart(max_restarts=0, max_task_retries=0)


def build_specs(
    settings: Settings,
    *,
    data: MarketData,
    db_url: str | None,
    run_id: str,
    secrets: Secrets | None = None,
    chain_executor: Any = None,
    backtest: bool = False,
    opening: dict[str, tuple[float, float]] | None = None,
) -> list[AgentSpec]:
    """The agents in dependency order (compute first: MarketIntel holds a handle to it).

    The reviewer is Claude when ``secrets`` (default: the environment) hold an Anthropic key,
    else the offline reviewer. A ``backtest`` computes indicators once over the whole feed.
    ``opening``: positions the treasury starts with (a live wallet's holdings), asset ->
    (quantity, price).
    """
    secrets = secrets if secrets is not None else Secrets.from_env()
    strategies = settings.strategies
    probe = StrategyAgent(strategies, run_id=run_id)
    probe.check_priced(data.assets)
    specs_probe = probe.required_indicators()
    return [
        # Stateless and warm: restart freely, retry calls. A backtest computes its indicators
        # once, up front, so it compiles only the kernels it calls (a first run: 14 s, not 26).
        AgentSpec(
            "compute", ComputeAgent, {"warm_up": not backtest},
            Restart(max_restarts=-1, max_task_retries=3), 1.0, compiled=True,
        ),
        # Holds the feed it was built with: a restarted actor would come back without it,
        # so it fails closed until feeds can be rebuilt from a spec.
        AgentSpec(
            "market_intel",
            MarketIntelAgent,
            # The strategies' own indicators plus the fused standard set, in one call per tick.
            {"data": data, "compute": AgentRef("compute"), "specs": specs_probe,
             "standard": StandardSet(), "precompute": backtest},
            NEVER,
        ),
        AgentSpec(
            "sentiment",
            SentimentAgent,
            {"config": settings.sentiment, "assets": data.assets},
            STATELESS,
        ),
        AgentSpec("strategy", StrategyAgent, {"config": strategies, "run_id": run_id}, STATELESS),
        AgentSpec(
            "risk",
            RiskAgent,
            {
                "config": settings.risk,
                "slippage": settings.execution.slippage,
                "fee_rate": settings.execution.fee_rate,
            },
            STATELESS,
        ),
        # A review may cost money: restart the actor, but never retry a call on its own.
        _reviewer_spec(settings, secrets=secrets, db_url=db_url),
        # Stateful money agents: a restart would lose state; fail closed instead.
        AgentSpec(
            "treasury",
            TreasuryAgent,
            {"cash_usd": settings.run.cash_usd, "start": data.time(0), "opening": opening},
            NEVER,
        ),
        _executor_spec(settings, data, db_url=db_url, chain=chain_executor, backtest=backtest),
    ]


def _executor_spec(settings: Settings, data: MarketData, *, db_url: str | None,
                   chain: Any, backtest: bool = False) -> AgentSpec:
    """Paper, or the chain executor when ``chain`` is ``(ChainExecutorConfig, password)``.

    A ``backtest``'s paper executor batches its order store's commits (0.1 s apart, the rest
    written when the runtime shuts down): a crash loses the run anyway. Every other run commits
    each order write on its own, which exactly-once execution depends on.

    The chain executor unlocks the key in its own process; the password travels to it as a
    SecretStr. It is never restarted: an executor that died mid-order is reconciled by hand.
    """
    if chain is None:
        return AgentSpec(
            "executor", PaperExecutor,
            {"config": settings.execution, "db_url": db_url, "start": data.time(0),
             "commit_interval_s": 0.1 if backtest else 0.0}, NEVER,
        )
    from agents.executor_chain import ChainExecutor  # web3: only when a chain is used

    config, password = chain
    return AgentSpec(
        "executor", ChainExecutor, {"config": config, "db_url": db_url, "password": password},
        NEVER,
    )


def _reviewer_spec(settings: Settings, *, secrets: Secrets, db_url: str | None) -> AgentSpec:
    """Claude with a key (the key stays a SecretStr until the client is built), else offline.

    A review may cost money: the actor restarts, but no call is ever retried on its own.
    """
    key = secrets.anthropic_api_key
    if key is None:
        return AgentSpec("reviewer", OfflineReviewer, {"config": settings.reviewer}, Restart(3, 0))
    # Imported here: the SDK takes about a second to import, and offline runs never need it.
    from agents.reviewer_claude import ClaudeReviewer

    kwargs = {"config": settings.reviewer, "api_key": key, "db_url": db_url}
    return AgentSpec("reviewer", ClaudeReviewer, kwargs, Restart(3, 0))
