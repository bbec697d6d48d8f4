"""Protocol adapters: web3.py wrappers over the real protocols' ABI subsets (``abis``).

They read (quotes, reserves, balances) and describe transactions as ``ContractCall`` values;
they never sign or send. Point them at Quorum's devnet contracts or, on a fork, at the deployed
protocols (``core.chain.mainnet``): the code is the same.
"""

from core.chain.adapters.aave_v3 import AaveV3Pool, ReserveData
from core.chain.adapters.erc20 import Erc20
from core.chain.adapters.uniswap_v2 import SwapPlan, UniswapV2Router

__all__ = ["AaveV3Pool", "Erc20", "ReserveData", "SwapPlan", "UniswapV2Router"]
