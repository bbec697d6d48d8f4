"""What a restarted chain executor must still book: orders whose transactions an earlier
process signed (and maybe sent, maybe saw mined) but whose fill it never recorded.

An order is such an orphan when its row is still an intent (neither filled nor failed) and at
least one of its transactions (``<decision>:approve``, ``:swap``, ``:supply``, ``:withdraw``)
has a chain intent from this wallet on this chain. The chain executor drives those
transactions through the exactly-once sender (never signing a decision's transaction again)
and books each fill once, through its ordinary ``settle``.

An order with no chain intent at all never touched the chain; it is left as it is (a restart
does not execute an order late that no transaction was signed for). This module reads only:
it never signs, sends or writes.
"""

from __future__ import annotations

from core.logging import get_logger
from core.models import Order
from state.chain_intents import ChainIntentStore
from state.orders import OrderStore

ORDER_STEPS = ("approve", "swap", "supply", "withdraw")
"""The sender keys of one order's transactions: ``<decision id>:<step>``."""

log = get_logger(__name__)


def unbooked_orders(orders: OrderStore, intents: ChainIntentStore, *, mode: str, chain_id: int,
                    address: str) -> list[Order]:
    """Open orders of ``mode`` with a transaction signed by ``address`` on ``chain_id``,
    oldest first."""
    found = []
    for order in orders.open_intents():
        if order.mode != mode:
            continue
        signed = [intent for step in ORDER_STEPS
                  if (intent := intents.get(f"{order.decision_id}:{step}")) is not None
                  and intent.chain_id == chain_id and intent.from_address == address]
        if not signed:
            continue
        log.info("executor.chain.unbooked_order", decision_id=order.decision_id,
                 transactions={intent.decision_id: intent.status for intent in signed})
        found.append(order)
    return found
