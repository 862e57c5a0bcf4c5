// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {Ownable} from "@openzeppelin/contracts/access/Ownable.sol";
import {MerkleProof} from "@openzeppelin/contracts/utils/cryptography/MerkleProof.sol";

/// A plain cumulative Merkle distributor over OpenZeppelin's MerkleProof, written as a
/// treasury would without our code: leaves of OpenZeppelin's StandardMerkleTree (npm merkle-tree)
/// for ["address", "uint256"], one root for all epochs, a claim pays the difference to what
/// the account already claimed. The ABI the hand-off expects (docs/handoff.md).
contract CumulativeDistributor is Ownable {
    using SafeERC20 for IERC20;

    IERC20 public immutable token;
    bytes32 public merkleRoot;
    mapping(address => uint256) public claimed;

    event RootUpdated(bytes32 root);
    event Claimed(address indexed account, uint256 amount);

    constructor(IERC20 token_, address owner_) Ownable(owner_) {
        token = token_;
    }

    function setRoot(bytes32 root) external onlyOwner {
        merkleRoot = root;
        emit RootUpdated(root);
    }

    function claim(address account, uint256 cumulativeAmount, bytes32[] calldata proof) external {
        bytes32 leaf = keccak256(bytes.concat(keccak256(abi.encode(account, cumulativeAmount))));
        require(MerkleProof.verifyCalldata(proof, merkleRoot, leaf), "invalid proof");
        uint256 already = claimed[account];
        require(cumulativeAmount > already, "nothing to claim");
        claimed[account] = cumulativeAmount;
        token.safeTransfer(account, cumulativeAmount - already);
        emit Claimed(account, cumulativeAmount - already);
    }
}
