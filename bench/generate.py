"""Seeded synthetic history for the benchmark: cryo-layout Parquet files plus a config TOML.

``python -m bench.generate --logs N --out DIR [--seed S]`` writes, reproducibly for the
same (N, seed):

* ``DIR/files/bench__logs__{start:08}_to_{end:08}.parquet``: cryo's ``logs`` columns
  (binary hashes, addresses, topics and data; NULL for absent topics), 1,000 blocks a file;
* ``DIR/files/bench__blocks__…parquet``: ``block_number, block_hash, timestamp``;
* ``DIR/aimg.toml``: the registry/policy in ``aimg_pipeline.lib.config``'s format.

The world: 1,000 position tokens (the $AIMG vault plus 333 agents with a vault and two
pools each), ``N / 10`` accounts. Each account holds a portfolio of 1-4 tokens (popular
tokens more often: weight 1 / (rank + 10)). Two weekly epochs of 50,400 twelve-second
blocks:

* epoch 0 (the history before the measured epoch): one mint per holding, establishing the
  opening balances (about 2.3 holdings per account), plus votes and contributions;
* epoch 1 (the measured epoch): ``N`` position-changing ``Transfer`` logs (30 % mints into
  an existing holding, 55 % transfers between two holders of the same token, 15 % burns),
  plus ``N / 200`` ``VoteCast`` and ``N / 2000`` ``ContributionAccepted`` logs.

Balances never go negative by construction: an opening mint is at least 2**78 wei, every
outgoing amount is below 2**60, and the generator checks that no holding sends more than
2**18 times (it sends about 3 times on average).

Everything is vectorised with numpy and written chunk by chunk (one random stream per
chunk, derived from the seed), so 10M logs take well under a minute and little memory.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from aimg_pipeline.lib.events import TOPIC0

GENERATOR_VERSION = 1
NETWORK = "bench"
GENESIS = 1_767_225_600  # 2026-01-01T00:00:00Z
EPOCH_SECONDS = 7 * 24 * 3600
BLOCK_SECONDS = 12
BLOCKS_PER_EPOCH = EPOCH_SECONDS // BLOCK_SECONDS  # 50,400
EPOCHS = 2  # epoch 0 = history, epoch 1 = the measured epoch
FILE_BLOCKS = 1_000  # cryo's default chunk size
AGENTS = 333  # 1 + 333 * 3 = 1,000 position tokens
INITIAL_EMISSION = 1_000_000 * 10**18
TAIL_EMISSION = 1_000 * 10**18
SHARE_MINT, SHARE_TRANSFER = 0.30, 0.55  # the rest are burns

_TRANSFER = bytes.fromhex(TOPIC0["Transfer"][2:])
_VOTE = bytes.fromhex(TOPIC0["VoteCast"][2:])
_CONTRIBUTION = bytes.fromhex(TOPIC0["ContributionAccepted"][2:])


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
        t = [np.zeros((n, 32), np.uint8) if x is None else x for x in topics]
        present = [np.full(n, x is not None) for x in topics]
        wide = np.zeros((n, 160), np.uint8)
        wide[:, :data.shape[1]] = data
        self.parts.append({
            "block": block, "address": address, "t1": t[0], "t2": t[1], "t3": t[2],
            "p1": present[0], "p2": present[1], "p3": present[2],
            "topic0": np.broadcast_to(np.frombuffer(topic0, np.uint8), (n, 32)),
            "data": wide, "len": np.full(n, data.shape[1], np.int64),
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


def _share(total: int, chunk: int, chunks: int) -> int:
    """How many of ``total`` items fall in chunk ``chunk`` of ``chunks`` (exact split)."""
    return total * (chunk + 1) // chunks - total * chunk // chunks


def generate(logs: int, out: Path, seed: int = 7) -> dict[str, object]:
    """Write the files and config for ``logs`` measured-epoch Transfer logs; return a summary."""
    started = time.monotonic()
    out = Path(out)
    files = out / "files"
    files.mkdir(parents=True, exist_ok=True)
    world = World(logs, seed)
    (out / "aimg.toml").write_text(world.config_toml())
    zero = np.zeros((1, 20), np.uint8)
    chunks = BLOCKS_PER_EPOCH // FILE_BLOCKS + (BLOCKS_PER_EPOCH % FILE_BLOCKS > 0)
    votes, contributions = logs // 200, logs // 2_000
    mint_order = np.random.default_rng([seed, 1]).permutation(world.holdings)
    sends = np.zeros(world.holdings, np.int64)
    counts = {"epoch0_logs": 0, "epoch1_logs": 0, "epoch1_transfers": 0}
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

            if epoch == 0:  # opening mints: one per holding, big (>= 2**78)
                a = world.holdings * c // chunks
                b = world.holdings * (c + 1) // chunks
                h = mint_order[a:b]
                value = rng.integers(1 << 62, 1 << 63, size=len(h), dtype=np.uint64) * 2
                chunk.add(_TRANSFER, blocks(len(h)), world.token_addr[world.h_token[h]],
                             [_padded(np.broadcast_to(zero, (len(h), 20))),
                              _padded(world.account_addr[world.h_account[h]]), None],
                             _u64_word(value, shift_bytes=2))
                n_transfers = len(h)
                n_votes, n_contrib = _share(max(votes // 10, 1), c, chunks), _share(
                    max(contributions // 10, 1), c, chunks)
            else:
                n = _share(logs, c, chunks)
                n_transfers = n
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
                value = rng.integers(0, 1 << 60, size=n, dtype=np.uint64)
                chunk.add(_TRANSFER, blocks(n), world.token_addr[tok],
                             [_padded(sender), _padded(receiver), None], _u64_word(value))
                n_votes, n_contrib = _share(votes, c, chunks), _share(contributions, c, chunks)
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
            table = chunk.table(rng)
            counts[f"epoch{epoch}_logs"] += table.num_rows
            if epoch == 1:
                counts["epoch1_transfers"] += n_transfers
            name = f"{NETWORK}__logs__{lo:08d}_to_{hi:08d}.parquet"
            pq.write_table(table, files / f".{name}.tmp", compression="zstd")
            (files / f".{name}.tmp").rename(files / name)
    if sends.max() >= 1 << 18:
        raise AssertionError("a holding sends too often: balances could go negative")
    # blocks: every block of both epochs plus one past the end (so epoch 1 is final)
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
        "holdings": world.holdings, **counts,
        "seconds": round(time.monotonic() - started, 2),
    }
    (out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    return summary


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--logs", type=int, required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    print(json.dumps(generate(args.logs, args.out, args.seed)))


if __name__ == "__main__":
    main()
