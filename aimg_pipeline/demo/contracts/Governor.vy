# pragma version 0.4.3
"""
@title Demo OpenZeppelin-Governor-style SubDAO (one per agent)
@notice Emits exactly OpenZeppelin Governor's VoteCast / VoteCastWithParams.
        Simplifications: a proposal id is keccak256(description) (OZ hashes targets,
        values and calldatas too); there is no voting period, quorum or execution, and the
        vote weight is the voter's agent-token balance at vote time (OZ reads a
        checkpointed snapshot). One vote per voter per proposal, as in OZ.
"""

interface IERC20:
    def balanceOf(account: address) -> uint256: view

event ProposalCreated:
    proposalId: uint256
    proposer: indexed(address)
    description: String[256]

event VoteCast:
    voter: indexed(address)
    proposalId: uint256
    support: uint8
    weight: uint256
    reason: String[256]

event VoteCastWithParams:
    voter: indexed(address)
    proposalId: uint256
    support: uint8
    weight: uint256
    reason: String[256]
    params: Bytes[256]

token: public(address)
name: public(String[40])
proposal_exists: public(HashMap[uint256, bool])
proposer_of: public(HashMap[uint256, address])
hasVoted: public(HashMap[uint256, HashMap[address, bool]])


@deploy
def __init__(_token: address, _name: String[40]):
    self.token = _token
    self.name = _name


@internal
def _count_vote(proposalId: uint256, support: uint8) -> uint256:
    assert self.proposal_exists[proposalId], "unknown proposal"
    assert support <= 2, "invalid support"
    assert not self.hasVoted[proposalId][msg.sender], "already voted"
    self.hasVoted[proposalId][msg.sender] = True
    return staticcall IERC20(self.token).balanceOf(msg.sender)


@view
@external
def hashProposal(description: String[256]) -> uint256:
    return convert(keccak256(description), uint256)


@external
def propose(description: String[256]) -> uint256:
    proposalId: uint256 = convert(keccak256(description), uint256)
    assert not self.proposal_exists[proposalId], "proposal exists"
    self.proposal_exists[proposalId] = True
    self.proposer_of[proposalId] = msg.sender
    log ProposalCreated(proposalId=proposalId, proposer=msg.sender, description=description)
    return proposalId


@external
def castVote(proposalId: uint256, support: uint8) -> uint256:
    weight: uint256 = self._count_vote(proposalId, support)
    log VoteCast(voter=msg.sender, proposalId=proposalId, support=support, weight=weight, reason="")
    return weight


@external
def castVoteWithReason(proposalId: uint256, support: uint8, reason: String[256]) -> uint256:
    weight: uint256 = self._count_vote(proposalId, support)
    log VoteCast(
        voter=msg.sender, proposalId=proposalId, support=support, weight=weight, reason=reason
    )
    return weight


@external
def castVoteWithReasonAndParams(
    proposalId: uint256, support: uint8, reason: String[256], params: Bytes[256]
) -> uint256:
    weight: uint256 = self._count_vote(proposalId, support)
    if len(params) == 0:
        log VoteCast(
            voter=msg.sender, proposalId=proposalId, support=support, weight=weight, reason=reason
        )
    else:
        log VoteCastWithParams(
            voter=msg.sender,
            proposalId=proposalId,
            support=support,
            weight=weight,
            reason=reason,
            params=params,
        )
    return weight
