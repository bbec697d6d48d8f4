"""Quorum's domain types: what flows between the agents and into the decision log.

Every type is a frozen pydantic model that forbids unknown fields, so a value that reaches the
log or the executor is exactly what was validated. Nothing here does I/O. One module per domain:

- ``base``: the frozen base, symbols, amounts in the cash unit, prices;
- ``market``: bars, the market snapshot, headlines and the sentiment reading;
- ``decisions``: actions, the proposal, the risk assessment, the policy's and reviewer's verdicts;
- ``orders``: the order, the approval request bound to it, the fill;
- ``portfolio``: positions and the portfolio state;
- ``log``: the decision log's stages and its entry.

Import them from here: ``from core.models import Proposal``.
"""

from core.models.base import CASH, Model, Price, Symbol, Usd, finite_or_none
from core.models.decisions import (
    Action,
    Deposit,
    PolicyVerdict,
    Proposal,
    Rebalance,
    ReviewOutcome,
    ReviewVerdict,
    RiskAssessment,
    RuleFiring,
    Side,
    Swap,
    Tier,
    Withdraw,
)
from core.models.log import GENESIS_HASH, DecisionLogEntry, Stage
from core.models.market import (
    Asset,
    AssetKind,
    Bar,
    Headline,
    IndicatorValues,
    MarketPhase,
    MarketSnapshot,
    SentimentReading,
)
from core.models.orders import ApprovalRequest, ApprovalStatus, Fill, Order
from core.models.portfolio import PortfolioState, Position

__all__ = [
    "CASH", "GENESIS_HASH", "Action", "ApprovalRequest", "ApprovalStatus", "Asset", "AssetKind",
    "Bar", "DecisionLogEntry", "Deposit", "Fill", "Headline", "IndicatorValues", "MarketPhase",
    "MarketSnapshot", "Model", "Order", "PolicyVerdict", "PortfolioState", "Position", "Price",
    "Proposal", "Rebalance", "ReviewOutcome", "ReviewVerdict", "RiskAssessment", "RuleFiring",
    "SentimentReading", "Side", "Stage", "Swap", "Symbol", "Tier", "Usd", "Withdraw",
    "finite_or_none",
]
