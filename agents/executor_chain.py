"""The chain executor: approved orders become exact-input swaps on a real EVM, exactly once.

The same interface as the paper executor (``submit``, ``settle``, ``cancel_pending``), so the
governor cannot tell them apart. An order submitted at tick t is executed when tick t+1 settles,
after the venue has put the pools on that bar's open (``core.chain.venue``), which is the paper
executor's "next bar's open". A buy spends ``notional_usd`` of the quote token; a sell spends the
order's quantity (or its notional at the bar's open) of the asset's token.

Each swap is two transactions, an approval of exactly its input and the swap, sent through
``ExactlyOnceSender`` under the keys ``<decision>:approve`` and ``<decision>:swap``: simulated
before signing, ``amountOutMin`` from a fresh quote less the policy's max slippage (never zero),
a deadline at most ``deadline_s`` (<= 120 s) after the latest block, fees under the policy's gas
cap. A decision that already has an intent is driven with the call it was signed for, never
re-quoted. Fills come from the receipt's Transfer events, so the treasury books what the chain
moved; ``reconcile`` compares the treasury with the wallet's balances every tick.

The key is unlocked here, in the executor's own process, and never leaves it.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from pydantic import SecretStr
from web3.logs import DISCARD

from agents.executor import IntentBook
from agents.executor_chain_config import ChainExecutorConfig
from agents.executor_recovery import TRADE_STEPS, signed_steps, unbooked_orders
from core.chain.adapters.aave_v3 import WITHDRAW_ALL, AaveV3Pool
from core.chain.adapters.erc20 import Erc20
from core.chain.adapters.uniswap_v2 import (
    FEE_DENOMINATOR,
    FEE_NUMERATOR,
    UniswapV2Router,
)
from core.chain.anvil import http_web3
from core.chain.errors import TransactionReverted
from core.chain.keys import Keystore
from core.chain.sender import (
    ExactlyOnceSender,
    GasCapExceeded,
    NonceReplaced,
    SenderConfig,
    StuckTransaction,
)
from core.chain.tx import ContractCall
from core.errors import ExecutionError
from core.logging import get_logger
from core.models import Bar, Fill, Order, PortfolioState, Side
from state.db import make_engine
from state.orders import OrderStore

LP_FEE = 1 - FEE_NUMERATOR / FEE_DENOMINATOR
"""The AMM's 0.3 % fee, booked as the fill's fee (the rest of the input buys the output)."""

log = get_logger(__name__)


class ChainExecutor(IntentBook):
    """Swaps on chain for approved orders."""

    def __init__(
        self, config: ChainExecutorConfig, *, db_url: str, password: SecretStr
    ) -> None:
        self.chain = config
        engine = make_engine(db_url)
        super().__init__(OrderStore(engine))
        self.failed: list[str] = []
        self.w3 = http_web3(config.rpc_url.get_secret_value())
        signer = Keystore(config.keys_dir).unlock(config.key_name, password)
        self.address = signer.address
        self.sender = ExactlyOnceSender(
            w3=self.w3, signer=signer, engine=engine,
            config=SenderConfig(gas_cap_wei=config.gas_cap_wei,
                                receipt_timeout_s=config.receipt_timeout_s),
        )
        self.router = UniswapV2Router(self.w3, config.router)
        self.quote = Erc20(self.w3, config.quote_token)
        self.tokens = {asset: Erc20(self.w3, address) for asset, address in config.tokens.items()}
        self.lending = {receipt: (AaveV3Pool(self.w3, reserve.pool), Erc20(self.w3, reserve.asset))
                        for receipt, reserve in config.lending.items()}
        # A receipt is worth 1 cash unit when this executor starts, then grows with the index.
        self._income_start = {receipt: pool.normalized_income(token.address)
                              for receipt, (pool, token) in self.lending.items()}
        # A restart first settles whatever an earlier process signed and left open, then books
        # the orders behind those transactions at its first settle (agents/executor_recovery.py).
        for intent in self.sender.reconcile_all():
            log.info("executor.chain.reconciled_intent", decision_id=intent.decision_id,
                     status=intent.status)
        self.resumed, abandoned = unbooked_orders(
            self.store, self.sender.store, mode=config.mode, chain_id=self.sender.chain_id,
            address=self.sender.address)
        for order in abandoned:  # its approval went out, its trade never did: not done late
            self.store.mark_failed(order.order_id, "abandoned: the process that decided it "
                                   "ended before its trade was signed; never executed late")
            self.failed.append(order.decision_id)
            log.warning("executor.chain.abandoned_order", decision_id=order.decision_id)
        self.seen_decisions.update(o.decision_id for o in [*self.resumed, *abandoned])

    # -- the executor interface ---------------------------------------------------------------

    def settle(self, *, tick: int, bars: dict[str, Bar]) -> list[Fill]:
        """Execute every order submitted before ``tick``; returns what the chain filled.

        A swap that reverts (the slippage guard, an expired deadline), is replaced, or would
        cost more gas than the cap is marked failed and not retried; one still unmined after
        every fee bump stays pending and is driven again next tick (same transaction). Orders an
        earlier process left signed but unbooked (``self.resumed``) come first, whatever their
        tick: their transactions are driven to the end and booked here, once.
        """
        resumed = list(self.resumed)
        due = [*resumed, *(order for order in self.pending if order.tick < tick)]
        waiting = [order for order in self.pending if order.tick >= tick]
        still_resumed: list[Order] = []
        fills = []
        for order in due:
            try:
                fill = self._settle_one(order, tick, bars, resumed=order in resumed)
            except StuckTransaction as error:
                log.warning("executor.chain.stuck", decision_id=order.decision_id,
                            reason=str(error))
                fill = None
            except (TransactionReverted, NonceReplaced, GasCapExceeded, ExecutionError) as error:
                self.store.mark_failed(order.order_id, str(error))
                self.failed.append(order.decision_id)
                log.warning("executor.chain.order_failed", decision_id=order.decision_id,
                            error_class=type(error).__name__, error=str(error))
                continue
            if fill is not None and order in resumed and self._in_opening(order):
                log.info("executor.chain.resumed_fill_in_opening", decision_id=order.decision_id,
                         reason="mined before the run read the wallet it starts from")
            elif fill is not None:
                fills.append(fill)
            elif order in resumed:
                still_resumed.append(order)  # driven again at the next settle, whatever its tick
            else:
                waiting.append(order)
        self.pending, self.resumed = waiting, still_resumed
        return fills

    def _settle_one(self, order: Order, tick: int, bars: dict[str, Bar], *, resumed: bool
                    ) -> Fill | None:
        """The order's fill; None if a resumed swap has no bar to be booked at yet."""
        if order.asset in self.lending:
            fill = self._lend(order, tick, bars)
        elif (bar := bars.get(order.asset)) is not None:
            fill = self._execute(order, bar, tick)
        elif resumed:  # its swap may have mined: failing it would drop what the chain moved
            log.warning("executor.chain.resumed_order_waits", decision_id=order.decision_id,
                        reason=f"no bar for {order.asset} at tick {tick}")
            return None
        else:
            raise ExecutionError(f"no bar for {order.asset} at tick {tick}")
        if resumed:
            log.info("executor.chain.resumed_order_filled", decision_id=order.decision_id,
                     tick=tick, quantity=fill.quantity)
        return fill

    def _in_opening(self, order: Order) -> bool:
        """Whether the order's trade mined by the block the run's opening wallet was read at."""
        opening = self.chain.opening_block
        if opening is None:
            return False
        mined = [intent.block_number for step in TRADE_STEPS
                 if (intent := self.sender.store.get(f"{order.decision_id}:{step}")) is not None
                 and intent.block_number is not None]
        return bool(mined) and max(mined) <= opening

    def cancel_pending(self, *, reason: str) -> list[Order]:
        """The run is ending: orders whose trade is signed stay open (their transaction may
        still mine; a restarted executor books it), the rest are cancelled and returned."""
        cancelled, open_at_end = [], []
        for order in self.pending:
            signed = signed_steps(order, self.sender.store, chain_id=self.sender.chain_id,
                                  address=self.sender.address)
            (open_at_end if set(signed) & set(TRADE_STEPS) else cancelled).append(order)
        self.pending = []
        for order in cancelled:
            self.store.mark_failed(order.order_id, f"cancelled: {reason}")
        for order in [*open_at_end, *self.resumed]:
            log.warning("executor.chain.open_at_end", decision_id=order.decision_id,
                        reason="its transaction is signed and may still mine; the order stays "
                               "open for a restarted executor to book")
        return cancelled

    def balances(self) -> dict[str, Decimal]:
        """The wallet's balances on chain: ``USD`` for the quote token, then each asset, then
        each receipt as the quantity the treasury books (supplied balance ÷ receipt price)."""
        held = {"USD": _units(self.quote.balance_of(self.address), self.quote.decimals)}
        for asset, token in self.tokens.items():
            held[asset] = _units(token.balance_of(self.address), token.decimals)
        for receipt, (pool, token) in self.lending.items():
            supplied = _units(pool.supplied(token.address, self.address), token.decimals)
            held[receipt] = supplied / Decimal(repr(self._receipt_price(receipt)))
        return held

    def receipt_prices(self, *, ts: object = None) -> dict[str, float]:
        """Each receipt's value in cash now: the pool's income index against the start's."""
        return {receipt: self._receipt_price(receipt) for receipt in self.lending}

    def _receipt_price(self, receipt: str, *, block: int | str = "latest") -> float:
        pool, token = self.lending[receipt]
        return pool.normalized_income(token.address, block=block) / self._income_start[receipt]

    def reconcile(self, portfolio: PortfolioState) -> list[str]:
        """What the treasury books and the chain holds differently; empty when they agree."""
        chain = self.balances()
        booked = {"USD": portfolio.cash_usd}
        booked.update({asset: portfolio.quantity(asset) for asset in [*self.tokens, *self.lending]})
        mismatches = []
        for asset, on_chain in chain.items():
            token = (self.quote if asset == "USD" else self.tokens.get(asset)
                     or self.lending[asset][1])
            allowed = Decimal(self.chain.tolerance_units).scaleb(-token.decimals)
            allowed = max(allowed, abs(on_chain) * Decimal("1e-12"))
            ours = Decimal(repr(float(booked.get(asset, 0.0))))
            if abs(ours - on_chain) > allowed:
                mismatches.append(f"{asset}: treasury books {ours}, the chain holds {on_chain}")
        return mismatches

    def health(self) -> dict[str, Any]:
        return {"pending": len(self.pending), "resumed": len(self.resumed),
                "filled": self.filled, "failed": len(self.failed),
                "mode": self.chain.mode, "address": self.address}

    # -- one order ------------------------------------------------------------------------------

    def _execute(self, order: Order, bar: Bar, tick: int) -> Fill:
        token = self.tokens.get(order.asset)
        if token is None:
            raise ExecutionError(f"no token for {order.asset} on this chain")
        token_in, token_out = (self.quote, token) if order.side is Side.BUY else (token, self.quote)
        approve_key, swap_key = f"{order.decision_id}:approve", f"{order.decision_id}:swap"
        swap = self._signed_call(swap_key)
        if swap is None:
            approve = self._signed_call(approve_key)
            amount_in = (self._approved_amount(token_in, approve) if approve is not None
                         else self._amount_in(order, bar, token_in))
            swap = self._plan(token_in, token_out, amount_in, approve_key)
        receipt = self.sender.send(swap_key, swap)
        spent = _transferred(token_in, receipt, sender=self.address)
        received = _transferred(token_out, receipt, recipient=self.address)
        if spent <= 0 or received <= 0:
            raise ExecutionError(f"swap {receipt['transactionHash'].to_0x_hex()} moved no tokens "
                                 "to or from the treasury")
        fill = self._fill(order, bar, tick, spent=_units(spent, token_in.decimals),
                          received=_units(received, token_out.decimals))
        gas_wei = receipt["gasUsed"] * receipt.get("effectiveGasPrice", 0)
        log.info("executor.chain.filled", decision_id=order.decision_id,
                 tx=receipt["transactionHash"].to_0x_hex(), block=receipt["blockNumber"],
                 spent=spent, received=received, gas_wei=gas_wei)
        self.store.mark_filled(order.order_id, fill)
        self.filled += 1
        return fill

    def _lend(self, order: Order, tick: int, bars: dict[str, Bar]) -> Fill:
        """A deposit (approve exactly, supply) or a withdrawal, booked at the receipt's price."""
        pool, token = self.lending[order.asset]
        keys = {step: f"{order.decision_id}:{step}" for step in ("approve", "supply", "withdraw")}
        if order.side is Side.BUY:
            supply = self._signed_call(keys["supply"])
            if supply is None:
                wanted = int(Decimal(repr(order.notional_usd)).scaleb(token.decimals))
                units = min(wanted, token.balance_of(self.address))
                if units <= 0:
                    raise ExecutionError(f"no {token.symbol} to deposit for {order.decision_id}")
                approve, supply = pool.supply(asset=token.address, amount=units,
                                              on_behalf_of=self.address)
                self.sender.send(keys["approve"], self._signed_call(keys["approve"]) or approve)
            receipt = self.sender.send(keys["supply"], supply)
            cash = _transferred(token, receipt, sender=self.address)
        else:
            withdraw = self._signed_call(keys["withdraw"])
            if withdraw is None:
                supplied = pool.supplied(token.address, self.address)
                price = self._receipt_price(order.asset)
                quantity = order.quantity or order.notional_usd / price
                wanted = int(Decimal(repr(quantity * price)).scaleb(token.decimals))
                if supplied <= 0:
                    raise ExecutionError(f"nothing supplied to withdraw for {order.decision_id}")
                units = WITHDRAW_ALL if wanted >= supplied - self.chain.tolerance_units else wanted
                withdraw = pool.withdraw(asset=token.address, amount=units, to=self.address)
            receipt = self.sender.send(keys["withdraw"], withdraw)
            cash = _transferred(token, receipt, recipient=self.address)
        if cash <= 0:
            raise ExecutionError(f"{order.decision_id}: the lending pool moved no {token.symbol}")
        price = self._receipt_price(order.asset, block=receipt["blockNumber"])
        amount = float(_units(cash, token.decimals))
        quantity = amount / price
        if (order.side is Side.SELL and order.quantity
                and pool.supplied(token.address, self.address) == 0):
            # Everything came back: the books' whole position closes, not all but the pool's
            # rounding to a base unit (which would stay booked as dust).
            quantity, price = order.quantity, amount / order.quantity
        bar_time = next(iter(bars.values())).ts if bars else order.created_at
        fill = Fill(order_id=order.order_id, decision_id=order.decision_id, tick=tick,
                    ts=bar_time, asset=order.asset, side=order.side, quantity=quantity,
                    price=price, fee_usd=0.0, slippage_bps=0.0, strategy=order.strategy)
        log.info("executor.chain.lent", decision_id=order.decision_id, side=order.side.value,
                 units=cash, tx=receipt["transactionHash"].to_0x_hex())
        self.store.mark_filled(order.order_id, fill)
        self.filled += 1
        return fill

    def _amount_in(self, order: Order, bar: Bar, token_in: Erc20) -> int:
        """Base units to spend: the notional in cash, or the quantity sold; at most what's held."""
        if order.side is Side.BUY:
            wanted = Decimal(repr(order.notional_usd))
        else:
            wanted = Decimal(repr(order.quantity or order.notional_usd / bar.open))
        units = min(int(wanted.scaleb(token_in.decimals)), token_in.balance_of(self.address))
        if units <= 0:
            raise ExecutionError(f"nothing of {token_in.symbol} to spend for {order.decision_id}")
        return units

    def _plan(self, token_in: Erc20, token_out: Erc20, amount_in: int, approve_key: str
              ) -> ContractCall:
        """Quote now; approve exactly ``amount_in`` (once); return the swap call to sign."""
        deadline = self.w3.eth.get_block("latest")["timestamp"] + self.chain.deadline_s
        plan = self.router.plan_swap_exact_in(
            amount_in=amount_in, path=[token_in.address, token_out.address], to=self.address,
            max_slippage_bps=self.chain.max_slippage_bps, deadline=deadline,
        )
        if plan.min_out <= 0:  # the adapter refuses too; a zero minimum takes any price
            raise ExecutionError(f"the quote for {amount_in} of {token_in.symbol} rounds to an "
                                 "amountOutMin of zero; refused")
        approve, swap = plan.calls
        self.sender.send(approve_key, self._signed_call(approve_key) or approve)
        return swap

    def _signed_call(self, key: str) -> ContractCall | None:
        intent = self.sender.store.get(key)
        return None if intent is None else ContractCall.model_validate_json(intent.call_json)

    @staticmethod
    def _approved_amount(token: Erc20, approve: ContractCall) -> int:
        _, args = token.contract.decode_function_input(approve.data)
        return int(list(args.values())[1])  # approve(spender, amount)

    @staticmethod
    def _fill(order: Order, bar: Bar, tick: int, *, spent: Decimal, received: Decimal) -> Fill:
        """Book exactly what moved: a buy costs ``spent`` cash, a sell brings ``received``."""
        if order.side is Side.BUY:
            cash, quantity = float(spent), float(received)
            fee = cash * LP_FEE
            price = (cash - fee) / quantity
        else:
            cash, quantity = float(received), float(spent)
            fee = cash * LP_FEE / (1 - LP_FEE)
            price = (cash + fee) / quantity
        moved = price / bar.open - 1 if order.side is Side.BUY else 1 - price / bar.open
        return Fill(
            order_id=order.order_id, decision_id=order.decision_id, tick=tick, ts=bar.ts,
            asset=order.asset, side=order.side, quantity=quantity, price=price, fee_usd=fee,
            slippage_bps=max(0.0, moved * 1e4), strategy=order.strategy,
        )


def _transferred(token: Erc20, receipt: Any, *, sender: str | None = None,
                 recipient: str | None = None) -> int:
    """Base units of ``token`` the receipt's Transfer events moved from ``sender`` or to
    ``recipient`` (only events the token itself emitted count)."""
    total = 0
    for event in token.contract.events.Transfer().process_receipt(receipt, errors=DISCARD):
        if event["address"] != token.address:
            continue
        args = event["args"]
        if (sender and args["from"] == sender) or (recipient and args["to"] == recipient):
            total += args["value"]
    return total


def _units(value: int, decimals: int) -> Decimal:
    return Decimal(value).scaleb(-decimals)
