# pragma version ~=0.4.3
"""
@title Quorum devnet AMM factory
@notice Creates one Pair per token pair from a Pair blueprint; Uniswap V2 Factory ABI subset
        (getPair, allPairs, allPairsLength, createPair, PairCreated).
"""

event PairCreated:
    token0: indexed(address)
    token1: indexed(address)
    pair: address
    count: uint256

MAX_PAIRS: constant(uint256) = 256

PAIR_BLUEPRINT: public(immutable(address))
getPair: public(HashMap[address, HashMap[address, address]])
allPairs: public(DynArray[address, MAX_PAIRS])


@deploy
def __init__(blueprint: address):
    PAIR_BLUEPRINT = blueprint


@view
@external
def allPairsLength() -> uint256:
    return len(self.allPairs)


@external
def createPair(tokenA: address, tokenB: address) -> address:
    assert tokenA != tokenB, "UniswapV2: IDENTICAL_ADDRESSES"
    token0: address = tokenA
    token1: address = tokenB
    if convert(tokenB, uint256) < convert(tokenA, uint256):
        token0 = tokenB
        token1 = tokenA
    assert token0 != empty(address), "UniswapV2: ZERO_ADDRESS"
    assert self.getPair[token0][token1] == empty(address), "UniswapV2: PAIR_EXISTS"
    pair: address = create_from_blueprint(PAIR_BLUEPRINT, token0, token1)
    self.getPair[token0][token1] = pair
    self.getPair[token1][token0] = pair
    self.allPairs.append(pair)
    log PairCreated(token0=token0, token1=token1, pair=pair, count=len(self.allPairs))
    return pair
