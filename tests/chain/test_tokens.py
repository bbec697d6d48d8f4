"""The devnet's ERC-20s: deployed with the right decimals, transfers and approvals with events."""

from __future__ import annotations

import pytest

from core.chain.adapters.erc20 import Erc20
from core.chain.deploy import fund
from core.chain.devnet import Devnet
from core.chain.errors import TransactionReverted
from core.chain.tx import ServiceSender, call_of
from tests.chain.conftest import CASH_USD


def test_deploy_puts_code_at_every_address_and_funds_the_treasury(
    chain: Devnet, treasury_sender: ServiceSender
) -> None:
    deployment = chain.deployment
    addresses = [
        *deployment.tokens.values(),
        *deployment.a_tokens.values(),
        deployment.factory,
        deployment.router,
        deployment.pool,
        deployment.pair_blueprint,
    ]
    for address in addresses:
        assert len(chain.w3.eth.get_code(address)) > 0, address
    decimals = {s: Erc20(chain.w3, a).decimals for s, a in deployment.tokens.items()}
    assert decimals == {"USDC": 6, "WETH": 18, "WBTC": 8}
    usdc = Erc20(chain.w3, deployment.tokens["USDC"])
    assert usdc.symbol == "USDC"
    assert usdc.balance_of(treasury_sender.address) == int(CASH_USD * 10**6)
    assert chain.w3.eth.get_balance(treasury_sender.address) == 10 * 10**18


def test_transfer_moves_the_balance_and_logs_a_transfer(
    chain: Devnet, treasury_sender: ServiceSender
) -> None:
    usdc = Erc20(chain.w3, chain.deployment.tokens["USDC"])
    receiver = ServiceSender.new_funded(chain.w3).address
    receipt = treasury_sender.send(usdc.transfer(receiver, 1_234_567))
    assert usdc.balance_of(receiver) == 1_234_567
    assert usdc.balance_of(treasury_sender.address) == int(CASH_USD * 10**6) - 1_234_567
    (event,) = usdc.contract.events.Transfer().process_receipt(receipt)
    assert dict(event.args) == {"from": treasury_sender.address, "to": receiver, "value": 1_234_567}


def test_approve_then_transfer_from_spends_exactly_the_allowance(
    chain: Devnet, treasury_sender: ServiceSender
) -> None:
    weth = Erc20(chain.w3, chain.deployment.tokens["WETH"])
    fund(
        chain.deployer,
        chain.deployment,
        address=treasury_sender.address,
        tokens={"WETH": 5},
        ether=1,
    )
    spender = ServiceSender.new_funded(chain.w3)
    receipt = treasury_sender.send(
        weth.approve_exact(spender.address, 2 * 10**18, spender_name="s")
    )
    (approval,) = weth.contract.events.Approval().process_receipt(receipt)
    assert dict(approval.args) == {
        "owner": treasury_sender.address,
        "spender": spender.address,
        "value": 2 * 10**18,
    }
    receipt = spender.send(
        call_of(
            weth.contract,
            "transferFrom",
            [treasury_sender.address, spender.address, 2 * 10**18],
            "pull",
        )
    )
    (moved,) = weth.contract.events.Transfer().process_receipt(receipt)
    assert dict(moved.args) == {
        "from": treasury_sender.address,
        "to": spender.address,
        "value": 2 * 10**18,
    }
    assert weth.allowance(treasury_sender.address, spender.address) == 0
    assert weth.balance_of(spender.address) == 2 * 10**18
    with pytest.raises(TransactionReverted, match="ERC20: insufficient allowance"):
        spender.send(
            call_of(
                weth.contract,
                "transferFrom",
                [treasury_sender.address, spender.address, 1],
                "again",
            )
        )


def test_an_unlimited_approval_is_refused(chain: Devnet) -> None:
    usdc = Erc20(chain.w3, chain.deployment.tokens["USDC"])
    with pytest.raises(ValueError, match="unlimited approval"):
        usdc.approve_exact(chain.deployment.router, 2**256 - 1, spender_name="router")
    with pytest.raises(ValueError, match="must be > 0"):
        usdc.approve_exact(chain.deployment.router, 0, spender_name="router")


def test_a_transfer_beyond_the_balance_reverts_with_its_reason(
    chain: Devnet, treasury_sender: ServiceSender
) -> None:
    wbtc = Erc20(chain.w3, chain.deployment.tokens["WBTC"])
    with pytest.raises(TransactionReverted, match="transfer amount exceeds balance") as caught:
        treasury_sender.send(wbtc.transfer(chain.deployment.router, 1))
    assert caught.value.what.startswith("transfer 1 of WBTC")
