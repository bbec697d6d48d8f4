# pragma version ~=0.4.3
"""
@title Quorum devnet lending pool
@notice The Aave V3 Pool ABI subset Quorum uses: supply, withdraw, getReserveData (the
        ReserveDataLegacy layout), getReserveNormalizedIncome, getReservesList, with Aave's
        Supply/Withdraw events. A supplier's balance is its scaled aToken balance times the
        reserve's liquidity index, which grows linearly at a rate the owner sets (a ray, per
        year), exactly as Aave's MathUtils.calculateLinearInterest. There is no borrowing:
        interest is paid from a reserve of underlying the deployer leaves in each aToken.
"""

from ethereum.ercs import IERC20

interface IAToken:
    def mint(caller: address, onBehalfOf: address, amount: uint256, index: uint256) -> bool: nonpayable
    def burn(owner: address, receiverOfUnderlying: address, amount: uint256, index: uint256): nonpayable
    def scaledBalanceOf(user: address) -> uint256: view

struct ReserveConfigurationMap:
    data: uint256

struct ReserveDataLegacy:
    configuration: ReserveConfigurationMap
    liquidityIndex: uint128
    currentLiquidityRate: uint128
    variableBorrowIndex: uint128
    currentVariableBorrowRate: uint128
    currentStableBorrowRate: uint128
    lastUpdateTimestamp: uint40
    id: uint16
    aTokenAddress: address
    stableDebtTokenAddress: address
    variableDebtTokenAddress: address
    interestRateStrategyAddress: address
    accruedToTreasury: uint128
    unbacked: uint128
    isolationModeTotalDebt: uint128

struct Reserve:
    liquidityIndex: uint128
    currentLiquidityRate: uint128
    lastUpdateTimestamp: uint40
    id: uint16
    aTokenAddress: address

event Supply:
    reserve: indexed(address)
    user: address
    onBehalfOf: indexed(address)
    amount: uint256
    referralCode: indexed(uint16)

event Withdraw:
    reserve: indexed(address)
    user: indexed(address)
    to: indexed(address)
    amount: uint256

event ReserveDataUpdated:
    reserve: indexed(address)
    liquidityRate: uint256
    stableBorrowRate: uint256
    variableBorrowRate: uint256
    liquidityIndex: uint256
    variableBorrowIndex: uint256

RAY: constant(uint256) = 10**27
HALF_RAY: constant(uint256) = 5 * 10**26
SECONDS_PER_YEAR: constant(uint256) = 365 * 24 * 3600
MAX_RESERVES: constant(uint256) = 32

owner: public(address)
reserves: HashMap[address, Reserve]
reserves_list: DynArray[address, MAX_RESERVES]


@deploy
def __init__():
    self.owner = msg.sender


@external
def listReserve(asset: address, aToken: address, liquidityRate: uint128):
    """@notice List an asset with its aToken and yearly supply rate (a ray); owner only."""
    assert msg.sender == self.owner, "Quorum pool: only the owner"
    assert self.reserves[asset].aTokenAddress == empty(address), "Quorum pool: reserve already listed"
    assert aToken != empty(address), "Quorum pool: no aToken"
    self.reserves[asset] = Reserve(
        liquidityIndex=convert(RAY, uint128),
        currentLiquidityRate=liquidityRate,
        lastUpdateTimestamp=convert(block.timestamp, uint40),
        id=convert(len(self.reserves_list), uint16),
        aTokenAddress=aToken,
    )
    self.reserves_list.append(asset)


@external
def setLiquidityRate(asset: address, liquidityRate: uint128):
    """@notice Change a reserve's yearly supply rate (a ray), accruing at the old one first."""
    assert msg.sender == self.owner, "Quorum pool: only the owner"
    self._update_state(asset)
    self.reserves[asset].currentLiquidityRate = liquidityRate
    self._log_update(asset)


@external
def supply(asset: address, amount: uint256, onBehalfOf: address, referralCode: uint16):
    assert amount != 0, "Quorum pool: INVALID_AMOUNT"
    index: uint256 = self._update_state(asset)
    a_token: address = self.reserves[asset].aTokenAddress
    ok: bool = extcall IERC20(asset).transferFrom(msg.sender, a_token, amount, default_return_value=True)
    assert ok, "Quorum pool: TRANSFER_FROM_FAILED"
    extcall IAToken(a_token).mint(msg.sender, onBehalfOf, amount, index)
    self._log_update(asset)
    log Supply(reserve=asset, user=msg.sender, onBehalfOf=onBehalfOf, amount=amount, referralCode=referralCode)


@external
def withdraw(asset: address, amount: uint256, to: address) -> uint256:
    """@notice Withdraw `amount` (max_value(uint256): everything) of `asset` to `to`."""
    index: uint256 = self._update_state(asset)
    a_token: address = self.reserves[asset].aTokenAddress
    balance: uint256 = self._ray_mul(staticcall IAToken(a_token).scaledBalanceOf(msg.sender), index)
    amount_to_withdraw: uint256 = amount
    if amount == max_value(uint256):
        amount_to_withdraw = balance
    assert amount_to_withdraw != 0, "Quorum pool: INVALID_AMOUNT"
    assert amount_to_withdraw <= balance, "Quorum pool: NOT_ENOUGH_AVAILABLE_USER_BALANCE"
    extcall IAToken(a_token).burn(msg.sender, to, amount_to_withdraw, index)
    self._log_update(asset)
    log Withdraw(reserve=asset, user=msg.sender, to=to, amount=amount_to_withdraw)
    return amount_to_withdraw


@view
@external
def getReserveData(asset: address) -> ReserveDataLegacy:
    reserve: Reserve = self.reserves[asset]
    return ReserveDataLegacy(
        configuration=ReserveConfigurationMap(data=0),
        liquidityIndex=reserve.liquidityIndex,
        currentLiquidityRate=reserve.currentLiquidityRate,
        variableBorrowIndex=convert(RAY, uint128),
        currentVariableBorrowRate=0,
        currentStableBorrowRate=0,
        lastUpdateTimestamp=reserve.lastUpdateTimestamp,
        id=reserve.id,
        aTokenAddress=reserve.aTokenAddress,
        stableDebtTokenAddress=empty(address),
        variableDebtTokenAddress=empty(address),
        interestRateStrategyAddress=empty(address),
        accruedToTreasury=0,
        unbacked=0,
        isolationModeTotalDebt=0,
    )


@view
@external
def getReserveNormalizedIncome(asset: address) -> uint256:
    return self._normalized_income(asset)


@view
@external
def getReservesList() -> DynArray[address, MAX_RESERVES]:
    return self.reserves_list


@view
@internal
def _normalized_income(asset: address) -> uint256:
    reserve: Reserve = self.reserves[asset]
    assert reserve.aTokenAddress != empty(address), "Quorum pool: reserve not listed"
    index: uint256 = convert(reserve.liquidityIndex, uint256)
    last: uint256 = convert(reserve.lastUpdateTimestamp, uint256)
    if last == block.timestamp:
        return index
    rate: uint256 = convert(reserve.currentLiquidityRate, uint256)
    linear: uint256 = RAY + rate * (block.timestamp - last) // SECONDS_PER_YEAR
    return self._ray_mul(linear, index)


@internal
def _update_state(asset: address) -> uint256:
    index: uint256 = self._normalized_income(asset)
    self.reserves[asset].liquidityIndex = convert(index, uint128)
    self.reserves[asset].lastUpdateTimestamp = convert(block.timestamp, uint40)
    return index


@internal
def _log_update(asset: address):
    reserve: Reserve = self.reserves[asset]
    log ReserveDataUpdated(
        reserve=asset,
        liquidityRate=convert(reserve.currentLiquidityRate, uint256),
        stableBorrowRate=0,
        variableBorrowRate=0,
        liquidityIndex=convert(reserve.liquidityIndex, uint256),
        variableBorrowIndex=RAY,
    )


@pure
@internal
def _ray_mul(a: uint256, b: uint256) -> uint256:
    return (a * b + HALF_RAY) // RAY
