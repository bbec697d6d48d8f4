"""The ABI subsets Quorum uses, written from the real protocols' interfaces, not from our build.

ERC-20, Uniswap V2 (Router02, Factory, Pair) and Aave V3 (Pool, AToken): the adapters load only
these, so they work the same against Quorum's devnet contracts and against the deployed
protocols on a fork. A test checks that every entry here matches the compiled devnet ABI.
"""

from __future__ import annotations

from typing import Any

Abi = list[dict[str, Any]]


def _param(kind: str | tuple, name: str = "") -> dict[str, Any]:
    if isinstance(kind, tuple):  # (tuple name, [components])
        return {"name": name, "type": "tuple", "components": [_param(*c) for c in kind[1]]}
    return {"name": name, "type": kind}


def _fn(name: str, inputs: list[tuple], outputs: list[tuple], mutability: str) -> dict[str, Any]:
    return {
        "type": "function",
        "name": name,
        "inputs": [_param(kind, arg) for kind, arg in inputs],
        "outputs": [_param(*out) for out in outputs],
        "stateMutability": mutability,
    }


def _event(name: str, fields: list[tuple[str, str, bool]]) -> dict[str, Any]:
    return {
        "type": "event",
        "name": name,
        "inputs": [{"name": n, "type": t, "indexed": i} for t, n, i in fields],
        "anonymous": False,
    }


ERC20: Abi = [
    _fn("name", [], [("string",)], "view"),
    _fn("symbol", [], [("string",)], "view"),
    _fn("decimals", [], [("uint8",)], "view"),
    _fn("totalSupply", [], [("uint256",)], "view"),
    _fn("balanceOf", [("address", "owner")], [("uint256",)], "view"),
    _fn("allowance", [("address", "owner"), ("address", "spender")], [("uint256",)], "view"),
    _fn("approve", [("address", "spender"), ("uint256", "amount")], [("bool",)], "nonpayable"),
    _fn("transfer", [("address", "to"), ("uint256", "amount")], [("bool",)], "nonpayable"),
    _fn(
        "transferFrom",
        [("address", "from"), ("address", "to"), ("uint256", "amount")],
        [("bool",)],
        "nonpayable",
    ),
    _event(
        "Transfer",
        [("address", "from", True), ("address", "to", True), ("uint256", "value", False)],
    ),
    _event(
        "Approval",
        [("address", "owner", True), ("address", "spender", True), ("uint256", "value", False)],
    ),
]

_PATH = ("address[]", "path")
UNISWAP_V2_ROUTER: Abi = [
    _fn("factory", [], [("address",)], "view"),
    _fn(
        "quote",
        [("uint256", "amountA"), ("uint256", "reserveA"), ("uint256", "reserveB")],
        [("uint256",)],
        "pure",
    ),
    _fn(
        "getAmountOut",
        [("uint256", "amountIn"), ("uint256", "reserveIn"), ("uint256", "reserveOut")],
        [("uint256",)],
        "pure",
    ),
    _fn("getAmountsOut", [("uint256", "amountIn"), _PATH], [("uint256[]",)], "view"),
    _fn(
        "swapExactTokensForTokens",
        [
            ("uint256", "amountIn"),
            ("uint256", "amountOutMin"),
            _PATH,
            ("address", "to"),
            ("uint256", "deadline"),
        ],
        [("uint256[]",)],
        "nonpayable",
    ),
    _fn(
        "addLiquidity",
        [
            ("address", "tokenA"),
            ("address", "tokenB"),
            ("uint256", "amountADesired"),
            ("uint256", "amountBDesired"),
            ("uint256", "amountAMin"),
            ("uint256", "amountBMin"),
            ("address", "to"),
            ("uint256", "deadline"),
        ],
        [("uint256",), ("uint256",), ("uint256",)],
        "nonpayable",
    ),
    _fn(
        "removeLiquidity",
        [
            ("address", "tokenA"),
            ("address", "tokenB"),
            ("uint256", "liquidity"),
            ("uint256", "amountAMin"),
            ("uint256", "amountBMin"),
            ("address", "to"),
            ("uint256", "deadline"),
        ],
        [("uint256",), ("uint256",)],
        "nonpayable",
    ),
]

UNISWAP_V2_FACTORY: Abi = [
    _fn("getPair", [("address", "tokenA"), ("address", "tokenB")], [("address",)], "view"),
    _fn("allPairsLength", [], [("uint256",)], "view"),
]

UNISWAP_V2_PAIR: Abi = [
    *ERC20,
    _fn("token0", [], [("address",)], "view"),
    _fn("token1", [], [("address",)], "view"),
    _fn("getReserves", [], [("uint112",), ("uint112",), ("uint32",)], "view"),
    _event(
        "Swap",
        [
            ("address", "sender", True),
            ("uint256", "amount0In", False),
            ("uint256", "amount1In", False),
            ("uint256", "amount0Out", False),
            ("uint256", "amount1Out", False),
            ("address", "to", True),
        ],
    ),
    _event("Sync", [("uint112", "reserve0", False), ("uint112", "reserve1", False)]),
]

_RESERVE_DATA = (
    "ReserveDataLegacy",
    [
        (("ReserveConfigurationMap", [("uint256", "data")]), "configuration"),
        ("uint128", "liquidityIndex"),
        ("uint128", "currentLiquidityRate"),
        ("uint128", "variableBorrowIndex"),
        ("uint128", "currentVariableBorrowRate"),
        ("uint128", "currentStableBorrowRate"),
        ("uint40", "lastUpdateTimestamp"),
        ("uint16", "id"),
        ("address", "aTokenAddress"),
        ("address", "stableDebtTokenAddress"),
        ("address", "variableDebtTokenAddress"),
        ("address", "interestRateStrategyAddress"),
        ("uint128", "accruedToTreasury"),
        ("uint128", "unbacked"),
        ("uint128", "isolationModeTotalDebt"),
    ],
)

AAVE_V3_POOL: Abi = [
    _fn(
        "supply",
        [
            ("address", "asset"),
            ("uint256", "amount"),
            ("address", "onBehalfOf"),
            ("uint16", "referralCode"),
        ],
        [],
        "nonpayable",
    ),
    _fn(
        "withdraw",
        [("address", "asset"), ("uint256", "amount"), ("address", "to")],
        [("uint256",)],
        "nonpayable",
    ),
    _fn("getReserveData", [("address", "asset")], [(_RESERVE_DATA,)], "view"),
    _fn("getReserveNormalizedIncome", [("address", "asset")], [("uint256",)], "view"),
    _fn("getReservesList", [], [("address[]",)], "view"),
    _event(
        "Supply",
        [
            ("address", "reserve", True),
            ("address", "user", False),
            ("address", "onBehalfOf", True),
            ("uint256", "amount", False),
            ("uint16", "referralCode", True),
        ],
    ),
    _event(
        "Withdraw",
        [
            ("address", "reserve", True),
            ("address", "user", True),
            ("address", "to", True),
            ("uint256", "amount", False),
        ],
    ),
]

AAVE_V3_ATOKEN: Abi = [
    _fn("balanceOf", [("address", "user")], [("uint256",)], "view"),
    _fn("scaledBalanceOf", [("address", "user")], [("uint256",)], "view"),
    _fn("totalSupply", [], [("uint256",)], "view"),
    _fn("scaledTotalSupply", [], [("uint256",)], "view"),
    _fn("UNDERLYING_ASSET_ADDRESS", [], [("address",)], "view"),
    _fn("POOL", [], [("address",)], "view"),
]
