# pragma version ~=0.4.3
"""
@title Quorum devnet AMM router
@notice The Uniswap V2 Router02 ABI subset Quorum uses: factory, quote, getAmountOut,
        getAmountsOut, swapExactTokensForTokens (amountOutMin, deadline), addLiquidity and
        removeLiquidity, with Uniswap's revert strings. Holds no tokens between calls.
"""

from ethereum.ercs import IERC20

interface IFactory:
    def getPair(tokenA: address, tokenB: address) -> address: view
    def createPair(tokenA: address, tokenB: address) -> address: nonpayable

interface IPair:
    def getReserves() -> (uint112, uint112, uint32): view
    def token0() -> address: view
    def mint(to: address) -> uint256: nonpayable
    def burn(to: address) -> (uint256, uint256): nonpayable
    def swap(amount0Out: uint256, amount1Out: uint256, to: address, data: Bytes[1024]): nonpayable
    def transferFrom(sender: address, receiver: address, amount: uint256) -> bool: nonpayable

MAX_PATH: constant(uint256) = 5

factory: public(immutable(address))


@deploy
def __init__(factory_address: address):
    factory = factory_address


@pure
@external
def quote(amountA: uint256, reserveA: uint256, reserveB: uint256) -> uint256:
    return self._quote(amountA, reserveA, reserveB)


@pure
@external
def getAmountOut(amountIn: uint256, reserveIn: uint256, reserveOut: uint256) -> uint256:
    return self._amount_out(amountIn, reserveIn, reserveOut)


@view
@external
def getAmountsOut(amountIn: uint256, path: DynArray[address, MAX_PATH]) -> DynArray[uint256, MAX_PATH]:
    return self._amounts_out(amountIn, path)


@external
def swapExactTokensForTokens(
    amountIn: uint256,
    amountOutMin: uint256,
    path: DynArray[address, MAX_PATH],
    to: address,
    deadline: uint256,
) -> DynArray[uint256, MAX_PATH]:
    assert deadline >= block.timestamp, "UniswapV2Router: EXPIRED"
    amounts: DynArray[uint256, MAX_PATH] = self._amounts_out(amountIn, path)
    assert amounts[len(amounts) - 1] >= amountOutMin, "UniswapV2Router: INSUFFICIENT_OUTPUT_AMOUNT"
    self._safe_transfer_from(path[0], msg.sender, self._pair(path[0], path[1]), amounts[0])
    for i: uint256 in range(len(path) - 1, bound=MAX_PATH - 1):
        token_in: address = path[i]
        token_out: address = path[i + 1]
        pair: address = self._pair(token_in, token_out)
        amount_out: uint256 = amounts[i + 1]
        amount0_out: uint256 = 0
        amount1_out: uint256 = amount_out
        if token_out == staticcall IPair(pair).token0():
            amount0_out = amount_out
            amount1_out = 0
        receiver: address = to
        if i < len(path) - 2:
            receiver = self._pair(token_out, path[i + 2])
        extcall IPair(pair).swap(amount0_out, amount1_out, receiver, b"")
    return amounts


@external
def addLiquidity(
    tokenA: address,
    tokenB: address,
    amountADesired: uint256,
    amountBDesired: uint256,
    amountAMin: uint256,
    amountBMin: uint256,
    to: address,
    deadline: uint256,
) -> (uint256, uint256, uint256):
    assert deadline >= block.timestamp, "UniswapV2Router: EXPIRED"
    if staticcall IFactory(factory).getPair(tokenA, tokenB) == empty(address):
        extcall IFactory(factory).createPair(tokenA, tokenB)
    reserveA: uint256 = 0
    reserveB: uint256 = 0
    reserveA, reserveB = self._reserves(tokenA, tokenB)
    amountA: uint256 = amountADesired
    amountB: uint256 = amountBDesired
    if reserveA != 0 or reserveB != 0:
        amountBOptimal: uint256 = self._quote(amountADesired, reserveA, reserveB)
        if amountBOptimal <= amountBDesired:
            assert amountBOptimal >= amountBMin, "UniswapV2Router: INSUFFICIENT_B_AMOUNT"
            amountB = amountBOptimal
        else:
            amountAOptimal: uint256 = self._quote(amountBDesired, reserveB, reserveA)
            assert amountAOptimal <= amountADesired
            assert amountAOptimal >= amountAMin, "UniswapV2Router: INSUFFICIENT_A_AMOUNT"
            amountA = amountAOptimal
    pair: address = self._pair(tokenA, tokenB)
    self._safe_transfer_from(tokenA, msg.sender, pair, amountA)
    self._safe_transfer_from(tokenB, msg.sender, pair, amountB)
    liquidity: uint256 = extcall IPair(pair).mint(to)
    return amountA, amountB, liquidity


@external
def removeLiquidity(
    tokenA: address,
    tokenB: address,
    liquidity: uint256,
    amountAMin: uint256,
    amountBMin: uint256,
    to: address,
    deadline: uint256,
) -> (uint256, uint256):
    assert deadline >= block.timestamp, "UniswapV2Router: EXPIRED"
    pair: address = self._pair(tokenA, tokenB)
    ok: bool = extcall IPair(pair).transferFrom(msg.sender, pair, liquidity)
    assert ok, "UniswapV2Router: LP_TRANSFER_FAILED"
    amount0: uint256 = 0
    amount1: uint256 = 0
    amount0, amount1 = extcall IPair(pair).burn(to)
    amountA: uint256 = amount1
    amountB: uint256 = amount0
    if tokenA == staticcall IPair(pair).token0():
        amountA = amount0
        amountB = amount1
    assert amountA >= amountAMin, "UniswapV2Router: INSUFFICIENT_A_AMOUNT"
    assert amountB >= amountBMin, "UniswapV2Router: INSUFFICIENT_B_AMOUNT"
    return amountA, amountB


@view
@internal
def _pair(tokenA: address, tokenB: address) -> address:
    pair: address = staticcall IFactory(factory).getPair(tokenA, tokenB)
    assert pair != empty(address), "UniswapV2Library: PAIR_NOT_FOUND"
    return pair


@view
@internal
def _reserves(tokenA: address, tokenB: address) -> (uint256, uint256):
    pair: address = self._pair(tokenA, tokenB)
    reserve0: uint112 = 0
    reserve1: uint112 = 0
    stamp: uint32 = 0
    reserve0, reserve1, stamp = staticcall IPair(pair).getReserves()
    if tokenA == staticcall IPair(pair).token0():
        return convert(reserve0, uint256), convert(reserve1, uint256)
    return convert(reserve1, uint256), convert(reserve0, uint256)


@view
@internal
def _amounts_out(amountIn: uint256, path: DynArray[address, MAX_PATH]) -> DynArray[uint256, MAX_PATH]:
    assert len(path) >= 2, "UniswapV2Library: INVALID_PATH"
    amounts: DynArray[uint256, MAX_PATH] = [amountIn]
    for i: uint256 in range(len(path) - 1, bound=MAX_PATH - 1):
        reserve_in: uint256 = 0
        reserve_out: uint256 = 0
        reserve_in, reserve_out = self._reserves(path[i], path[i + 1])
        amounts.append(self._amount_out(amounts[i], reserve_in, reserve_out))
    return amounts


@pure
@internal
def _amount_out(amountIn: uint256, reserveIn: uint256, reserveOut: uint256) -> uint256:
    assert amountIn > 0, "UniswapV2Library: INSUFFICIENT_INPUT_AMOUNT"
    assert reserveIn > 0 and reserveOut > 0, "UniswapV2Library: INSUFFICIENT_LIQUIDITY"
    with_fee: uint256 = amountIn * 997
    return with_fee * reserveOut // (reserveIn * 1000 + with_fee)


@pure
@internal
def _quote(amountA: uint256, reserveA: uint256, reserveB: uint256) -> uint256:
    assert amountA > 0, "UniswapV2Library: INSUFFICIENT_AMOUNT"
    assert reserveA > 0 and reserveB > 0, "UniswapV2Library: INSUFFICIENT_LIQUIDITY"
    return amountA * reserveB // reserveA


@internal
def _safe_transfer_from(token: address, sender: address, receiver: address, amount: uint256):
    ok: bool = extcall IERC20(token).transferFrom(sender, receiver, amount, default_return_value=True)
    assert ok, "TransferHelper: TRANSFER_FROM_FAILED"
