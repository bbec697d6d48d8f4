"""The adapters' ABIs are the real protocols' subsets, and Quorum's contracts implement them.

Every function and event an adapter may call or decode must exist in the compiled devnet
contract with the same name, argument types, return types and indexed fields; that is what lets
the same adapters run against Uniswap V2 and Aave V3 on a fork.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from web3 import Web3

from core.chain import mainnet
from core.chain.adapters import abis
from core.chain.compile import compile_contract


def canonical(param: dict[str, Any]) -> str:
    if param["type"].startswith("tuple"):
        inner = ",".join(canonical(c) for c in param["components"])
        return f"({inner}){param['type'][len('tuple') :]}"
    return param["type"]


def shape(entry: dict[str, Any]) -> tuple:
    if entry["type"] == "event":
        return (
            "event",
            entry["name"],
            tuple((canonical(p), p["indexed"]) for p in entry["inputs"]),
        )
    return (
        "function",
        entry["name"],
        tuple(canonical(p) for p in entry["inputs"]),
        tuple(canonical(p) for p in entry["outputs"]),
        entry["stateMutability"] in ("view", "pure"),
    )


@pytest.mark.parametrize(
    ("adapter_abi", "contract"),
    [
        (abis.ERC20, "Token"),
        (abis.ERC20, "Pair"),
        (abis.UNISWAP_V2_PAIR, "Pair"),
        (abis.UNISWAP_V2_ROUTER, "Router"),
        (abis.UNISWAP_V2_FACTORY, "Factory"),
        (abis.AAVE_V3_POOL, "LendingPool"),
        (abis.AAVE_V3_ATOKEN, "AToken"),
    ],
)
def test_every_adapter_entry_exists_in_the_devnet_contract(
    adapter_abi: list[dict[str, Any]], contract: str, contract_cache: Path
) -> None:
    compiled = {
        shape(e)
        for e in compile_contract(contract, cache_dir=contract_cache).abi
        if e["type"] in ("function", "event")
    }
    missing = [shape(e) for e in adapter_abi if shape(e) not in compiled]
    assert missing == []


def test_get_reserve_data_returns_aave_v3s_fifteen_field_struct() -> None:
    (entry,) = [e for e in abis.AAVE_V3_POOL if e.get("name") == "getReserveData"]
    assert canonical(entry["outputs"][0]) == (
        "((uint256),uint128,uint128,uint128,uint128,uint128,uint40,uint16,address,address,"
        "address,address,uint128,uint128,uint128)"
    )


def test_fork_addresses_are_checksummed_mainnet_addresses() -> None:
    addresses = [
        mainnet.UNISWAP_V2_ROUTER02,
        mainnet.UNISWAP_V2_FACTORY,
        mainnet.AAVE_V3_POOL,
        *mainnet.TOKENS.values(),
    ]
    for address in addresses:
        assert Web3.is_checksum_address(address), address


def test_the_fork_venue_refuses_a_chain_that_is_not_mainnet(chain) -> None:
    with pytest.raises(ValueError, match="chain 31337 is not Ethereum mainnet"):
        mainnet.fork_venue(chain.w3)
