"""How a review verdict combines with the policy's: it can only tighten.

Approve keeps the policy's tier; escalate raises auto to human; veto ends the decision.
Nothing a reviewer says can lower a tier, raise a limit or skip a person.
"""

from __future__ import annotations

from core.models import PolicyVerdict, ReviewOutcome, ReviewVerdict, Tier


def final_tier(policy: PolicyVerdict, review: ReviewVerdict) -> Tier:
    """The tier a decision goes forward with; Tier.DENY means it ends here."""
    if not policy.allowed or review.outcome is ReviewOutcome.VETO:
        return Tier.DENY
    if review.outcome is ReviewOutcome.ESCALATE:
        return policy.tier.tighten(Tier.HUMAN)
    return policy.tier
