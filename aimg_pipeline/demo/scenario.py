"""Deterministic demo scenario: deploy AImagine's demo contracts and simulate 7 epochs.

Why: the demo and the end-to-end tests need realistic on-chain history (stakes, LP,
swaps, votes, contributions, bad data) that is byte-identical on every run, so the
published Merkle roots in the demo never change. All choices come from one
``random.Random(seed)`` and every block timestamp is set explicitly through
``evm_setNextBlockTimestamp``; nothing reads the wall clock.

The chain is driven only through JSON-RPC (web3 ``HTTPProvider``), so it works against
the embedded devchain (``aimg_pipeline.demo.devchain``) and, in principle, anvil.

Timeline (G = 1767225600 = 2026-01-01T00:00:00Z, one epoch = 86400 s):

* before G: deployment, token mints, approvals, opening stakes in every vault, the
  opening liquidity of participants in the atlas and nova pools (so epoch 0 has opening
  balances) and the deployer's protocol-owned liquidity in the orion and nova pools;
* epoch 0..6: stakes, partial and full unstakes, share and LP transfers, liquidity adds
  and removes, swaps (both directions on every pool), proposals and votes, contributions,
  spread over each day;
* epoch 0-1: the ``orion-aimg`` pool has no eligible holder (only the excluded deployer's
  liquidity; participants first add in epoch 2);
* epoch 2: one contribution with unknown kind 7;
* epoch 3: one contribution re-using an existing id (``accept_with_id``), and a block in
  which one account deposits, transfers shares and redeems (several changes, one block);
* epoch 4: policy v2 takes effect; late in the day every ``nova-aimg`` LP removes all
  liquidity, so in epoch 5 that pool has no eligible holders (only the excluded
  deployer's liquidity and the zero address's locked MINIMUM_LIQUIDITY); liquidity
  returns in epoch 6;
* epoch 5: nobody votes on orion's governor (its governance sub-pool is unallocated);
* a wrapper (issue 19): a Vault.vy instance whose asset is atlas's vault shares, so it holds
  atlas shares and issues its own token (wstATLAS). Its first depositor wraps before
  genesis, the second in epoch 1; the first unwraps part in epoch 4 and sends wrapper tokens
  to the second in epoch 5. The config pays the wrapper itself in epochs 0-3 (v1: the
  ``no_unredirected_contracts`` warning names it), its token's holders in epochs 4-5 (v2: a
  ``holders`` redirect) and its operator in epoch 6 (v3: a ``to`` redirect);
* finally one empty block at G + 7 * 86400 closes epoch 6.

One module, though over 500 lines: the scenario is one script, read top to bottom as the
demo's story (deploy, fund, play each epoch, write the config that describes what was
deployed); splitting it would scatter that story.
"""

from __future__ import annotations

import json
import pathlib
import random
from dataclasses import dataclass, field
from typing import Any

GENESIS = 1767225600
EPOCH_SECONDS = 86400
EPOCHS = 7
INITIAL_EMISSION = 10**24
TAIL_EMISSION = 10**23
DISTRIBUTOR_FUNDING = 10**27
POL_FUNDING = 10_000 * 10**18  # agent tokens the deployer mints itself for its liquidity
POL_SIZE = 1_000  # whole token0 of protocol-owned liquidity per seeded pool
AGENTS = ("atlas", "nova", "orion")
TOKEN = 10**18
GAS = 1_000_000
MAX_FEE = 50 * 10**9
ZERO_ADDRESS = "0x" + "00" * 20
TRANSFER_TOPIC = "0xddf252ad1be2c89b69c2b068fc378daa952ba7f163c4a11628f55a4df523b3ef"
SYNC_TOPIC = "0x1c411e9a96e071241c2f21f7726b17ae89e3cab4c78be50e062b03a9fffbbad1"

BUILD_DIR = pathlib.Path(__file__).resolve().parent / "build"

# account roles (indexes into eth_accounts); participants are everyone from PARTICIPANT_START
DEPLOYER = 0
TREASURY = 1
SUBDAO_TREASURIES = {"atlas": 2, "nova": 3, "orion": 4}
WRAPPER_OPERATOR = 5  # v3's `to` redirect pays the wrapper's share here
PARTICIPANT_START = 6


def load_artifact(name: str) -> dict[str, Any]:
    """ABI and bytecode of a compiled demo contract (no compiler needed at run time)."""
    return json.loads((BUILD_DIR / f"{name}.json").read_text())


@dataclass
class _Agent:
    name: str
    token: Any = None
    vault: Any = None
    governor: Any = None
    pair: Any = None
    treasury: str = ""
    proposals: list[int] = field(default_factory=list)


class _Driver:
    """Sends transactions, sets block times and keeps a local ledger of the demo's tokens.

    Transactions go out as one raw ``eth_sendTransaction`` each (web3's contract
    ``transact`` adds three ``eth_chainId`` and a block lookup per call, which tripled
    the scenario's run time). Balances and reserves are tracked from the receipts'
    ``Transfer`` and ``Sync`` logs, so the scenario needs almost no ``eth_call``.
    """

    def __init__(self, rpc_url: str, seed: int) -> None:
        from web3 import HTTPProvider, Web3

        self.w3 = Web3(HTTPProvider(rpc_url, request_kwargs={"timeout": 120}))
        self.rng = random.Random(seed)
        self.chain_id = int(self.rpc("eth_chainId", []), 16)
        self.accounts = [a.lower() for a in self.rpc("eth_accounts", [])]
        self.tx_count = 0
        self.last_ts = int(self.rpc("eth_getBlockByNumber", ["latest", False])["timestamp"], 16)
        self._armed = False  # the next block's timestamp was set explicitly
        self.approved: set[tuple[str, str, str]] = set()
        self.balances: dict[str, dict[str, int]] = {}  # token contract -> account -> balance
        self.reserves: dict[str, tuple[int, int]] = {}  # pair -> (reserve0, reserve1)
        self.contracts: set[str] = set()  # deployed here: holders, but never senders

    # -- plumbing -----------------------------------------------------------------------

    def rpc(self, method: str, params: list[Any]) -> Any:
        response = self.w3.provider.make_request(method, params)  # type: ignore[arg-type]
        if "error" in response:
            raise RuntimeError(f"{method} failed: {response['error']}")
        return response.get("result")

    def at(self, timestamp: int) -> None:
        """Make the next block carry ``timestamp`` (or the next free second after it)."""
        ts = max(timestamp, self.last_ts + 1)
        self.rpc("evm_setNextBlockTimestamp", [ts])
        self.last_ts = ts
        self._armed = True

    def _ingest(self, logs: list[dict[str, Any]]) -> None:
        for log in logs:
            topics = log["topics"]
            if topics and topics[0] == TRANSFER_TOPIC and len(topics) == 3:
                book = self.balances.setdefault(log["address"], {})
                value = int(log["data"], 16)
                sender, receiver = "0x" + topics[1][-40:], "0x" + topics[2][-40:]
                book[sender] = book.get(sender, 0) - value
                book[receiver] = book.get(receiver, 0) + value
            elif topics and topics[0] == SYNC_TOPIC:
                data = log["data"][2:]
                self.reserves[log["address"]] = (int(data[:64], 16), int(data[64:], 16))

    def send(self, call: Any, sender: str, gas: int = GAS, wait: bool = True) -> Any:
        """Send one contract call (or constructor) as a transaction; fail if it reverts."""
        tx: dict[str, Any] = {
            "from": sender,
            "gas": hex(gas),
            "maxFeePerGas": hex(MAX_FEE),
            "maxPriorityFeePerGas": "0x0",
        }
        if hasattr(call, "data_in_transaction"):  # a constructor
            tx["data"] = call.data_in_transaction
        else:
            tx["to"] = call.address.lower()
            tx["data"] = call._encode_transaction_data()
        tx_hash = self.rpc("eth_sendTransaction", [tx])
        self.tx_count += 1
        if not wait:
            return tx_hash
        if self._armed:
            self._armed = False
        else:
            self.last_ts += 1  # automine: the block takes the parent's timestamp + 1
        receipt = self.rpc("eth_getTransactionReceipt", [tx_hash])
        if receipt is None or int(receipt["status"], 16) != 1:
            label = getattr(call, "fn_name", "constructor")
            raise RuntimeError(f"transaction {tx_hash} failed ({label})")
        self._ingest(receipt["logs"])
        return receipt

    def deploy(self, name: str, *args: Any) -> Any:
        artifact = load_artifact(name)
        factory = self.w3.eth.contract(abi=artifact["abi"], bytecode=artifact["bytecode"])
        receipt = self.send(factory.constructor(*args), self.accounts[DEPLOYER], gas=6_000_000)
        self.contracts.add(receipt["contractAddress"].lower())
        return self.w3.eth.contract(address=_cs(receipt["contractAddress"]), abi=artifact["abi"])

    def balance(self, token: Any, account: str) -> int:
        return self.balances.get(token.address.lower(), {}).get(account, 0)

    def holders(self, token: Any) -> list[str]:
        book = self.balances.get(token.address.lower(), {})
        return sorted(a for a, v in book.items()
                      if v > 0 and a != ZERO_ADDRESS and a not in self.contracts)

    def approve(self, token: Any, owner: str, spender: Any) -> None:
        """Approve once per (token, owner, spender), lazily, as a wallet would."""
        key = (token.address.lower(), owner, spender.address.lower())
        if key not in self.approved:
            self.send(token.functions.approve(spender.address, 2**256 - 1), owner)
            self.approved.add(key)

    # -- actions ------------------------------------------------------------------------

    def stake(self, vault: Any, asset: Any, account: str, amount: int) -> None:
        self.approve(asset, account, vault)
        self.send(vault.functions.deposit(amount, _cs(account)), account)

    def unstake(self, vault: Any, account: str, shares: int) -> None:
        self.send(vault.functions.redeem(shares, _cs(account), _cs(account)), account)

    def add_liquidity(self, pair: Any, tokens: tuple[Any, Any], account: str, size: int) -> None:
        """Add liquidity worth ``size`` whole token0, matching the pool price if it has one."""
        r0, r1 = self.reserves.get(pair.address.lower(), (0, 0))
        amount0 = size * TOKEN
        amount1 = amount0 * r1 // r0 + 1 if r0 else amount0 // 2
        for token in tokens:
            self.approve(token, account, pair)
        self.send(pair.functions.add_liquidity(amount0, amount1, _cs(account)), account)

    def remove_liquidity(self, pair: Any, account: str, liquidity: int) -> None:
        self.send(pair.functions.remove_liquidity(liquidity, _cs(account)), account)

    def swap(self, pair: Any, tokens: tuple[Any, Any], account: str,
             zero_for_one: bool | None = None) -> None:
        if zero_for_one is None:
            zero_for_one = self.rng.random() < 0.5
        r0, r1 = self.reserves[pair.address.lower()]
        reserve_in = r0 if zero_for_one else r1
        amount_in = reserve_in * self.rng.randint(5, 80) // 10_000
        self.approve(tokens[0] if zero_for_one else tokens[1], account, pair)
        self.send(pair.functions.swap_exact_in(amount_in, zero_for_one, _cs(account)), account)


def _proposal_id(description: str) -> int:
    """Governor.hashProposal: keccak256 of the description, as uint256."""
    from eth_utils import keccak

    return int.from_bytes(keccak(description.encode()), "big")


def _cs(address: str) -> str:
    from web3 import Web3

    return Web3.to_checksum_address(address)


def run_scenario(rpc_url: str, config_path: pathlib.Path, seed: int = 7) -> dict[str, Any]:
    """Deploy the demo contracts, simulate epochs 0..6 and write the pipeline config TOML.

    Needs a fresh devchain (at least 106 funded, unlocked accounts, genesis before
    2026-01-01). Returns a summary: contract addresses, transaction count, last closed
    epoch, final block number.
    """
    d = _Driver(rpc_url, seed)
    rng = d.rng
    acc = d.accounts
    if len(acc) < PARTICIPANT_START + 100:
        raise ValueError(f"need at least {PARTICIPANT_START + 100} accounts, got {len(acc)}")
    if d.last_ts >= GENESIS - 3_600:
        raise ValueError("the chain's latest block is already past the demo genesis")
    deployer = acc[DEPLOYER]
    participants = acc[PARTICIPANT_START:]

    # ---- deployment (before genesis) -------------------------------------------------
    aimg = d.deploy("Token", "AImagine", "AIMG")
    aimg_vault = d.deploy("Vault", aimg.address, "Staked AIMG", "stAIMG")
    agents: dict[str, _Agent] = {}
    for name in AGENTS:
        agent = _Agent(name=name, treasury=acc[SUBDAO_TREASURIES[name]])
        agent.token = d.deploy("Token", name.capitalize(), name.upper())
        agent.vault = d.deploy("Vault", agent.token.address, f"Staked {name}", f"st{name.upper()}")
        t0, t1 = sorted((agent.token.address, aimg.address), key=lambda a: int(a, 16))
        agent.pair = d.deploy("Pair", t0, t1, f"{name}-aimg LP", f"{name.upper()}-LP")
        agent.governor = d.deploy("Governor", agent.token.address, f"{name} SubDAO")
        agents[name] = agent
    registry = d.deploy("ContributionRegistry")
    distributor = d.deploy("Distributor", aimg.address)
    atlas = agents["atlas"]
    wrapper = d.deploy("Vault", atlas.vault.address, "Wrapped stATLAS", "wstATLAS")

    def pair_tokens(agent: _Agent) -> tuple[Any, Any]:
        pair = sorted((aimg, agent.token), key=lambda c: int(c.address, 16))
        return (pair[0], pair[1])

    tokens_of = {name: pair_tokens(agent) for name, agent in agents.items()}

    # ---- funding: one mint_batch per token ---------------------------------------------
    holders = [deployer, *participants]
    amounts = [rng.randint(20_000, 200_000) * TOKEN for _ in holders]
    d.send(aimg.functions.mint_batch([_cs(a) for a in holders], amounts), deployer, 8_000_000)
    d.send(aimg.functions.mint(distributor.address, DISTRIBUTOR_FUNDING), deployer)
    for agent in agents.values():
        amounts = [rng.randint(10_000, 100_000) * TOKEN for _ in participants]
        d.send(
            agent.token.functions.mint_batch([_cs(a) for a in participants], amounts),
            deployer,
            8_000_000,
        )

    # ---- opening positions (before genesis) -------------------------------------------
    d.stake(aimg_vault, aimg, deployer, 5_000 * TOKEN)  # the deployer is excluded in config
    for account in rng.sample(participants, 45):
        d.stake(aimg_vault, aimg, account, rng.randint(100, 5_000) * TOKEN)
    for agent in agents.values():
        for account in rng.sample(participants, 12):
            d.stake(agent.vault, agent.token, account, rng.randint(100, 3_000) * TOKEN)
    for name in ("atlas", "nova"):  # no participant provides orion liquidity until epoch 2
        for account in rng.sample(participants, 5):
            d.add_liquidity(agents[name].pair, tokens_of[name], account, rng.randint(500, 3_000))
    # protocol-owned liquidity: the (excluded) deployer seeds orion and nova, so both trade
    # in every epoch even while no eligible LP holds them (orion 0-1, nova 5)
    for name in ("orion", "nova"):
        d.send(agents[name].token.functions.mint(_cs(deployer), POL_FUNDING), deployer)
        d.add_liquidity(agents[name].pair, tokens_of[name], deployer, POL_SIZE)
    # the wrapper's depositors (fixed amounts and times: the seeded choices stay as they were)
    first, second = participants[-1], participants[-2]

    def wrap(account: str, amount: int) -> None:
        d.stake(atlas.vault, atlas.token, account, amount)
        d.stake(wrapper, atlas.vault, account, amount)

    wrap(first, 6_000 * TOKEN)
    for name, agent in agents.items():  # the first proposals exist before genesis
        proposer = rng.choice(participants)
        d.send(agent.governor.functions.propose(f"{name}: proposal 0"), proposer)
        agent.proposals.append(_proposal_id(f"{name}: proposal 0"))

    vaults = [(aimg_vault, aimg)] + [(a.vault, a.token) for a in agents.values()]
    contribution_ids: list[int] = []
    counters = {"proposals": 3, "votes": 0, "contributions": 0}

    # ---- epochs ------------------------------------------------------------------------
    for epoch in range(EPOCHS):
        start = GENESIS + epoch * EPOCH_SECONDS
        actions: list[tuple[str, Any]] = []
        scheduled: list[tuple[int, str, Any]] = []

        def stake_action() -> None:
            vault, asset = rng.choice(vaults)
            d.stake(vault, asset, rng.choice(participants), rng.randint(50, 2_000) * TOKEN)

        def unstake_action(full: bool) -> None:
            vault, _ = rng.choice(vaults)
            account = rng.choice(d.holders(vault))
            held = d.balance(vault, account)
            d.unstake(vault, account, held if full else held * rng.randint(10, 70) // 100)

        def share_transfer_action() -> None:
            vault, _ = rng.choice(vaults)
            sender = rng.choice(d.holders(vault))
            receiver = rng.choice([p for p in participants if p != sender])
            amount = d.balance(vault, sender) * rng.randint(20, 100) // 100
            d.send(vault.functions.transfer(_cs(receiver), amount), sender)

        def participants_lp(name: str) -> list[str]:
            return [a for a in d.holders(agents[name].pair) if a != deployer]

        def live_pools() -> list[str]:
            """Pools in which participants hold liquidity (the random LP actions' pools)."""
            return [n for n in AGENTS if participants_lp(n)]

        def lp_add_action(name: str | None = None) -> None:
            name = name or rng.choice(live_pools())
            account = rng.choice(participants)
            d.add_liquidity(agents[name].pair, tokens_of[name], account, rng.randint(200, 2_000))

        def lp_remove_action() -> None:
            name = rng.choice(live_pools())
            pair = agents[name].pair
            account = rng.choice(participants_lp(name))
            balance = d.balance(pair, account)
            d.remove_liquidity(pair, account, balance * rng.randint(20, 80) // 100)

        def lp_transfer_action() -> None:
            name = rng.choice(live_pools())
            pair = agents[name].pair
            sender = rng.choice(participants_lp(name))
            receiver = rng.choice([p for p in participants if p != sender])
            amount = d.balance(pair, sender) * rng.randint(20, 60) // 100
            d.send(pair.functions.transfer(_cs(receiver), amount), sender)

        def swap_action(name: str | None = None, zero_for_one: bool | None = None) -> None:
            name = name or rng.choice(AGENTS)  # every pool has liquidity (orion, nova: POL)
            d.swap(agents[name].pair, tokens_of[name], rng.choice(participants), zero_for_one)

        def vote_action(agent: _Agent, voter: str, proposal: int, style: int) -> None:
            support = rng.choice((0, 1, 1, 2))
            gov = agent.governor.functions
            if style == 0:
                call = gov.castVote(proposal, support)
            elif style == 1:
                call = gov.castVoteWithReason(proposal, support, f"view {rng.randint(1, 999)}")
            else:
                params = rng.randbytes(rng.randint(4, 32))
                call = gov.castVoteWithReasonAndParams(proposal, support, "with params", params)
            d.send(call, voter)
            counters["votes"] += 1

        def propose_action(agent: _Agent, text: str) -> None:
            d.send(agent.governor.functions.propose(text), rng.choice(participants))
            agent.proposals.append(_proposal_id(text))
            counters["proposals"] += 1

        def contribution_action(kind: int | None = None) -> None:
            agent = rng.choice(list(agents.values()))
            kind = rng.choice((0, 1, 2)) if kind is None else kind
            score = rng.randint(1, 100)
            receipt = d.send(
                registry.functions.accept(
                    agent.token.address, _cs(rng.choice(participants)), kind, score
                ),
                deployer,
            )
            contribution_ids.append(int(receipt["logs"][0]["topics"][1], 16))
            counters["contributions"] += 1

        for _ in range(6):
            actions.append(("stake", stake_action))
        for _ in range(3):
            actions.append(("unstake", lambda: unstake_action(False)))
        actions.append(("unstake-all", lambda: unstake_action(True)))
        for _ in range(2):
            actions.append(("share-transfer", share_transfer_action))
        pool_actions: list[tuple[str, Any]] = [("lp-add", lp_add_action)]
        pool_actions += [("lp-remove", lp_remove_action), ("lp-transfer", lp_transfer_action)]
        pool_actions += [("swap", swap_action)] * 3
        # every pool trades both ways every epoch (pool_yield's figures)
        pool_actions += [("swap", lambda n=name, z=z: swap_action(n, z))
                         for name in AGENTS for z in (True, False)]
        actions += pool_actions
        for kind in (0, 1, 2):  # every kind in every epoch, plus one random one
            actions.append(("contribution", lambda k=kind: contribution_action(k)))
        actions.append(("contribution", contribution_action))
        if epoch == 2:
            actions.append(("contribution-kind-7", lambda: contribution_action(7)))

        # governance: a new proposal per agent and 4-6 votes (orion idle in epoch 5)
        for agent in agents.values():
            if epoch == 5 and agent.name == "orion":
                continue
            text = f"{agent.name}: proposal {epoch + 1}"
            # the epoch's proposal opens first thing in the morning; its votes follow
            scheduled.append((120, "propose", lambda a=agent, t=text: propose_action(a, t)))
            voters = rng.sample(participants, rng.randint(4, 6))
            for i, voter in enumerate(voters):
                style = i % 3  # castVote, castVoteWithReason, castVoteWithReasonAndParams
                actions.append(
                    (
                        "vote",
                        lambda a=agent, v=voter, s=style: vote_action(a, v, a.proposals[-1], s),
                    )
                )
        rng.shuffle(actions)

        # the pinned events of the scenario, at fixed times of the day
        if epoch == 2:
            for i in range(4):
                scheduled.append((20_000 + 600 * i, "orion-lp", lambda: lp_add_action("orion")))
        if epoch == 3:
            duplicate = registry.functions.accept_with_id(
                contribution_ids[2], agents["atlas"].token.address, _cs(participants[0]), 1, 50
            )
            scheduled.append((40_000, "duplicate-id", lambda c=duplicate: d.send(c, deployer)))
            scheduled.append((50_000, "one-account-one-block", lambda: multi_change_block()))
        if epoch == 1:
            scheduled.append((40_000, "wrap", lambda: wrap(second, 3_000 * TOKEN)))
        if epoch == 4:
            scheduled.append((80_000, "nova-drain", lambda: drain_pool("nova")))
            scheduled.append((60_000, "unwrap", lambda: d.unstake(wrapper, first, 2_000 * TOKEN)))
        if epoch == 5:
            scheduled.append((20_000, "wrapper-transfer", lambda: d.send(
                wrapper.functions.transfer(_cs(second), 1_000 * TOKEN), first)))
        if epoch == 6:
            for i in range(3):
                scheduled.append((30_000 + 600 * i, "nova-returns", lambda: lp_add_action("nova")))

        def multi_change_block() -> None:
            """One account deposits, transfers shares and redeems, all in one block."""
            account = participants[1]
            receiver = participants[2]
            d.approve(aimg, account, aimg_vault)
            d.rpc("evm_setAutomine", [False])
            try:
                vault = aimg_vault.functions
                hashes = [
                    d.send(vault.deposit(1_000 * TOKEN, _cs(account)), account, wait=False),
                    d.send(vault.transfer(_cs(receiver), 400 * TOKEN), account, wait=False),
                    d.send(
                        vault.redeem(300 * TOKEN, _cs(account), _cs(account)), account, wait=False
                    ),
                ]
                d.rpc("evm_mine", [])
            finally:
                d.rpc("evm_setAutomine", [True])
            d.last_ts = int(d.rpc("eth_getBlockByNumber", ["latest", False])["timestamp"], 16)
            d._armed = False
            for h in hashes:
                receipt = d.rpc("eth_getTransactionReceipt", [h])
                if int(receipt["status"], 16) != 1:
                    raise RuntimeError("multi-change block: a transaction reverted")
                d._ingest(receipt["logs"])

        def drain_pool(name: str) -> None:
            pair = agents[name].pair
            for account in participants_lp(name):
                d.remove_liquidity(pair, account, d.balance(pair, account))

        # spread the random actions over the day; pinned ones go at their own times
        offsets = sorted(rng.sample(range(600, EPOCH_SECONDS - 600, 30), len(actions)))
        timeline = [(off, label, fn) for off, (label, fn) in zip(offsets, actions, strict=True)]
        timeline += scheduled
        timeline.sort(key=lambda item: item[0])
        for offset, _label, fn in timeline:
            d.at(start + offset)
            fn()

    # ---- close epoch 6 -----------------------------------------------------------------
    end = GENESIS + EPOCHS * EPOCH_SECONDS
    d.rpc("evm_mine", [max(end, d.last_ts + 1)])
    head = d.w3.eth.get_block("latest")

    registry_cfg = {
        "aimg_token": aimg.address.lower(),
        "aimg_vault": aimg_vault.address.lower(),
        "contribution_registry": registry.address.lower(),
        "distributor": distributor.address.lower(),
    }
    agent_cfg = [
        {
            "name": a.name,
            "token": a.token.address.lower(),
            "vault": a.vault.address.lower(),
            "governor": a.governor.address.lower(),
            "treasury": a.treasury,
            "pool": a.pair.address.lower(),
        }
        for a in agents.values()
    ]
    config_path = pathlib.Path(config_path)
    config_path.parent.mkdir(parents=True, exist_ok=True)
    wrapper_cfg = {"wrapper": wrapper.address.lower(), "operator": acc[WRAPPER_OPERATOR],
                   "depositors": [first, second]}
    config_path.write_text(render_config(d.chain_id, acc[TREASURY], [deployer], registry_cfg,
                                         agent_cfg, wrapper_cfg))
    return {
        "chain_id": d.chain_id,
        "seed": seed,
        "tx_count": d.tx_count,
        "last_block": int(head["number"]),
        "last_block_hash": "0x" + bytes(head["hash"]).hex(),
        "last_block_timestamp": int(head["timestamp"]),
        "last_closed_epoch": EPOCHS - 1,
        "deployer": deployer,
        "treasury": acc[TREASURY],
        "registry": registry_cfg,
        "agents": agent_cfg,
        **wrapper_cfg,
        "counts": dict(counters),
        "config_path": str(config_path),
    }


def _inline(table: dict[str, int]) -> str:
    return "{ " + ", ".join(f'"{k}" = {v}' for k, v in table.items()) + " }"


def render_config(
    chain_id: int,
    treasury: str,
    excluded: list[str],
    registry: dict[str, str],
    agents: list[dict[str, str]],
    wrapper: dict[str, Any] | None = None,
) -> str:
    """The pipeline config TOML for the demo deployment: v2 from epoch 4 changes the weights;
    with a ``wrapper`` it also redirects the wrapper's share to its token's holders, and v3
    from epoch 6 only turns that into a `to` redirect to the wrapper's operator."""
    names = [a["name"] for a in agents]
    pools = [f"{n}-aimg" for n in names]
    lines = [
        "# Generated by aimg_pipeline.demo.scenario: the demo deployment on the devchain.",
        f'treasury = "{treasury}"',
        "excluded_addresses = [" + ", ".join(f'"{a}"' for a in excluded) + "]",
        "",
        "[deployment]",
        'name = "aimagine-demo"',
        f"chain_id = {chain_id}",
        f"genesis = {GENESIS}",
        f"epoch_seconds = {EPOCH_SECONDS}",
        f'initial_emission = "{INITIAL_EMISSION}"',
        "start_block = 0",
        "confirmations = 0",
        "",
        "[registry]",
        *(f'{k} = "{v}"' for k, v in registry.items()),
    ]
    for a in agents:
        lines += [
            "",
            "[[registry.agents]]",
            f'name = "{a["name"]}"',
            f'token = "{a["token"]}"',
            f'vault = "{a["vault"]}"',
            f'governor = "{a["governor"]}"',
            f'treasury = "{a["treasury"]}"',
            f'pools = [{{ name = "{a["name"]}-aimg", address = "{a["pool"]}" }}]',
        ]
    policies = [
        {
            "version": "v1",
            "effective_from_epoch": 0,
            "decay_bps": 500,
            "channel_bps": {
                "staking": 4000,
                "governance": 1500,
                "subdao": 1000,
                "liquidity": 2500,
                "contribution": 1000,
            },
            "kind_multiplier_bps": {"dataset": 10000, "model": 15000, "algorithm": 20000},
            "agent_weight_bps": dict(zip(names, (4000, 3500, 2500), strict=True)),
            "vault_weight_bps": {"aimg": 4000, **dict.fromkeys(names, 2000)},
            "pool_weight_bps": dict(zip(pools, (4000, 3500, 2500), strict=True)),
        },
        {
            "version": "v2",
            "effective_from_epoch": 4,
            "decay_bps": 800,
            "channel_bps": {
                "staking": 3500,
                "governance": 1500,
                "subdao": 1000,
                "liquidity": 3000,
                "contribution": 1000,
            },
            "kind_multiplier_bps": {"dataset": 10000, "model": 16000, "algorithm": 25000},
            "agent_weight_bps": dict(zip(names, (3000, 3500, 3500), strict=True)),
            "vault_weight_bps": {
                "aimg": 5000,
                **dict(zip(names, (1666, 1667, 1667), strict=True)),
            },
            "pool_weight_bps": dict(zip(pools, (3000, 3500, 3500), strict=True)),
        },
    ]
    if wrapper is not None:
        policies[1]["redirects"] = (f'{{ from = "{wrapper["wrapper"]}", mode = "holders", '
                                    f'token = "{wrapper["wrapper"]}" }}')
        policies.append({**policies[1], "version": "v3", "effective_from_epoch": 6,
                         "redirects": f'{{ from = "{wrapper["wrapper"]}", '
                                      f'to = "{wrapper["operator"]}" }}'})
    for p in policies:
        lines += [
            "",
            "[[policy]]",
            f'version = "{p["version"]}"',
            f"effective_from_epoch = {p['effective_from_epoch']}",
            f"decay_bps = {p['decay_bps']}",
            f'tail_emission = "{TAIL_EMISSION}"',
            "excluded_addresses = []",
            f"channel_bps = {_inline(p['channel_bps'])}",
            f"kind_multiplier_bps = {_inline(p['kind_multiplier_bps'])}",
            f"agent_weight_bps = {_inline(p['agent_weight_bps'])}",
            f"vault_weight_bps = {_inline(p['vault_weight_bps'])}",
            f"pool_weight_bps = {_inline(p['pool_weight_bps'])}",
        ]
        if "redirects" in p:
            lines.append(f"redirects = [{p['redirects']}]")
    return "\n".join(lines) + "\n"
