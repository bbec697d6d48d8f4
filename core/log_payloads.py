"""What the governor writes into the decision log about snapshots, portfolios and requests:
small, stable summaries (the full objects would bloat every entry)."""

from __future__ import annotations

from typing import Any

from core.models import ApprovalRequest, MarketSnapshot, PortfolioState


def snapshot_summary(snapshot: MarketSnapshot, asset: str) -> dict[str, Any]:
    bar = snapshot.bars.get(asset)
    return {
        "tick": snapshot.tick,
        "ts": snapshot.ts.isoformat(),
        "phase": snapshot.phase.value,
        "close": bar.close if bar else None,
        "indicators": snapshot.indicators.get(asset, {}),
        "volatility": snapshot.volatility.get(asset),
    }


def portfolio_summary(portfolio: PortfolioState) -> dict[str, Any]:
    return {
        "tick": portfolio.tick,
        "cash_usd": portfolio.cash_usd,
        "equity_usd": portfolio.equity_usd,
        "positions": {a: p.quantity for a, p in portfolio.positions.items()},
        "realized_pnl_usd": portfolio.realized_pnl_usd,
        "fees_usd": portfolio.fees_usd,
    }


def request_summary(request: ApprovalRequest, simulated: bool) -> dict[str, Any]:
    return {
        "request_id": request.request_id,
        "tier": request.tier.value,
        "status": request.status.value,
        "payload_hash": request.payload_hash,
        "required_approvals": request.required_approvals,
        "approvals": list(request.approvals),
        "expires_at": request.expires_at.isoformat(),
        "decided_by": request.decided_by,
        "simulated": simulated,
    }
