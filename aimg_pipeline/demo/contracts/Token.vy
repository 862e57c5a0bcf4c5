# pragma version 0.4.3
"""
@title Demo ERC-20 token ($AIMG and the agent tokens)
@notice Plain ERC-20 with an owner-only mint. `mint_batch` exists so that the demo
        scenario can fund 100+ accounts in one transaction instead of one per account.
"""

event Transfer:
    sender: indexed(address)
    receiver: indexed(address)
    value: uint256

event Approval:
    owner: indexed(address)
    spender: indexed(address)
    value: uint256

name: public(String[32])
symbol: public(String[16])
decimals: public(constant(uint8)) = 18
totalSupply: public(uint256)
balanceOf: public(HashMap[address, uint256])
allowance: public(HashMap[address, HashMap[address, uint256]])
owner: public(address)


@deploy
def __init__(_name: String[32], _symbol: String[16]):
    self.name = _name
    self.symbol = _symbol
    self.owner = msg.sender


@internal
def _transfer(sender: address, receiver: address, amount: uint256):
    assert receiver != empty(address), "transfer to zero address"
    self.balanceOf[sender] -= amount
    self.balanceOf[receiver] += amount
    log Transfer(sender=sender, receiver=receiver, value=amount)


@internal
def _mint(receiver: address, amount: uint256):
    assert receiver != empty(address), "mint to zero address"
    self.totalSupply += amount
    self.balanceOf[receiver] += amount
    log Transfer(sender=empty(address), receiver=receiver, value=amount)


@external
def transfer(receiver: address, amount: uint256) -> bool:
    self._transfer(msg.sender, receiver, amount)
    return True


@external
def transferFrom(sender: address, receiver: address, amount: uint256) -> bool:
    if msg.sender != sender:
        allowed: uint256 = self.allowance[sender][msg.sender]
        if allowed != max_value(uint256):
            self.allowance[sender][msg.sender] = allowed - amount
    self._transfer(sender, receiver, amount)
    return True


@external
def approve(spender: address, amount: uint256) -> bool:
    self.allowance[msg.sender][spender] = amount
    log Approval(owner=msg.sender, spender=spender, value=amount)
    return True


@external
def mint(receiver: address, amount: uint256):
    assert msg.sender == self.owner, "only owner"
    self._mint(receiver, amount)


@external
def mint_batch(receivers: DynArray[address, 256], amounts: DynArray[uint256, 256]):
    assert msg.sender == self.owner, "only owner"
    assert len(receivers) == len(amounts), "length mismatch"
    for i: uint256 in range(len(receivers), bound=256):
        self._mint(receivers[i], amounts[i])
