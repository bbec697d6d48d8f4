# pragma version ~=0.4.3
"""
@title Quorum devnet aToken
@notice The interest-bearing receipt of one lending-pool reserve, in Aave V3's shape: it holds
        the underlying, stores scaled balances, and balanceOf is the scaled balance times the
        pool's normalized income. Only the pool mints and burns. Not transferable (Quorum
        never moves aTokens; Aave's are).
"""

from ethereum.ercs import IERC20

interface IPool:
    def getReserveNormalizedIncome(asset: address) -> uint256: view

event Transfer:
    sender: indexed(address)
    receiver: indexed(address)
    value: uint256

RAY: constant(uint256) = 10**27
HALF_RAY: constant(uint256) = 5 * 10**26

POOL: public(immutable(address))
UNDERLYING_ASSET_ADDRESS: public(immutable(address))
name: public(String[32])
symbol: public(String[16])
decimals: public(uint8)
scaledTotalSupply: public(uint256)
scaled_balances: HashMap[address, uint256]


@deploy
def __init__(pool: address, underlying: address, name: String[32], symbol: String[16], decimals: uint8):
    POOL = pool
    UNDERLYING_ASSET_ADDRESS = underlying
    self.name = name
    self.symbol = symbol
    self.decimals = decimals


@view
@external
def scaledBalanceOf(user: address) -> uint256:
    return self.scaled_balances[user]


@view
@external
def balanceOf(user: address) -> uint256:
    return self._ray_mul(self.scaled_balances[user], self._income())


@view
@external
def totalSupply() -> uint256:
    return self._ray_mul(self.scaledTotalSupply, self._income())


@external
def mint(caller: address, onBehalfOf: address, amount: uint256, index: uint256) -> bool:
    assert msg.sender == POOL, "aToken: only the pool"
    scaled: uint256 = self._ray_div(amount, index)
    assert scaled != 0, "aToken: INVALID_MINT_AMOUNT"
    first: bool = self.scaled_balances[onBehalfOf] == 0
    self.scaled_balances[onBehalfOf] += scaled
    self.scaledTotalSupply += scaled
    log Transfer(sender=empty(address), receiver=onBehalfOf, value=amount)
    return first


@external
def burn(owner: address, receiverOfUnderlying: address, amount: uint256, index: uint256):
    assert msg.sender == POOL, "aToken: only the pool"
    scaled: uint256 = self._ray_div(amount, index)
    assert scaled != 0, "aToken: INVALID_BURN_AMOUNT"
    self.scaled_balances[owner] -= scaled
    self.scaledTotalSupply -= scaled
    ok: bool = extcall IERC20(UNDERLYING_ASSET_ADDRESS).transfer(receiverOfUnderlying, amount, default_return_value=True)
    assert ok, "aToken: TRANSFER_FAILED"
    log Transfer(sender=owner, receiver=empty(address), value=amount)


@view
@internal
def _income() -> uint256:
    return staticcall IPool(POOL).getReserveNormalizedIncome(UNDERLYING_ASSET_ADDRESS)


@pure
@internal
def _ray_mul(a: uint256, b: uint256) -> uint256:
    return (a * b + HALF_RAY) // RAY


@pure
@internal
def _ray_div(a: uint256, b: uint256) -> uint256:
    return (a * RAY + b // 2) // b
