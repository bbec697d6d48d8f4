"""What a restarted chain executor must still book: orders whose transactions an earlier
process signed (and maybe sent, maybe saw mined) but whose fill it never recorded.

An order is such an orphan when its row is still an intent (neither filled nor failed) and at
least one of its transactions (``<decision>:approve``, ``:swap``, ``:supply``, ``:withdraw``)
has a chain intent from this wallet on this chain. The chain executor drives those
transactions through the exactly-once sender (never signing a decision's transaction again)
and books each fill once, through its ordinary ``settle``.

An order whose trade (swap, supply, withdraw) was never signed is not executed late: with only
its approval signed it is abandoned (marked failed by the executor), and with nothing signed it
never touched the chain and is left as it is. This module reads only: it never signs, sends or
writes.
"""

from __future__ import annotations

from core.logging import get_logger
from core.models import Order
from state.chain_intents import ChainIntentStore
from state.orders import OrderStore

ORDER_STEPS = ("approve", "swap", "supply", "withdraw")
"""The sender keys of one order's transactions: ``<decision id>:<step>``."""
TRADE_STEPS = ("swap", "supply", "withdraw")
"""The steps that move the order's money (an approval alone moves nothing)."""

log = get_logger(__name__)


def signed_steps(order: Order, intents: ChainIntentStore, *, chain_id: int,
                 address: str) -> dict[str, str]:
    """The order's transactions this wallet signed on this chain: step -> status."""
    signed = {}
    for step in ORDER_STEPS:
        intent = intents.get(f"{order.decision_id}:{step}")
        if intent is not None and intent.chain_id == chain_id and intent.from_address == address:
            signed[step] = intent.status
    return signed


def unbooked_orders(orders: OrderStore, intents: ChainIntentStore, *, mode: str, chain_id: int,
                    address: str) -> tuple[list[Order], list[Order]]:
    """Open orders of ``mode`` with a transaction signed by ``address`` on ``chain_id``, oldest
    first, as (to resume: their trade was signed, to abandon: only an approval was). An order
    whose trade was never signed is never executed late, at a quote nobody judged."""
    resume, abandon = [], []
    for order in orders.open_intents():
        if order.mode != mode:
            continue
        signed = signed_steps(order, intents, chain_id=chain_id, address=address)
        if not signed:
            continue
        log.info("executor.chain.unbooked_order", decision_id=order.decision_id,
                 transactions=signed)
        (resume if set(signed) & set(TRADE_STEPS) else abandon).append(order)
    return resume, abandon
