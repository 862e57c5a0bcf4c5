# pragma version 0.4.3
"""
@title Demo contribution registry
@notice The owner (the curation process) records accepted datasets, models and
        algorithms. On purpose it validates neither `kind` nor `agent`, and
        `accept_with_id` can re-use an id: real registries get upgraded and mis-operated,
        and the pipeline must quarantine such records instead of trusting the contract.
"""

event ContributionAccepted:
    contributionId: indexed(uint256)
    agent: indexed(address)
    contributor: indexed(address)
    kind: uint8
    score: uint256

owner: public(address)
next_id: public(uint256)


@deploy
def __init__():
    self.owner = msg.sender
    self.next_id = 1


@external
def accept(agent: address, contributor: address, kind: uint8, score: uint256) -> uint256:
    """Record an accepted contribution under the next auto-incremented id."""
    assert msg.sender == self.owner, "only owner"
    contribution_id: uint256 = self.next_id
    self.next_id = contribution_id + 1
    log ContributionAccepted(
        contributionId=contribution_id, agent=agent, contributor=contributor, kind=kind, score=score
    )
    return contribution_id


@external
def accept_with_id(
    contribution_id: uint256, agent: address, contributor: address, kind: uint8, score: uint256
):
    """Record a contribution under an explicit id (may duplicate one: demo of bad data)."""
    assert msg.sender == self.owner, "only owner"
    log ContributionAccepted(
        contributionId=contribution_id, agent=agent, contributor=contributor, kind=kind, score=score
    )
