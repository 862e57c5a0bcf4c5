"""The chain events the pipeline reads (SPEC section 2), as canonical signatures.

topic0 of an event is keccak256 of its canonical signature; computing it here, once, is all
the ABI knowledge decoding needs (the SQL decoders read the fixed 32-byte words).
"""

from __future__ import annotations

from eth_utils import keccak

SIGNATURES: dict[str, str] = {
    "Transfer": "Transfer(address,address,uint256)",
    "Mint": "Mint(address,uint256,uint256)",
    "Burn": "Burn(address,uint256,uint256,address)",
    "Swap": "Swap(address,uint256,uint256,uint256,uint256,address)",
    "Sync": "Sync(uint112,uint112)",
    "VoteCast": "VoteCast(address,uint256,uint8,uint256,string)",
    "VoteCastWithParams": "VoteCastWithParams(address,uint256,uint8,uint256,string,bytes)",
    "ContributionAccepted": "ContributionAccepted(uint256,address,address,uint8,uint256)",
}

TOPIC0: dict[str, str] = {
    name: "0x" + keccak(text=signature).hex() for name, signature in SIGNATURES.items()
}
