# pragma version 0.4.3
"""
@title Demo ERC-4626-style staking vault
@notice Shares are an ERC-20; the pipeline only reads their `Transfer` events
        (mint = from the zero address, burn = to the zero address). Shares are issued
        1:1 against the staked asset because the demo never accrues yield into the vault,
        which keeps share balances equal to staked amounts and easy to eyeball.
"""

interface IERC20:
    def transfer(receiver: address, amount: uint256) -> bool: nonpayable
    def transferFrom(sender: address, receiver: address, amount: uint256) -> bool: nonpayable

event Transfer:
    sender: indexed(address)
    receiver: indexed(address)
    value: uint256

event Approval:
    owner: indexed(address)
    spender: indexed(address)
    value: uint256

event Deposit:
    sender: indexed(address)
    owner: indexed(address)
    assets: uint256
    shares: uint256

event Withdraw:
    sender: indexed(address)
    receiver: indexed(address)
    owner: indexed(address)
    assets: uint256
    shares: uint256

asset: public(address)
name: public(String[40])
symbol: public(String[20])
decimals: public(constant(uint8)) = 18
totalSupply: public(uint256)
balanceOf: public(HashMap[address, uint256])
allowance: public(HashMap[address, HashMap[address, uint256]])


@deploy
def __init__(_asset: address, _name: String[40], _symbol: String[20]):
    self.asset = _asset
    self.name = _name
    self.symbol = _symbol


@internal
def _transfer(sender: address, receiver: address, amount: uint256):
    assert receiver != empty(address), "transfer to zero address"
    self.balanceOf[sender] -= amount
    self.balanceOf[receiver] += amount
    log Transfer(sender=sender, receiver=receiver, value=amount)


@internal
def _spend_allowance(owner: address, spender: address, amount: uint256):
    if owner != spender:
        allowed: uint256 = self.allowance[owner][spender]
        if allowed != max_value(uint256):
            self.allowance[owner][spender] = allowed - amount


@view
@external
def totalAssets() -> uint256:
    return self.totalSupply


@view
@external
def convertToShares(assets: uint256) -> uint256:
    return assets


@view
@external
def convertToAssets(shares: uint256) -> uint256:
    return shares


@external
def transfer(receiver: address, amount: uint256) -> bool:
    self._transfer(msg.sender, receiver, amount)
    return True


@external
def transferFrom(sender: address, receiver: address, amount: uint256) -> bool:
    self._spend_allowance(sender, msg.sender, amount)
    self._transfer(sender, receiver, amount)
    return True


@external
def approve(spender: address, amount: uint256) -> bool:
    self.allowance[msg.sender][spender] = amount
    log Approval(owner=msg.sender, spender=spender, value=amount)
    return True


@external
def deposit(assets: uint256, receiver: address) -> uint256:
    """Pull `assets` of the asset from the caller and mint the same number of shares."""
    assert assets > 0, "zero deposit"
    assert receiver != empty(address), "mint to zero address"
    assert extcall IERC20(self.asset).transferFrom(msg.sender, self, assets)
    self.totalSupply += assets
    self.balanceOf[receiver] += assets
    log Transfer(sender=empty(address), receiver=receiver, value=assets)
    log Deposit(sender=msg.sender, owner=receiver, assets=assets, shares=assets)
    return assets


@external
def redeem(shares: uint256, receiver: address, owner: address) -> uint256:
    """Burn `shares` of `owner` and pay the same amount of the asset to `receiver`."""
    assert shares > 0, "zero redeem"
    self._spend_allowance(owner, msg.sender, shares)
    self.balanceOf[owner] -= shares
    self.totalSupply -= shares
    log Transfer(sender=owner, receiver=empty(address), value=shares)
    assert extcall IERC20(self.asset).transfer(receiver, shares)
    log Withdraw(sender=msg.sender, receiver=receiver, owner=owner, assets=shares, shares=shares)
    return shares
