// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {Ownable} from "@openzeppelin/contracts/access/Ownable.sol";

/// The contribution registry, deliberately naive: the owner emits whatever it is told, with
/// no validation and no deduplication, so the pipeline has to cope with bad entries
/// (unknown kinds, unregistered agents, re-used contribution ids).
contract ContributionRegistry is Ownable {
    event ContributionAccepted(
        uint256 indexed contributionId,
        address indexed agent,
        address indexed contributor,
        uint8 kind,
        uint256 score
    );

    constructor() Ownable(msg.sender) {}

    function accept(uint256 contributionId, address agent, address contributor, uint8 kind,
        uint256 score) external onlyOwner
    {
        emit ContributionAccepted(contributionId, agent, contributor, kind, score);
    }
}
