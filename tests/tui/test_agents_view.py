"""The Agents screen's log trail names the last error each agent left in a real decision log:
a reviewer that failed closed, an order that failed, a treasury that differs from the chain."""

from __future__ import annotations

from state.db import make_engine
from state.decision_log import DecisionLog
from tui.store import PanelStore


def test_the_last_logged_error_of_each_agent_is_shown(db_url):
    engine = make_engine(db_url)
    log = DecisionLog(engine)
    log.append("d-1", "ReviewEscalated", {"decision_id": "d-1", "outcome": "escalate",
                                          "reviewer": "claude", "error_class": "RateLimitError"})
    log.append("d-1", "OrderFailed", {"order": {"decision_id": "d-1", "side": "buy",
                                                "asset": "ETH"},
                                      "error": "buy of 9.00 but only 1.00 cash is free"})
    log.append("reconcile-7", "TreasuryMismatch", {"mismatches": ["ETH: 1.0 booked, 0.9 held"]})
    log.append("d-2", "ReviewApproved", {"decision_id": "d-2", "outcome": "approve",
                                         "reviewer": "claude", "error_class": None})
    log.close()
    rows, proposals = PanelStore(engine).agent_trail()
    errors = {row.agent: row.last_error for row in rows}
    assert errors["reviewer"] == "RateLimitError (d-1)"  # a later clean review does not hide it
    assert errors["executor"] == "buy of 9.00 but only 1.00 cash is free (d-1)"
    assert errors["treasury"] == "differs from the chain: ETH: 1.0 booked, 0.9 held"
    assert errors["risk"] is None and proposals == []
    last = {row.agent: row.last for row in rows}
    assert last["reviewer"] == "approve (claude) d-2"
    assert last["executor"] == "OrderFailed: buy ETH (d-1)"
