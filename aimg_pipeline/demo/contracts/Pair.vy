# pragma version 0.4.3
"""
@title Demo Uniswap-V2-style pair with its own ERC-20 LP token
@notice Emits exactly Uniswap V2's Mint / Burn / Swap / Sync plus the LP `Transfer`.
        Like Uniswap V2, the first mint locks MINIMUM_LIQUIDITY (1000) LP tokens by
        minting them to the zero address, so the demo data has the same shape as mainnet
        (the pipeline must exclude the zero address).
        `mint`, `burn`, `swap` and `sync` follow the V2 core interface (tokens are sent
        to the pair first). The `add_liquidity`, `remove_liquidity` and `swap_exact_in`
        helpers play the router's role in one transaction so the demo needs fewer
        transactions; they emit the same events the core functions do.
"""

interface IERC20:
    def balanceOf(account: address) -> uint256: view
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

event Mint:
    sender: indexed(address)
    amount0: uint256
    amount1: uint256

event Burn:
    sender: indexed(address)
    amount0: uint256
    amount1: uint256
    to: indexed(address)

event Swap:
    sender: indexed(address)
    amount0In: uint256
    amount1In: uint256
    amount0Out: uint256
    amount1Out: uint256
    to: indexed(address)

event Sync:
    reserve0: uint112
    reserve1: uint112

MINIMUM_LIQUIDITY: public(constant(uint256)) = 1000

token0: public(address)
token1: public(address)
reserve0: public(uint112)
reserve1: public(uint112)
name: public(String[40])
symbol: public(String[20])
decimals: public(constant(uint8)) = 18
totalSupply: public(uint256)
balanceOf: public(HashMap[address, uint256])
allowance: public(HashMap[address, HashMap[address, uint256]])


@deploy
def __init__(_token0: address, _token1: address, _name: String[40], _symbol: String[20]):
    assert _token0 != _token1, "identical tokens"
    self.token0 = _token0
    self.token1 = _token1
    self.name = _name
    self.symbol = _symbol


@internal
def _mint_lp(receiver: address, amount: uint256):
    self.totalSupply += amount
    self.balanceOf[receiver] += amount
    log Transfer(sender=empty(address), receiver=receiver, value=amount)


@internal
def _burn_lp(owner: address, amount: uint256):
    self.balanceOf[owner] -= amount
    self.totalSupply -= amount
    log Transfer(sender=owner, receiver=empty(address), value=amount)


@internal
def _transfer(sender: address, receiver: address, amount: uint256):
    assert receiver != empty(address), "transfer to zero address"
    self.balanceOf[sender] -= amount
    self.balanceOf[receiver] += amount
    log Transfer(sender=sender, receiver=receiver, value=amount)


@internal
def _update(balance0: uint256, balance1: uint256):
    assert balance0 <= convert(max_value(uint112), uint256), "overflow"
    assert balance1 <= convert(max_value(uint112), uint256), "overflow"
    self.reserve0 = convert(balance0, uint112)
    self.reserve1 = convert(balance1, uint112)
    log Sync(reserve0=self.reserve0, reserve1=self.reserve1)


@internal
def _mint(to: address) -> uint256:
    r0: uint256 = convert(self.reserve0, uint256)
    r1: uint256 = convert(self.reserve1, uint256)
    balance0: uint256 = staticcall IERC20(self.token0).balanceOf(self)
    balance1: uint256 = staticcall IERC20(self.token1).balanceOf(self)
    amount0: uint256 = balance0 - r0
    amount1: uint256 = balance1 - r1
    supply: uint256 = self.totalSupply
    liquidity: uint256 = 0
    if supply == 0:
        liquidity = isqrt(amount0 * amount1) - MINIMUM_LIQUIDITY
        self._mint_lp(empty(address), MINIMUM_LIQUIDITY)
    else:
        liquidity = min(amount0 * supply // r0, amount1 * supply // r1)
    assert liquidity > 0, "insufficient liquidity minted"
    self._mint_lp(to, liquidity)
    self._update(balance0, balance1)
    log Mint(sender=msg.sender, amount0=amount0, amount1=amount1)
    return liquidity


@internal
def _burn(to: address) -> (uint256, uint256):
    balance0: uint256 = staticcall IERC20(self.token0).balanceOf(self)
    balance1: uint256 = staticcall IERC20(self.token1).balanceOf(self)
    liquidity: uint256 = self.balanceOf[self]
    supply: uint256 = self.totalSupply
    amount0: uint256 = liquidity * balance0 // supply
    amount1: uint256 = liquidity * balance1 // supply
    assert amount0 > 0 and amount1 > 0, "insufficient liquidity burned"
    self._burn_lp(self, liquidity)
    assert extcall IERC20(self.token0).transfer(to, amount0)
    assert extcall IERC20(self.token1).transfer(to, amount1)
    self._update(balance0 - amount0, balance1 - amount1)
    log Burn(sender=msg.sender, amount0=amount0, amount1=amount1, to=to)
    return (amount0, amount1)


@internal
def _swap(amount0Out: uint256, amount1Out: uint256, to: address):
    assert amount0Out > 0 or amount1Out > 0, "insufficient output amount"
    r0: uint256 = convert(self.reserve0, uint256)
    r1: uint256 = convert(self.reserve1, uint256)
    assert amount0Out < r0 and amount1Out < r1, "insufficient liquidity"
    if amount0Out > 0:
        assert extcall IERC20(self.token0).transfer(to, amount0Out)
    if amount1Out > 0:
        assert extcall IERC20(self.token1).transfer(to, amount1Out)
    balance0: uint256 = staticcall IERC20(self.token0).balanceOf(self)
    balance1: uint256 = staticcall IERC20(self.token1).balanceOf(self)
    amount0In: uint256 = 0
    amount1In: uint256 = 0
    if balance0 > r0 - amount0Out:
        amount0In = balance0 - (r0 - amount0Out)
    if balance1 > r1 - amount1Out:
        amount1In = balance1 - (r1 - amount1Out)
    assert amount0In > 0 or amount1In > 0, "insufficient input amount"
    # constant-product check with the 0.3% fee, as in Uniswap V2
    adjusted0: uint256 = balance0 * 1000 - amount0In * 3
    adjusted1: uint256 = balance1 * 1000 - amount1In * 3
    assert adjusted0 * adjusted1 >= r0 * r1 * 1000 * 1000, "K"
    self._update(balance0, balance1)
    log Swap(
        sender=msg.sender,
        amount0In=amount0In,
        amount1In=amount1In,
        amount0Out=amount0Out,
        amount1Out=amount1Out,
        to=to,
    )


# ---- Uniswap V2 core interface ----

@external
def mint(to: address) -> uint256:
    return self._mint(to)


@external
def burn(to: address) -> (uint256, uint256):
    return self._burn(to)


@external
def swap(amount0Out: uint256, amount1Out: uint256, to: address):
    self._swap(amount0Out, amount1Out, to)


@external
def sync():
    self._update(
        staticcall IERC20(self.token0).balanceOf(self),
        staticcall IERC20(self.token1).balanceOf(self),
    )


@view
@external
def getReserves() -> (uint112, uint112, uint32):
    return (self.reserve0, self.reserve1, convert(block.timestamp % 2**32, uint32))


# ---- LP token (ERC-20) ----

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


# ---- router-style helpers (one transaction each) ----

@external
def add_liquidity(amount0: uint256, amount1: uint256, to: address) -> uint256:
    """Pull both tokens from the caller (needs approvals) and mint LP to `to`."""
    assert extcall IERC20(self.token0).transferFrom(msg.sender, self, amount0)
    assert extcall IERC20(self.token1).transferFrom(msg.sender, self, amount1)
    return self._mint(to)


@external
def remove_liquidity(liquidity: uint256, to: address) -> (uint256, uint256):
    """Move `liquidity` LP of the caller to the pair (a Transfer, as a router would) and burn."""
    self._transfer(msg.sender, self, liquidity)
    return self._burn(to)


@external
def swap_exact_in(amount_in: uint256, zero_for_one: bool, to: address) -> uint256:
    """Pull `amount_in` of one token and send the V2 constant-product output of the other."""
    r0: uint256 = convert(self.reserve0, uint256)
    r1: uint256 = convert(self.reserve1, uint256)
    r_in: uint256 = r1
    r_out: uint256 = r0
    if zero_for_one:
        r_in = r0
        r_out = r1
        assert extcall IERC20(self.token0).transferFrom(msg.sender, self, amount_in)
    else:
        assert extcall IERC20(self.token1).transferFrom(msg.sender, self, amount_in)
    with_fee: uint256 = amount_in * 997
    out: uint256 = with_fee * r_out // (r_in * 1000 + with_fee)
    if zero_for_one:
        self._swap(0, out, to)
    else:
        self._swap(out, 0, to)
    return out
