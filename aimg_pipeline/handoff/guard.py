"""The hand-off guard (issue 18): may epoch e's published root go on chain, and how much
must the distributor receive first? Pure logic over what the chain answered.

Merkl's dispute bot flags a root whose accounts went down or fell below what they already
claimed; this guard blocks instead, before the treasury signs anything:

- **root**: the distributor's current root must be one we published for an earlier epoch,
  or none (zero). Its own root already set is fine (the guard ran again); a root of a later
  epoch means the hand-off moved past this epoch (a backfill): nothing is to be sent for it.
  Any other root was set by someone else, and blocks. *Decision (the issue asks for "the
  previous epoch's root"):* any earlier published root passes, since cumulative amounts let
  a treasury that skipped epochs set the newest root directly.
- **claims**: for every account of the new claims, ``claimed(account)`` on chain must not
  exceed its new cumulative amount: such an account can never be made whole.
- **funding**: the distributor must hold the new total minus everything claimed so far;
  the shortfall is the top-up, and ``max_top_up`` (optional) caps it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

ZERO_ROOT = "0x" + "00" * 32

PENDING, ALREADY_SET, SUPERSEDED, FOREIGN = "pending", "already set", "superseded", "foreign"


@dataclass(frozen=True)
class Guard:
    """What the guard found for one epoch; ``problems`` is empty when the hand-off may go."""

    epoch: int
    root: str                 # the epoch's published root
    root_on_chain: str        # the distributor's root when the guard read it
    block: int                # the (final) block it read
    state: str                # PENDING, ALREADY_SET, SUPERSEDED or FOREIGN
    accounts: int             # claims of the epoch
    total: int                # their cumulative total
    claimed_accounts: int     # of them, accounts that claimed something on chain
    claimed_total: int        # and what they claimed
    balance: int              # the distributor's token balance
    max_top_up: int | None
    overclaimed: list[tuple[str, int, int]] = field(default_factory=list)
    """(account, claimed on chain, new cumulative amount) where claimed > cumulative."""
    superseded_by: int | None = None

    @property
    def needed(self) -> int:
        """What the distributor must hold for every claim of the epoch to succeed."""
        return self.total - self.claimed_total

    @property
    def top_up(self) -> int:
        """The transfer to the distributor that hand-off needs (0 when it holds enough)."""
        return max(0, self.needed - self.balance) if self.state != SUPERSEDED else 0

    @property
    def root_after(self) -> str:
        """The root on chain once the hand-off's transaction is executed."""
        return self.root if self.state in (PENDING, ALREADY_SET) else self.root_on_chain

    @property
    def problems(self) -> dict[str, str]:
        """Check name -> why it blocks, for each blocking check that fails."""
        out: dict[str, str] = {}
        if self.state == FOREIGN:
            out["root_on_chain_is_published"] = (
                f"the distributor's root {self.root_on_chain} (block {self.block}) is no root "
                f"published for an epoch up to {self.epoch}: someone set a root we did not "
                "publish")
        if self.overclaimed and self.state != SUPERSEDED:
            account, claimed, cumulative = self.overclaimed[0]
            out["no_overclaimed_accounts"] = (
                f"{len(self.overclaimed)} accounts already claimed more than their cumulative "
                f"amount of epoch {self.epoch} (first: {account} claimed {claimed} wei, "
                f"cumulative {cumulative} wei)")
        if self.max_top_up is not None and self.top_up > self.max_top_up:
            out["top_up_within_limit"] = (
                f"epoch {self.epoch} needs a top-up of {self.top_up} wei (needed "
                f"{self.needed}, the distributor holds {self.balance}), above max_top_up "
                f"{self.max_top_up} wei")
        return out

    def summary(self) -> dict[str, object]:
        """The guard as JSON (amounts as decimal strings), for the hand-off folder."""
        return {
            "epoch": self.epoch, "block": self.block, "state": self.state,
            "superseded_by": self.superseded_by, "root": self.root,
            "root_on_chain_before": self.root_on_chain, "root_on_chain_after": self.root_after,
            "accounts": self.accounts, "total": str(self.total),
            "claimed_accounts": self.claimed_accounts, "claimed_total": str(self.claimed_total),
            "balance": str(self.balance), "needed": str(self.needed), "top_up": str(self.top_up),
            "max_top_up": None if self.max_top_up is None else str(self.max_top_up),
            "overclaimed": [[a, str(c), str(v)] for a, c, v in self.overclaimed[:20]],
            "problems": self.problems,
        }


def root_state(epoch: int, roots: dict[int, str], root_on_chain: str) -> tuple[str, int | None]:
    """Where the chain's root stands against the published ``roots`` (epoch -> root):
    (state, the later epoch whose root it is when SUPERSEDED)."""
    on_chain = root_on_chain.lower()
    if on_chain == roots[epoch].lower():
        return ALREADY_SET, None
    if on_chain == ZERO_ROOT or any(r.lower() == on_chain for e, r in roots.items()
                                    if e < epoch):
        return PENDING, None
    later = [e for e, r in roots.items() if e > epoch and r.lower() == on_chain]
    return (SUPERSEDED, later[0]) if later else (FOREIGN, None)


def assess(epoch: int, roots: dict[int, str], root_on_chain: str, block: int,
           claims: list[tuple[str, int]], claimed: list[int], balance: int,
           max_top_up: int | None) -> Guard:
    """The guard of ``epoch`` from its ``claims`` (account, cumulative amount), what each
    account has ``claimed`` on chain (same order), the distributor's ``balance`` and root."""
    if len(claims) != len(claimed):
        raise ValueError(f"{len(claims)} claims but {len(claimed)} claimed amounts")
    state, later = root_state(epoch, roots, root_on_chain)
    overclaimed = [(account, done, cumulative) for (account, cumulative), done
                   in zip(claims, claimed, strict=True) if done > cumulative]
    return Guard(epoch=epoch, root=roots[epoch], root_on_chain=root_on_chain, block=block,
                 state=state, accounts=len(claims), total=sum(c for _, c in claims),
                 claimed_accounts=sum(1 for c in claimed if c), claimed_total=sum(claimed),
                 balance=balance, max_top_up=max_top_up, overclaimed=overclaimed,
                 superseded_by=later)
