"""Seeded synthetic history for the benchmark: cryo-layout Parquet files plus a config TOML.

``python -m bench.generate --logs N --out DIR [--seed S] [--swaps R]`` writes, reproducibly
for the same (N, seed, R):

* ``DIR/files/bench__logs__{start:08}_to_{end:08}.parquet``: cryo's ``logs`` columns
  (binary hashes, addresses, topics and data; NULL for absent topics), 1,000 blocks a file;
* ``DIR/files/bench__blocks__…parquet``: ``block_number, block_hash, timestamp``;
* ``DIR/aimg.toml``: the registry/policy in ``aimg_pipeline.lib.config``'s format;
* ``DIR/pairs.json``: each pool's ``[token0, token1]``, what ``token0()``/``token1()`` would
  answer (the benchmark has no chain to ask);
* ``DIR/summary.json``: the counts below.

The world: 1,000 position tokens (the $AIMG vault plus 333 agents with a vault and two
pools each), ``N / 10`` core accounts. Each core account holds a portfolio of 1-4 tokens
(popular tokens more often: weight 1 / (rank + 10)). Nine weekly epochs of 50,400
twelve-second blocks (version 4), eight of history before the measured one:

* epoch 0: one mint per core holding, establishing the opening balances (about 2.3
  holdings per account), plus votes and contributions;
* epochs 1-7: ``N / 10`` position-changing ``Transfer`` logs each (30 % mints into an
  existing holding, 55 % transfers between two holders of the same token, 15 % burns);
* epoch 8 (the measured epoch): ``N`` such logs, plus ``N / 200`` ``VoteCast`` and
  ``N / 2000`` ``ContributionAccepted`` logs (a tenth of that in the history epochs);
* new holders every epoch: a cohort of ``N / 80`` new accounts per epoch, each minting one
  holding (a popular token more often) in its epoch and burning exactly that balance in the
  next (they never trade in between, so the burn is known); the measured epoch's cohort
  stays. So the measured epoch's claims hold every past claimant: ``N / 10 + 9 N / 80``
  accounts (2.1M at 10M logs), about ``1.25 N / 10`` of them holding in it.

Transfer amounts (version 3) spread as real ones do: each position token has a scale of
0-5 bytes (its own stream), and an epoch-1 amount is a mantissa with a log-uniform bit
length of 40-60 bits shifted by its token's scale, so amounts lie between 2**40 and 2**100
(about 60 % above 2**64); an opening mint is 2**71-2**72 shifted by the same scale, at most
2**112. Balances never go negative by construction: every opening mint is at least 2**11
times the largest outgoing amount of its token, and the generator checks that no holding
sends more than 2**11 times (it sends about 3 times on average).

Pools (the 666 pairs, Uniswap V2): each pairs its agent's token with $AIMG, ``token0`` /
``token1`` = (agent token, $AIMG) for every agent's pool ``a`` and ($AIMG, agent token) for
its pool ``b``. Each opens at epoch 0's first block with initial liquidity (``Sync`` then
``Mint``). Then every trade is logged as the pair's ``swap`` logs it: ``Sync(reserve0,
reserve1)`` at log index i and ``Swap(sender, amount0In, amount1In, amount0Out, amount1Out,
to)`` at i + 1, same block (``swap`` calls ``_update``, which logs Sync, before it logs
Swap); both directions about equally often. In a block the pool logs follow its other logs.
The measured epoch has ``R × N`` trades (``--swaps``, default 0.35: 2 × 0.35 N pool logs,
41 % of the epoch's logs, on top of the N Transfers), each history epoch a tenth of that; a pool
trades as often as its LP token is popular (same weights). Reserves are ``m << 8s``: a
per-pool side scale ``s`` of 2-5 bytes and a mantissa ``m`` below 2**62 (checked), so
reserves lie between about 2**70 and 2**100 (below 2**102 by construction, far from
uint112's limit); amounts are 2**63-2**91 for 90 % of them (median 2**76; 92 % at least
2**64). A trade
moves the pool to a new price state (log price i.i.d. normal, sigma 0.01, around the
pool's base) with ``m0 · m1`` constant (x·y constant up to rounding); the amounts are the
exact reserve differences, so every Sync is the previous Sync plus the Swap's in minus out.
State carries across chunks and epochs, so each epoch opens with the previous one's closing
reserves.

Everything is vectorised with numpy and written chunk by chunk (one random stream per
chunk, derived from the seed; the pool events from their own streams, so ``--swaps 0``
writes exactly the Transfer, vote and contribution logs of ``--swaps 0.35``).
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from aimg_pipeline.lib.events import TOPIC0

GENERATOR_VERSION = 4
NETWORK = "bench"
GENESIS = 1_767_225_600  # 2026-01-01T00:00:00Z
EPOCH_SECONDS = 7 * 24 * 3600
BLOCK_SECONDS = 12
BLOCKS_PER_EPOCH = EPOCH_SECONDS // BLOCK_SECONDS  # 50,400
HISTORY_EPOCHS = 8  # epochs 0..7 before the measured one
MEASURED_EPOCH = HISTORY_EPOCHS
EPOCHS = HISTORY_EPOCHS + 1
FILE_BLOCKS = 1_000  # cryo's default chunk size
AGENTS = 333  # 1 + 333 * 3 = 1,000 position tokens
INITIAL_EMISSION = 1_000_000 * 10**18
TAIL_EMISSION = 1_000 * 10**18
SHARE_MINT, SHARE_TRANSFER = 0.30, 0.55  # the rest are burns
SWAPS_PER_TRANSFER = 0.35  # trades per measured-epoch Transfer (two pool logs each)
PRICE_SIGMA = 0.01  # a pool's log price around its base, per trade (i.i.d.)
TOKEN_SCALE_BYTES = 5  # a position token's Transfer amounts are shifted by 0-5 bytes
MANTISSA_BITS = (54, 60)  # base reserve mantissas, log-uniform; times 2**(8 * 2..5)
SCALE_BYTES = (2, 5)

_TRANSFER = bytes.fromhex(TOPIC0["Transfer"][2:])
_VOTE = bytes.fromhex(TOPIC0["VoteCast"][2:])
_CONTRIBUTION = bytes.fromhex(TOPIC0["ContributionAccepted"][2:])
_SWAP = bytes.fromhex(TOPIC0["Swap"][2:])
_SYNC = bytes.fromhex(TOPIC0["Sync"][2:])
_MINT = bytes.fromhex(TOPIC0["Mint"][2:])


def _addresses(rng: np.random.Generator, n: int) -> np.ndarray:
    return rng.integers(0, 256, size=(n, 20), dtype=np.uint8)


def _hex(raw: np.ndarray) -> str:
    return "0x" + bytes(raw).hex()


class World:
    """The fixed cast: tokens, agents, accounts and who holds what."""

    def __init__(self, logs: int, seed: int) -> None:
        rng = np.random.default_rng([seed, 0])
        self.accounts = max(1_000, logs // 10)
        self.account_addr = _addresses(rng, self.accounts)
        # contracts: aimg vault, then per agent vault, pool a, pool b; plus governors etc.
        self.token_addr = _addresses(rng, 1 + 3 * AGENTS)
        self.agent_token = _addresses(rng, AGENTS)
        self.governor = _addresses(rng, AGENTS)
        self.subdao_treasury = _addresses(rng, AGENTS)
        self.registry, self.aimg_token, self.treasury = _addresses(rng, 3)
        # portfolios: 1-4 tokens per account, popular tokens more often
        sizes = rng.choice(4, size=self.accounts, p=[0.3, 0.3, 0.2, 0.2]) + 1
        owners = np.repeat(np.arange(self.accounts, dtype=np.int64), sizes)
        popularity = 1.0 / (np.arange(len(self.token_addr)) + 10.0)
        popularity /= popularity.sum()
        self.popularity = popularity
        tokens = rng.choice(len(self.token_addr), size=len(owners), p=popularity)
        keys = np.unique(tokens.astype(np.int64) * self.accounts + owners)  # by token, account
        self.h_token = (keys // self.accounts).astype(np.int64)
        self.h_account = (keys % self.accounts).astype(np.int64)
        self.holdings = len(keys)
        counts = np.bincount(self.h_token, minlength=len(self.token_addr))
        self.t_start = np.concatenate([[0], np.cumsum(counts)[:-1]])
        self.t_count = counts
        if (counts == 0).any():  # every token needs a holder for transfers between holders
            raise ValueError("increase --logs: some token has no holder")
        # pools: token index 1 + 3i + 1 (agent i's pool a), 1 + 3i + 2 (pool b); their own
        # random stream, so the holdings above are those of version 1
        prng = np.random.default_rng([seed, 4])
        self.pool_token = np.array([1 + 3 * i + k for i in range(AGENTS) for k in (1, 2)])
        self.pool_agent = np.repeat(np.arange(AGENTS), 2)
        self.pool_aimg_first = np.tile([False, True], AGENTS)  # a: (agent, AIMG); b: (AIMG, agent)
        weight = popularity[self.pool_token]
        self.pool_weight = weight / weight.sum()
        pools = len(self.pool_token)
        self.pool_scale = prng.integers(SCALE_BYTES[0], SCALE_BYTES[1] + 1, size=(pools, 2))
        self.pool_base = np.exp2(prng.uniform(*MANTISSA_BITS, size=(pools, 2)))  # float
        self.router = _addresses(prng, 2)  # Swap's sender / Mint's sender
        # Transfer amounts: a byte scale per position token (version 3), its own stream
        self.token_scale = np.random.default_rng([seed, 5]).integers(
            0, TOKEN_SCALE_BYTES + 1, size=len(self.token_addr))

    def pair_tokens(self) -> dict[str, list[str]]:
        """Pool address -> [token0, token1] (what the pair's token0()/token1() answer)."""
        out = {}
        for p, token in enumerate(self.pool_token):
            agent, aimg = _hex(self.agent_token[self.pool_agent[p]]), _hex(self.aimg_token)
            out[_hex(self.token_addr[token])] = ([aimg, agent] if self.pool_aimg_first[p]
                                                 else [agent, aimg])
        return out

    def config_toml(self) -> str:
        names = [f"agent{i:03d}" for i in range(AGENTS)]

        def spread(total: int, keys: list[str]) -> dict[str, int]:
            base, extra = divmod(total, len(keys))
            return {k: base + (1 if i < extra else 0) for i, k in enumerate(keys)}

        agent_w = spread(10_000, names)
        vault_w = {"aimg": 1_000, **spread(9_000, names)}
        pool_names = [f"{n}-{side}" for n in names for side in ("a", "b")]
        pool_w = spread(10_000, pool_names)

        def inline(table: dict[str, int]) -> str:
            return "{ " + ", ".join(f'"{k}" = {v}' for k, v in table.items()) + " }"

        lines = [
            "# Generated by bench.generate: a synthetic deployment for the benchmark.",
            f'treasury = "{_hex(self.treasury)}"',
            "excluded_addresses = []",
            "",
            "[deployment]",
            'name = "aimagine-bench"',
            f"genesis = {GENESIS}",
            f"epoch_seconds = {EPOCH_SECONDS}",
            f'initial_emission = "{INITIAL_EMISSION}"',
            "start_block = 0",
            "confirmations = 0",
            "",
            "[registry]",
            f'aimg_token = "{_hex(self.aimg_token)}"',
            f'aimg_vault = "{_hex(self.token_addr[0])}"',
            f'contribution_registry = "{_hex(self.registry)}"',
        ]
        for i, name in enumerate(names):
            vault, pool_a, pool_b = (self.token_addr[1 + 3 * i + k] for k in range(3))
            lines += [
                "",
                "[[registry.agents]]",
                f'name = "{name}"',
                f'token = "{_hex(self.agent_token[i])}"',
                f'vault = "{_hex(vault)}"',
                f'governor = "{_hex(self.governor[i])}"',
                f'treasury = "{_hex(self.subdao_treasury[i])}"',
                f'pools = [{{ name = "{name}-a", address = "{_hex(pool_a)}" }}, '
                f'{{ name = "{name}-b", address = "{_hex(pool_b)}" }}]',
            ]
        lines += [
            "",
            "[[policy]]",
            'version = "v1"',
            "effective_from_epoch = 0",
            "decay_bps = 200",
            f'tail_emission = "{TAIL_EMISSION}"',
            "excluded_addresses = []",
            'channel_bps = { "staking" = 4000, "governance" = 1500, "subdao" = 1000, '
            '"liquidity" = 2500, "contribution" = 1000 }',
            'kind_multiplier_bps = { "dataset" = 10000, "model" = 15000, "algorithm" = 20000 }',
            f"agent_weight_bps = {inline(agent_w)}",
            f"vault_weight_bps = {inline(vault_w)}",
            f"pool_weight_bps = {inline(pool_w)}",
        ]
        return "\n".join(lines) + "\n"


def _padded(addr: np.ndarray) -> np.ndarray:
    """(n, 20) addresses -> (n, 32) ABI words / topics."""
    out = np.zeros((len(addr), 32), dtype=np.uint8)
    out[:, 12:] = addr
    return out


def _u64_word(values: np.ndarray, shift_bytes: int = 0) -> np.ndarray:
    """(n,) uint64 -> (n, 32) big-endian uint256 words of ``value << (8 * shift_bytes)``."""
    out = np.zeros((len(values), 32), dtype=np.uint8)
    be = values.astype(">u8").view(np.uint8).reshape(-1, 8)
    out[:, 24 - shift_bytes:32 - shift_bytes] = be
    return out


def _scaled_words(mantissa: np.ndarray, scale: np.ndarray) -> np.ndarray:
    """(n,) uint64 mantissas and (n,) byte scales -> (n, 32) words of ``m << 8 * scale``."""
    out = np.zeros((len(mantissa), 32), dtype=np.uint8)
    be = mantissa.astype(">u8").view(np.uint8).reshape(-1, 8)
    for shift in np.unique(scale):
        rows = scale == shift
        out[rows, 24 - shift:32 - shift] = be[rows]
    return out


def _binary(rows: np.ndarray, lengths: np.ndarray | None = None) -> pa.Array:
    """(n, w) uint8 rows -> a pyarrow ``binary`` array (the first ``lengths[i]`` bytes)."""
    n, width = rows.shape
    if lengths is None:
        offsets = np.arange(n + 1, dtype=np.int32) * width
        data = rows.tobytes()
    else:
        offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int32)
        data = rows[np.arange(width)[None, :] < lengths[:, None]].tobytes()
    return pa.Array.from_buffers(pa.binary(), n, [None, pa.py_buffer(offsets),
                                                  pa.py_buffer(data)])


def _nullable(array: pa.Array, present: np.ndarray) -> pa.Array:
    return pa.compute.if_else(pa.array(present), array, pa.scalar(None, pa.binary()))


class Chunk:
    """The logs of one 1,000-block file, as column arrays (before ordering)."""

    def __init__(self) -> None:
        self.parts: list[dict[str, np.ndarray]] = []

    def add(self, topic0: bytes, block: np.ndarray, address: np.ndarray,
            topics: list[np.ndarray | None], data: np.ndarray) -> None:
        n = len(block)
        self.add_rows(np.broadcast_to(np.frombuffer(topic0, np.uint8), (n, 32)), block,
                      address, [(np.zeros((n, 32), np.uint8), np.zeros(n, bool)) if x is None
                                else (x, np.ones(n, bool)) for x in topics],
                      data, np.full(n, data.shape[1], np.int64))

    def add_rows(self, topic0: np.ndarray, block: np.ndarray, address: np.ndarray,
                 topics: list[tuple[np.ndarray, np.ndarray]], data: np.ndarray,
                 lengths: np.ndarray) -> None:
        """Rows of several events at once: per row its topic0, topics (words, present)
        and the first ``lengths`` bytes of ``data``. Rows of one block keep their order."""
        wide = np.zeros((len(block), 160), np.uint8)
        wide[:, :data.shape[1]] = data
        self.parts.append({
            "block": block, "address": address, "t1": topics[0][0], "t2": topics[1][0],
            "t3": topics[2][0], "p1": topics[0][1], "p2": topics[1][1], "p3": topics[2][1],
            "topic0": topic0, "data": wide, "len": lengths,
        })

    def table(self, rng: np.random.Generator) -> pa.Table:
        cols = {k: np.concatenate([p[k] for p in self.parts]) for k in self.parts[0]}
        order = np.argsort(cols["block"], kind="stable")
        cols = {k: v[order] for k, v in cols.items()}
        n = len(order)
        block = cols["block"]
        first = np.searchsorted(block, block, side="left")
        log_index = (np.arange(n) - first).astype(np.uint32)
        return pa.table({
            "block_number": pa.array(block.astype(np.uint32)),
            "transaction_index": pa.array(log_index),
            "log_index": pa.array(log_index),
            "transaction_hash": _binary(rng.integers(0, 256, (n, 32), dtype=np.uint8)),
            "address": _binary(cols["address"]),
            "topic0": _binary(cols["topic0"]),
            "topic1": _nullable(_binary(cols["t1"]), cols["p1"]),
            "topic2": _nullable(_binary(cols["t2"]), cols["p2"]),
            "topic3": _nullable(_binary(cols["t3"]), cols["p3"]),
            "data": _binary(cols["data"], cols["len"]),
            "n_data_bytes": pa.array(cols["len"].astype(np.uint32)),
            "chain_id": pa.array(np.full(n, 31337, np.uint64)),
        })


class _Cohorts:
    """The new holders of every epoch: ``N / 80`` fresh accounts per epoch, each minting
    one holding in its epoch and burning all of it in the next (it never trades, so the
    burn is exactly the mint); the measured epoch's cohort keeps its holdings."""

    def __init__(self, world: World, logs: int, seed: int) -> None:
        rng = np.random.default_rng([seed, 6])
        self.size = max(100, logs // 80)
        self.account = [_addresses(rng, self.size) for _ in range(EPOCHS)]
        token = [rng.choice(len(world.token_addr), size=self.size, p=world.popularity)
                 for _ in range(EPOCHS)]
        self.token = [world.token_addr[t] for t in token]
        value = [rng.integers(1 << 62, 1 << 63, size=self.size, dtype=np.uint64) * 2
                 for _ in range(EPOCHS)]
        self.words = [_scaled_words(v, 1 + world.token_scale[t])
                      for v, t in zip(value, token, strict=True)]

    def add(self, chunk: Chunk, epoch: int, c: int, chunks: int,
            blocks: Callable[[int], np.ndarray]) -> int:
        """Chunk ``c`` of ``epoch``: its share of this cohort's mints and of the previous
        cohort's burns; returns the Transfer logs added."""
        zero = _padded(np.zeros((1, 20), np.uint8))
        a, b = self.size * c // chunks, self.size * (c + 1) // chunks
        parts = [(epoch, True)] + ([(epoch - 1, False)] if epoch else [])
        for cohort, mint in parts:
            n = b - a
            holder = _padded(self.account[cohort][a:b])
            ends = np.broadcast_to(zero, (n, 32))
            chunk.add(_TRANSFER, blocks(n), self.token[cohort][a:b],
                      [ends, holder, None] if mint else [holder, ends, None],
                      self.words[cohort][a:b])
        return (b - a) * len(parts)


def _share(total: int, chunk: int, chunks: int) -> int:
    """How many of ``total`` items fall in chunk ``chunk`` of ``chunks`` (exact split)."""
    return total * (chunk + 1) // chunks - total * chunk // chunks


def _open_pools(chunk: Chunk, world: World, state: np.ndarray, block: int) -> int:
    """Every pool's initial liquidity at ``block``: ``Sync`` then ``Mint`` (as the pair's
    ``mint`` logs them), the reserves at the pool's base; returns the logs added."""
    pools = len(world.pool_token)
    state[:] = np.rint(world.pool_base).astype(np.int64)
    reserves = np.concatenate([_scaled_words(state[:, k].astype(np.uint64),
                                             world.pool_scale[:, k]) for k in (0, 1)], axis=1)
    _pair_rows(chunk, world, np.arange(pools), np.full(pools, block, np.int64), reserves,
               _MINT, (_padded(np.broadcast_to(world.router[0], (pools, 20))), None), reserves)
    return 2 * pools


def _pair_rows(chunk: Chunk, world: World, pool: np.ndarray, block: np.ndarray,
               reserves: np.ndarray, topic0: bytes,
               topics: tuple[np.ndarray, np.ndarray | None], data: np.ndarray) -> None:
    """Per row of ``pool``: a ``Sync(reserves)`` then the event ``topic0`` (``topics``: its
    topic1, topic2; ``data``) at the next position, same block: adjacent after the sort."""
    n = len(pool)
    two = 2 * n
    sync, event = slice(0, two, 2), slice(1, two, 2)
    topic0s = np.empty((two, 32), np.uint8)
    topic0s[sync] = np.frombuffer(_SYNC, np.uint8)
    topic0s[event] = np.frombuffer(topic0, np.uint8)
    rows = []
    for words in (*topics, None):
        full, present = np.zeros((two, 32), np.uint8), np.zeros(two, bool)
        if words is not None:
            full[event], present[event] = words, True
        rows.append((full, present))
    wide = np.zeros((two, max(64, data.shape[1])), np.uint8)
    wide[sync, :64] = reserves
    wide[event, :data.shape[1]] = data
    lengths = np.empty(two, np.int64)
    lengths[sync], lengths[event] = 64, data.shape[1]
    chunk.add_rows(topic0s, np.repeat(block, 2),
                   np.repeat(world.token_addr[world.pool_token[pool]], 2, axis=0),
                   rows, wide, lengths)


def _trades(chunk: Chunk, world: World, state: np.ndarray, rng: np.random.Generator, n: int,
            lo: int, hi: int) -> int:
    """``n`` trades in blocks ``lo..hi``, each a ``Sync`` then its ``Swap``; ``state`` (each
    pool's reserve mantissas) moves along. Returns the logs added."""
    if n == 0:
        return 0
    pool = rng.choice(len(world.pool_token), size=n, p=world.pool_weight)
    block = rng.integers(lo, hi + 1, size=n, dtype=np.int64)
    order = np.argsort(block, kind="stable")  # time order, kept by the chunk's stable sort
    pool, block = pool[order], block[order]
    price = rng.normal(0.0, PRICE_SIGMA, size=n)
    base = world.pool_base[pool]
    new = np.empty((n, 2), np.int64)
    new[:, 0] = np.rint(base[:, 0] * np.exp(price / 2))
    new[:, 1] = np.rint(base[:, 1] * np.exp(-price / 2))
    # the reserves before each trade: the same pool's previous trade, else the carried state
    by_pool = np.argsort(pool, kind="stable")
    ordered = pool[by_pool]
    first = np.concatenate([[True], ordered[1:] != ordered[:-1]])
    last = np.concatenate([ordered[1:] != ordered[:-1], [True]])
    old = np.empty_like(new)
    old[by_pool[1:]] = new[by_pool[:-1]]
    old[by_pool[first]] = state[ordered[first]]
    state[ordered[last]] = new[by_pool[last]]
    delta = new - old
    if not (np.sign(delta[:, 0]) * np.sign(delta[:, 1]) == -1).all():
        raise AssertionError("a trade without one token in and the other out")
    if new.min() <= 0 or new.max() >= 1 << 62:
        raise AssertionError("a reserve mantissa left (0, 2**62)")
    scale = world.pool_scale[pool]
    amount_in, amount_out = np.maximum(delta, 0), np.maximum(-delta, 0)
    data = np.concatenate(
        [_scaled_words(amount_in[:, k].astype(np.uint64), scale[:, k]) for k in (0, 1)]
        + [_scaled_words(amount_out[:, k].astype(np.uint64), scale[:, k]) for k in (0, 1)],
        axis=1)
    reserves = np.concatenate([_scaled_words(new[:, k].astype(np.uint64), scale[:, k])
                               for k in (0, 1)], axis=1)
    sender = world.router[rng.integers(0, len(world.router), size=n)]
    to = world.account_addr[rng.integers(0, world.accounts, size=n)]
    _pair_rows(chunk, world, pool, block, reserves, _SWAP, (_padded(sender), _padded(to)),
               data)
    return 2 * n


def generate(logs: int, out: Path, seed: int = 7,
             swaps: float = SWAPS_PER_TRANSFER) -> dict[str, object]:
    """Write the files and config for ``logs`` measured-epoch Transfer logs; return a summary."""
    started = time.monotonic()
    out = Path(out)
    files = out / "files"
    files.mkdir(parents=True, exist_ok=True)
    world = World(logs, seed)
    (out / "aimg.toml").write_text(world.config_toml())
    (out / "pairs.json").write_text(json.dumps(world.pair_tokens(), indent=1) + "\n")
    zero = np.zeros((1, 20), np.uint8)
    chunks = BLOCKS_PER_EPOCH // FILE_BLOCKS + (BLOCKS_PER_EPOCH % FILE_BLOCKS > 0)
    votes, contributions = logs // 200, logs // 2_000
    mint_order = np.random.default_rng([seed, 1]).permutation(world.holdings)
    sends = np.zeros(world.holdings, np.int64)
    epoch_logs, pool_logs_by_epoch = [0] * EPOCHS, [0] * EPOCHS
    measured_transfers = 0
    trades = [round(logs * swaps) // 10] * HISTORY_EPOCHS + [round(logs * swaps)]
    cohorts = _Cohorts(world, logs, seed)
    state = np.zeros((len(world.pool_token), 2), np.int64)  # reserve mantissas per pool
    contribution_serial = 0
    for epoch in range(EPOCHS):
        for c in range(chunks):
            rng = np.random.default_rng([seed, 2, epoch, c])
            lo = epoch * BLOCKS_PER_EPOCH + c * FILE_BLOCKS
            hi = min(lo + FILE_BLOCKS, (epoch + 1) * BLOCKS_PER_EPOCH) - 1
            chunk = Chunk()

            def blocks(n: int, rng: np.random.Generator = rng, lo: int = lo,
                       hi: int = hi) -> np.ndarray:
                return rng.integers(lo, hi + 1, size=n, dtype=np.int64)

            n_transfers = cohorts.add(chunk, epoch, c, chunks, blocks)
            if epoch == 0:  # opening mints: one per holding, big (>= 2**78)
                a = world.holdings * c // chunks
                b = world.holdings * (c + 1) // chunks
                h = mint_order[a:b]
                value = rng.integers(1 << 62, 1 << 63, size=len(h), dtype=np.uint64) * 2
                chunk.add(_TRANSFER, blocks(len(h)), world.token_addr[world.h_token[h]],
                             [_padded(np.broadcast_to(zero, (len(h), 20))),
                              _padded(world.account_addr[world.h_account[h]]), None],
                             _scaled_words(value, 1 + world.token_scale[world.h_token[h]]))
                n_transfers += len(h)
                n_votes, n_contrib = _share(max(votes // 10, 1), c, chunks), _share(
                    max(contributions // 10, 1), c, chunks)
            else:
                n = _share(logs if epoch == MEASURED_EPOCH else logs // 10, c, chunks)
                n_transfers += n
                kind = rng.random(n)
                src = rng.integers(0, world.holdings, size=n)
                tok = world.h_token[src]
                dst = world.t_start[tok] + (rng.random(n) * world.t_count[tok]).astype(np.int64)
                mint, burn = kind < SHARE_MINT, kind >= SHARE_MINT + SHARE_TRANSFER
                sender = world.account_addr[world.h_account[src]].copy()
                receiver = world.account_addr[world.h_account[dst]].copy()
                receiver[mint] = world.account_addr[world.h_account[src[mint]]]
                sender[mint] = 0
                receiver[burn] = 0
                np.add.at(sends, src[~mint], 1)
                bits = rng.integers(40, 60, size=n, dtype=np.uint64)  # log-uniform lengths
                value = (np.uint64(1) << bits) | (rng.integers(0, 1 << 62, size=n,
                                                               dtype=np.uint64)
                                                  & ((np.uint64(1) << bits) - np.uint64(1)))
                chunk.add(_TRANSFER, blocks(n), world.token_addr[tok],
                             [_padded(sender), _padded(receiver), None],
                             _scaled_words(value, world.token_scale[tok]))
                scale = 1 if epoch == MEASURED_EPOCH else 10
                n_votes, n_contrib = (_share(max(votes // scale, 1), c, chunks),
                                      _share(max(contributions // scale, 1), c, chunks))
            if n_votes:
                agent = rng.integers(0, AGENTS, size=n_votes)
                voter = world.account_addr[rng.integers(0, world.accounts, size=n_votes)]
                data = np.zeros((n_votes, 160), np.uint8)
                data[:, :32] = rng.integers(0, 256, (n_votes, 32), dtype=np.uint8)  # proposal
                data[:, 63] = rng.integers(0, 3, size=n_votes)  # support
                data[:, 64:96] = _u64_word(rng.integers(1, 1 << 62, n_votes, dtype=np.uint64),
                                           shift_bytes=1)
                data[:, 127] = 0x80  # string offset; word 4 (length) stays 0
                chunk.add(_VOTE, blocks(n_votes), world.governor[agent],
                             [_padded(voter), None, None], data)
            if n_contrib:
                ids = np.zeros((n_contrib, 32), np.uint8)
                ids[:, 24:] = _u64_word(np.arange(contribution_serial,
                                                  contribution_serial + n_contrib,
                                                  dtype=np.uint64))[:, 24:]
                contribution_serial += n_contrib
                agent = rng.integers(0, AGENTS, size=n_contrib)
                who = world.account_addr[rng.integers(0, world.accounts, size=n_contrib)]
                data = np.zeros((n_contrib, 64), np.uint8)
                data[:, 31] = rng.integers(0, 3, size=n_contrib)
                data[:, 32:] = _u64_word(rng.integers(1, 1 << 20, n_contrib, dtype=np.uint64))
                chunk.add(_CONTRIBUTION, blocks(n_contrib),
                             np.broadcast_to(world.registry, (n_contrib, 20)),
                             [ids, _padded(world.agent_token[agent]), _padded(who)], data)
            if trades[epoch]:
                pool_rng = np.random.default_rng([seed, 5, epoch, c])
                pool_logs = _open_pools(chunk, world, state, lo) if epoch == c == 0 else 0
                pool_logs += _trades(chunk, world, state, pool_rng,
                                     _share(trades[epoch], c, chunks), lo, hi)
                pool_logs_by_epoch[epoch] += pool_logs
            table = chunk.table(rng)
            epoch_logs[epoch] += table.num_rows
            if epoch == MEASURED_EPOCH:
                measured_transfers += n_transfers
            name = f"{NETWORK}__logs__{lo:08d}_to_{hi:08d}.parquet"
            pq.write_table(table, files / f".{name}.tmp", compression="zstd")
            (files / f".{name}.tmp").rename(files / name)
    if sends.max() >= 1 << 11:
        raise AssertionError("a holding sends too often: balances could go negative")
    # blocks: every block of every epoch plus one past the end (so the last one is final)
    last = EPOCHS * BLOCKS_PER_EPOCH
    rng = np.random.default_rng([seed, 3])
    numbers = np.arange(0, last + 1, dtype=np.int64)
    pq.write_table(pa.table({
        "block_number": pa.array(numbers.astype(np.uint32)),
        "block_hash": _binary(rng.integers(0, 256, (len(numbers), 32), dtype=np.uint8)),
        "timestamp": pa.array((GENESIS + BLOCK_SECONDS * numbers).astype(np.uint32)),
    }), files / f"{NETWORK}__blocks__{0:08d}_to_{last:08d}.parquet", compression="zstd")
    summary = {
        "generator_version": GENERATOR_VERSION, "seed": seed, "logs": logs,
        "accounts": world.accounts, "position_tokens": len(world.token_addr),
        "holdings": world.holdings, "pools": len(world.pool_token),
        "swaps_per_transfer": swaps, "history_epochs": HISTORY_EPOCHS,
        "measured_epoch": MEASURED_EPOCH, "epoch_logs": epoch_logs,
        "epoch_pool_logs": pool_logs_by_epoch, "measured_transfers": measured_transfers,
        "measured_pool_share": round(pool_logs_by_epoch[MEASURED_EPOCH]
                                     / epoch_logs[MEASURED_EPOCH], 4),
        "cohort_accounts": cohorts.size,
        "cumulative_claimants": world.accounts + EPOCHS * cohorts.size,
        "seconds": round(time.monotonic() - started, 2),
    }
    (out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    return summary


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--logs", type=int, required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--swaps", type=float, default=SWAPS_PER_TRANSFER,
                        help="trades (Sync + Swap) per measured-epoch Transfer "
                        f"(default {SWAPS_PER_TRANSFER}; 0: no pool events)")
    args = parser.parse_args()
    print(json.dumps(generate(args.logs, args.out, args.seed, args.swaps)))


if __name__ == "__main__":
    main()
