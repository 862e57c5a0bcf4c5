# pragma version 0.4.3
"""
@title Demo cumulative Merkle distributor
@notice Verifies OpenZeppelin StandardMerkleTree leaves for ["address", "uint256"]:
        leaf = keccak256(bytes.concat(keccak256(abi.encode(account, amount)))), with
        OpenZeppelin MerkleProof semantics (each pair hashed in sorted order). Amounts are
        cumulative, so one root per epoch suffices and a claim pays the difference to what
        the account already claimed.
"""

interface IERC20:
    def transfer(receiver: address, amount: uint256) -> bool: nonpayable

event Claimed:
    account: indexed(address)
    amount: uint256

event RootUpdated:
    root: bytes32

token: public(address)
owner: public(address)
merkleRoot: public(bytes32)
claimed: public(HashMap[address, uint256])


@deploy
def __init__(_token: address):
    self.token = _token
    self.owner = msg.sender


@external
def setRoot(root: bytes32):
    assert msg.sender == self.owner, "only owner"
    self.merkleRoot = root
    log RootUpdated(root=root)


@pure
@internal
def _hash_pair(a: bytes32, b: bytes32) -> bytes32:
    if convert(a, uint256) < convert(b, uint256):
        return keccak256(concat(a, b))
    return keccak256(concat(b, a))


@view
@internal
def _verify(account: address, cumulative_amount: uint256, proof: DynArray[bytes32, 64]) -> bool:
    computed: bytes32 = keccak256(keccak256(abi_encode(account, cumulative_amount)))
    for node: bytes32 in proof:
        computed = self._hash_pair(computed, node)
    return computed == self.merkleRoot


@view
@external
def verify(account: address, cumulative_amount: uint256, proof: DynArray[bytes32, 64]) -> bool:
    return self._verify(account, cumulative_amount, proof)


@external
def claim(account: address, cumulative_amount: uint256, proof: DynArray[bytes32, 64]):
    """Pay `account` its cumulative amount minus what it already claimed."""
    assert self._verify(account, cumulative_amount, proof), "invalid proof"
    already: uint256 = self.claimed[account]
    assert cumulative_amount > already, "nothing to claim"
    self.claimed[account] = cumulative_amount
    assert extcall IERC20(self.token).transfer(account, cumulative_amount - already)
    log Claimed(account=account, amount=cumulative_amount - already)
