"""While a person has the kill switch engaged, deny every new entry; exits pass.

The governor also refuses entries just before submitting while the switch is engaged, so an
entry approved before the switch still never executes.
"""

from __future__ import annotations

from policies.base import EntryLock, PolicyContext, RuleConfig, RuleResult, register


class KillSwitchConfig(RuleConfig):
    """No settings: the switch itself is engaged and released by people."""


@register
class KillSwitch(EntryLock):
    id = "kill_switch"
    config_model = KillSwitchConfig
    config: KillSwitchConfig

    def evaluate(self, context: PolicyContext, notional_usd: float) -> RuleResult | None:
        if not context.history.kill_switch_engaged:
            return None
        return RuleResult("deny", "kill switch engaged: only exits are allowed")
