"""Approval tiers by notional: auto, human (one person), quorum (M of N), deny above the cap."""

from __future__ import annotations

from pydantic import Field, model_validator

from core.config_model import ConfigModel
from core.models import Tier


class TiersConfig(ConfigModel):
    """`[tiers]` of a policy file."""

    auto_max_usd: float = Field(ge=0, description="At or below: executes without a person")
    human_max_usd: float = Field(ge=0, description="At or below: one approver")
    quorum_max_usd: float = Field(
        ge=0, description="At or below: quorum_required approvers; above: denied (the hard cap)"
    )
    quorum_required: int = Field(default=2, ge=2, description="Approvers a quorum needs")
    approval_expiry_s: float = Field(
        default=900, gt=0, description="Seconds a request waits before it expires (= rejected)"
    )

    @model_validator(mode="after")
    def _ordered(self) -> TiersConfig:
        if not self.auto_max_usd <= self.human_max_usd <= self.quorum_max_usd:
            raise ValueError("tiers must satisfy auto_max_usd <= human_max_usd <= quorum_max_usd")
        return self

    def tier_for(self, notional_usd: float) -> Tier:
        if notional_usd <= self.auto_max_usd:
            return Tier.AUTO
        if notional_usd <= self.human_max_usd:
            return Tier.HUMAN
        if notional_usd <= self.quorum_max_usd:
            return Tier.QUORUM
        return Tier.DENY

    def required_approvals(self, tier: Tier) -> int:
        return self.quorum_required if tier is Tier.QUORUM else 1
