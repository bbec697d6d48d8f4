"""The policy engine: loads the rules a policy TOML names and judges proposals with them.

Deterministic, no I/O after load. Everything wrong with a policy file is an error at load,
naming the file and the key, never at trade time. Every verdict lists each rule that fired.
A rule that cannot judge because its context is missing denies (fail closed) and says so.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import Field

from core.config_model import ConfigModel
from core.errors import ConfigError
from core.models import (
    Deposit,
    PolicyVerdict,
    Proposal,
    RuleFiring,
    Swap,
    Tier,
    Withdraw,
)
from core.validation import read_toml, validate
from policies.base import HISTORY, PolicyContext, Rule, RuleResult, rules
from policies.tiers import TiersConfig

DEFAULT_POLICY = Path(__file__).with_name("default.toml")


class ChainLimits(ConfigModel):
    """`[execution]`: what the chain executor may sign (devnet, fork, live)."""

    gas_cap_gwei: float = Field(
        default=100.0, gt=0, le=10_000, description="Highest maxFeePerGas ever signed, in gwei"
    )
    deadline_s: int = Field(
        default=120, ge=1, le=120, description="A swap's deadline: at most this after the latest block"
    )
    max_slippage_bps: float | None = Field(
        default=None, gt=0, lt=10_000,
        description="amountOutMin = quote less this; unset: [rules.max_slippage] max_bps",
    )

    @property
    def gas_cap_wei(self) -> int:
        return int(self.gas_cap_gwei * 10**9)


class PolicyFile(ConfigModel):
    version: str = Field(min_length=1, description="A name for this policy, logged with verdicts")
    live_enabled: bool = Field(default=False, description="Whether live trading is permitted")
    execution: ChainLimits = Field(default_factory=ChainLimits)
    tiers: TiersConfig
    rules: dict[str, dict[str, Any]] = Field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Judgement:
    """A verdict, and the rules that could not judge for lack of context (they denied)."""

    verdict: PolicyVerdict
    unjudged: tuple[RuleFiring, ...] = ()


class PolicyEngine:
    def __init__(self, policy: PolicyFile, rule_objects: list[Rule], *, digest: str,
                 path: Path | None = None) -> None:
        self.policy = policy
        self.tiers = policy.tiers
        self.rules = rule_objects
        self.digest = digest
        self.path = path
        self.version = f"{policy.version}@{digest[:12]}"

    @classmethod
    def load(cls, path: Path | str | None = None) -> PolicyEngine:
        """Load and validate a policy file (the shipped default when ``path`` is None)."""
        path = Path(path) if path else DEFAULT_POLICY
        raw, data = read_toml(path, what="policy file")
        policy = validate(PolicyFile, data, source=str(path))
        known = rules()
        rule_objects = []
        for rule_id, table in policy.rules.items():
            if rule_id not in known:
                raise ConfigError(
                    f"{path}: unknown rule [rules.{rule_id}]; known: {', '.join(sorted(known))}"
                )
            rule_cls = known[rule_id]
            config = validate(rule_cls.config_model, table, source=str(path), prefix=f"rules.{rule_id}")
            rule_objects.append(rule_cls(config))
        return cls(policy, rule_objects, digest=hashlib.sha256(raw).hexdigest(), path=path)

    def swap_slippage_bps(self) -> float:
        """The slippage a chain swap allows below its quote: [execution], else the rule's."""
        if self.policy.execution.max_slippage_bps is not None:
            return self.policy.execution.max_slippage_bps
        rule = self.policy.rules.get("max_slippage")
        if rule and rule.get("max_bps"):
            return float(rule["max_bps"])
        raise ConfigError(
            f"{self.path or 'policy'}: a chain swap needs a slippage limit: set "
            "[execution] max_slippage_bps or [rules.max_slippage] max_bps"
        )

    @property
    def lookback_s(self) -> float:
        """How much trade and order history the rules look back over."""
        return max((rule.lookback_s for rule in self.rules), default=0.0)

    def evaluate(self, context: PolicyContext) -> PolicyVerdict:
        """Run every rule in file order, then pick the tier for the (possibly resized) notional."""
        return self.judge(context).verdict

    def judge(self, context: PolicyContext) -> Judgement:
        """The verdict, with the rules that lacked context listed apart (for replay)."""
        proposal = context.proposal
        notional = context.assessment.sized_notional_usd
        fired: list[RuleFiring] = []
        unjudged: list[RuleFiring] = []
        denied = False
        required = Tier.AUTO
        for rule in self.rules:
            if not rule.applies_to(proposal):
                continue
            lacking = self._lacking(rule, context)
            if lacking:
                firing = RuleFiring(rule=rule.id, effect="deny",
                                    reason=f"cannot judge: the context lacks {lacking}")
                fired.append(firing)
                unjudged.append(firing)
                denied = True
                continue
            result = rule.evaluate(context, notional)
            if result is None:
                continue
            fired.append(RuleFiring(rule=rule.id, effect=result.effect, reason=result.reason))
            denied, notional, required = _apply(result, denied, notional, required)
        if notional <= 0:
            denied = True
            fired.append(RuleFiring(rule="sizing", effect="deny",
                                    reason="nothing left to trade after sizing"))
        tier = self.tiers.tier_for(notional)
        fired.append(RuleFiring(rule="tiers", effect="tier", reason=self._tier_reason(tier, notional)))
        tier = tier.tighten(required)
        if denied:
            tier = Tier.DENY
        verdict = PolicyVerdict(
            decision_id=proposal.decision_id,
            allowed=tier is not Tier.DENY,
            tier=tier,
            notional_usd=notional,
            fired=tuple(fired),
            policy_version=self.version,
        )
        return Judgement(verdict, tuple(unjudged))

    @staticmethod
    def _lacking(rule: Rule, context: PolicyContext) -> str:
        """What the rule needs and the context lacks, in words; empty when nothing."""
        lacking = sorted(rule.needs & context.lacking)
        if not lacking and HISTORY in rule.needs and not context.history.covers(rule.lookback_s):
            state = context.history
            lacking = [f"history back {rule.lookback_s:g}s (it reaches {state.retained_s:g}s)"]
        return ", ".join(lacking)

    def _tier_reason(self, tier: Tier, notional: float) -> str:
        t = self.tiers
        limits = {
            Tier.AUTO: f"<= auto_max_usd {t.auto_max_usd:,.0f}",
            Tier.HUMAN: f"<= human_max_usd {t.human_max_usd:,.0f}",
            Tier.QUORUM: f"<= quorum_max_usd {t.quorum_max_usd:,.0f}",
            Tier.DENY: f"> quorum_max_usd {t.quorum_max_usd:,.0f} (hard cap)",
        }
        return f"notional {notional:,.2f} {limits[tier]}: {tier.value}"


def _apply(result: RuleResult, denied: bool, notional: float, required: Tier) -> tuple[bool, float, Tier]:
    """Fold one rule's result into (denied, notional, required tier); only ever tighter."""
    if result.effect == "deny":
        return True, notional, required
    if result.effect == "resize" and result.notional_usd is not None:
        return denied, min(notional, result.notional_usd), required
    if result.effect == "tier" and result.tier is not None:
        return denied or result.tier is Tier.DENY, notional, required.tighten(result.tier)
    return denied, notional, required


def unexecutable(proposal: Proposal, *, policy_version: str, mode: str,
                 lendable: frozenset[str] = frozenset()) -> PolicyVerdict | None:
    """A built-in deny for actions no executor of ``mode`` can carry out (fail closed).

    Swaps always execute. A deposit or withdrawal executes only for a receipt asset the run's
    executor can lend into (``lendable``: paper lending's rates, or the chain's lending pool);
    it is never turned into a trade.
    """
    action = proposal.action
    if isinstance(action, Swap):
        return None
    if isinstance(action, (Deposit, Withdraw)) and proposal.asset in lendable:
        return None
    if isinstance(action, (Deposit, Withdraw)):
        where = ("paper lending has no rate for it ([execution] lending_rates)" if mode == "paper"
                 else f"the {mode} executor has no lending pool for it")
        reason = f"a {action.kind} booked as {proposal.asset} cannot be executed: {where}"
    else:
        reason = f"a {action.kind} cannot be executed in {mode} mode"
    return PolicyVerdict(
        decision_id=proposal.decision_id,
        allowed=False,
        tier=Tier.DENY,
        notional_usd=proposal.notional_usd,
        fired=(RuleFiring(rule="executable", effect="deny", reason=reason),),
        policy_version=policy_version,
    )
