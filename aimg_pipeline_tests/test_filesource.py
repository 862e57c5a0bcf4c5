"""The cryo-layout Parquet file source gives exactly the raw_logs of JSON-RPC ingestion.

The demo chain is exported here to cryo's layout by this test's own code (a plain unfiltered
``eth_getLogs`` per 100-block file, written with the column types cryo's ``logs`` dataset
has: UInt32 numbers, binary(32) hashes, binary(20) addresses, NULL topics, plus ``blocks``
files with hash and timestamp), once binary and once ``--hex``. Ingesting every demo epoch
from those files must store tables equal to RPC ingestion's. Small synthetic files check the
refusals: a block range no logs file covers, a block missing from the blocks files, an
epoch the files do not reach past.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import dagster as dg
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from web3 import HTTPProvider

from aimg_pipeline.decode.logs import decode_epoch
from aimg_pipeline.ingest.chain import ChainClient, ChainError, EpochNotFinalError
from aimg_pipeline.ingest.files import FileSource, FileSourceError
from aimg_pipeline.ingest.rpc import ingest_epoch
from aimg_pipeline.lib.config import load_config
from aimg_pipeline.lib.events import TOPIC0
from aimg_pipeline.warehouse import Warehouse
from aimg_pipeline_tests.fakechain import word

FILE_BLOCKS = 100


def _b(value: str | None) -> bytes | None:
    return None if value is None else bytes.fromhex(value[2:])


def export_cryo(url: str, last_block: int, chain_id: int, directory: Path, hex_: bool) -> None:
    """Write {network}__logs__ and __blocks__ files of FILE_BLOCKS blocks each, as cryo does."""
    provider = HTTPProvider(url)
    directory.mkdir(parents=True)
    enc = (lambda v: v.lower() if v is not None else None) if hex_ else _b
    kind = pa.string() if hex_ else pa.binary()
    for start in range(0, last_block + 1, FILE_BLOCKS):
        end = min(last_block, start + FILE_BLOCKS - 1)
        logs = provider.make_request("eth_getLogs", [{"fromBlock": hex(start),
                                                       "toBlock": hex(end)}])["result"]
        topics = [[(g["topics"] + [None] * 4)[i] for g in logs] for i in range(4)]
        table = pa.table({
            "block_number": pa.array([int(g["blockNumber"], 16) for g in logs], pa.uint32()),
            "transaction_index": pa.array([int(g["transactionIndex"], 16) for g in logs],
                                          pa.uint32()),
            "log_index": pa.array([int(g["logIndex"], 16) for g in logs], pa.uint32()),
            "transaction_hash": pa.array([enc(g["transactionHash"]) for g in logs], kind),
            "address": pa.array([enc(g["address"]) for g in logs], kind),
            **{f"topic{i}": pa.array([enc(t) for t in topics[i]], kind) for i in range(4)},
            "data": pa.array([enc(g["data"]) for g in logs], kind),
            "n_data_bytes": pa.array([(len(g["data"]) - 2) // 2 for g in logs], pa.uint32()),
            "chain_id": pa.array([chain_id] * len(logs), pa.uint64()),
        })
        pq.write_table(table, directory / f"devchain__logs__{start:08}_to_{end:08}.parquet")
        blocks = [provider.make_request("eth_getBlockByNumber", [hex(n), False])["result"]
                  for n in range(start, end + 1)]
        pq.write_table(pa.table({
            "block_number": pa.array([int(b["number"], 16) for b in blocks], pa.uint32()),
            "block_hash": pa.array([enc(b["hash"]) for b in blocks], kind),
            "timestamp": pa.array([int(b["timestamp"], 16) for b in blocks], pa.uint32()),
            "gas_used": pa.array([int(b["gasUsed"], 16) for b in blocks], pa.uint64()),
        }), directory / f"devchain__blocks__{start:08}_to_{end:08}.parquet")


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory, demo_chain):
    home = tmp_path_factory.mktemp("filesource")
    chain, summary = demo_chain["chain"], demo_chain["summary"]
    shutil.copy(demo_chain["config_path"], home / "aimg.toml")
    config = load_config(home / "aimg.toml")
    epochs = list(range(summary["last_closed_epoch"] + 1))
    rpc = Warehouse(home / "rpc")
    client = ChainClient(chain.url)
    for epoch in epochs:
        ingest_epoch(client, config, rpc, epoch)
    for variant, hex_ in (("binary", False), ("hex", True)):
        export_cryo(chain.url, summary["last_block"], summary["chain_id"],
                    home / variant, hex_)
    yield {"home": home, "config": config, "epochs": epochs, "rpc": rpc,
           "url": chain.url, "config_path": home / "aimg.toml"}


@pytest.mark.parametrize("variant", ["binary", "hex"])
def test_file_source_equals_rpc_ingestion(demo, variant: str) -> None:
    files = Warehouse(demo["home"] / f"from-{variant}")
    source = FileSource(demo["home"] / variant)
    progress: list[str] = []
    for epoch in demo["epochs"]:
        source.ingest_epoch(demo["config"], files, epoch, progress=progress.append)
        for table in ("raw_logs", "epochs"):
            assert files.read(table, epoch).equals(demo["rpc"].read(table, epoch)), (table, epoch)
    assert sum(files.read("raw_logs", e).num_rows for e in demo["epochs"]) > 400
    assert any("blocks" in line and "logs/s" in line for line in progress)


def test_raw_asset_reads_files_when_configured(demo, tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    from aimg_pipeline.definitions import defs

    monkeypatch.setenv("AIMG_HOME", str(tmp_path))
    monkeypatch.setenv("AIMG_CONFIG", str(demo["config_path"]))
    monkeypatch.setenv("AIMG_RPC_URL", "http://127.0.0.1:9/unused")  # files only: never read
    calendar = demo["config"].calendar()
    keys = [calendar.partition_key(e) for e in (0, 1)]
    job = defs.resolve_implicit_global_asset_job_def()
    run_config = {"ops": {"raw__raw_logs": {"config": {
        "source": "files", "files_dir": str(demo["home"] / "binary")}}}}
    with dg.DagsterInstance.ephemeral() as instance:
        instance.add_dynamic_partitions("epochs", keys)
        for key in keys:
            result = job.execute_in_process(
                partition_key=key, instance=instance, run_config=run_config,
                asset_selection=[dg.AssetKey(["raw", "raw_logs"])])
            assert result.success
            materialization = result.asset_materializations_for_node("raw__raw_logs")[0]
            assert materialization.metadata["source"].value.startswith("files: ")
    stored = Warehouse(tmp_path)
    for epoch in (0, 1):
        assert stored.read("raw_logs", epoch).equals(demo["rpc"].read("raw_logs", epoch))


# --- refusals, on small synthetic files --------------------------------------------------

def _write_blocks(directory: Path, start: int, end: int, skip: int | None = None) -> None:
    numbers = [n for n in range(start, end + 1) if n != skip]
    pq.write_table(pa.table({
        "block_number": pa.array(numbers, pa.uint32()),
        "block_hash": pa.array([n.to_bytes(32, "big") for n in numbers], pa.binary()),
        "timestamp": pa.array([1_000 + 10 * n for n in numbers], pa.uint32()),
    }), directory / f"net__blocks__{start:08}_to_{end:08}.parquet")


def _write_logs(directory: Path, start: int, end: int) -> None:
    empty = pa.array([], pa.binary())
    pq.write_table(pa.table({
        "block_number": pa.array([], pa.uint32()), "transaction_index": pa.array([], pa.uint32()),
        "log_index": pa.array([], pa.uint32()), "transaction_hash": empty, "address": empty,
        "topic0": empty, "topic1": empty, "topic2": empty, "topic3": empty, "data": empty,
    }), directory / f"net__logs__{start:08}_to_{end:08}.parquet")


def _config(tmp_path: Path, demo_config_path: Path):
    """The demo config with genesis at t=1000 and 100 s epochs (blocks 10 s apart)."""
    text = demo_config_path.read_text()
    text = text.replace("genesis = 1767225600", "genesis = 1000")
    text = text.replace("epoch_seconds = 86400", "epoch_seconds = 100")
    path = tmp_path / "small.toml"
    path.write_text(text)
    return load_config(path)


def test_gaps_and_open_epochs_are_refused(demo, tmp_path: Path) -> None:
    config = _config(tmp_path, demo["config_path"])
    files = tmp_path / "files"
    files.mkdir()
    # blocks 0..99 (block n at 1000 + 10 n): epoch e holds blocks 10e..10e+9
    _write_blocks(files, 0, 49)
    _write_blocks(files, 50, 99, skip=73)
    _write_logs(files, 0, 29)
    _write_logs(files, 40, 99)
    warehouse = Warehouse(tmp_path / "home")
    source = FileSource(files)
    assert source.ingest_epoch(config, warehouse, 1).log_count == 0  # blocks 10..19
    with pytest.raises(FileSourceError, match=r"no logs file .* covers blocks 30\.\.39"):
        source.ingest_epoch(config, warehouse, 3)
    with pytest.raises(FileSourceError, match=r"lack 1 block\(s\) of 70\.\.79, first \[73\]"):
        source.ingest_epoch(config, warehouse, 7)
    # epoch 9 = [1900, 2000): the last block (99) is at 1990, nothing at or after 2000 yet;
    # 2000 s after the epoch = 1970-01-01T00:33:20Z
    with pytest.raises(EpochNotFinalError, match=r"final at 1970-01-01T00:33:20Z"):
        source.ingest_epoch(config, warehouse, 9)


def test_a_gap_across_an_epoch_boundary_is_an_error_naming_it(demo, tmp_path: Path) -> None:
    """Issue 13.3: blocks 8..11 missing straddle the boundary of epochs 0 and 1 (block 10 is
    epoch 1's first). Without the neighbours of the boundary the epochs would be cut at 7 and
    12 and the logs of 8..11 read by neither; both epochs refuse, naming the blocks."""
    config = _config(tmp_path, demo["config_path"])
    files = tmp_path / "files"
    files.mkdir()
    _write_blocks(files, 0, 7)
    _write_blocks(files, 12, 99)
    _write_logs(files, 0, 99)
    warehouse = Warehouse(tmp_path / "home")
    source = FileSource(files)
    with pytest.raises(FileSourceError, match=r"epoch 0: .* lack blocks 8\.\.11 \(just after "
                       r"block 7, the last found before 1970-01-01T00:18:20Z\)"):
        source.ingest_epoch(config, warehouse, 0)
    with pytest.raises(FileSourceError, match=r"epoch 1: .* lack blocks 8\.\.11 \(just before "
                       r"block 12, the first found at or after 1970-01-01T00:18:20Z\)"):
        source.ingest_epoch(config, warehouse, 1)
    assert source.ingest_epoch(config, warehouse, 2).from_block == 20  # untouched epochs work
    assert not warehouse.has("raw_logs", 0) and not warehouse.has("raw_logs", 1)


def _vote_logs(directory: Path, start: int, end: int, governor: str,
               votes: list[tuple[int, int, str]]) -> None:
    """A logs file of VoteCast logs (block, log index, data hex) on ``governor``."""
    topic0 = bytes.fromhex(TOPIC0["VoteCast"][2:])
    voter = bytes(12) + bytes.fromhex("a0" * 20)
    pq.write_table(pa.table({
        "block_number": pa.array([b for b, _, _ in votes], pa.uint32()),
        "transaction_index": pa.array([0] * len(votes), pa.uint32()),
        "log_index": pa.array([i for _, i, _ in votes], pa.uint32()),
        "transaction_hash": pa.array([bytes([b]) * 32 for b, _, _ in votes], pa.binary()),
        "address": pa.array([bytes.fromhex(governor[2:])] * len(votes), pa.binary()),
        "topic0": pa.array([topic0] * len(votes), pa.binary()),
        "topic1": pa.array([voter] * len(votes), pa.binary()),
        "topic2": pa.array([None] * len(votes), pa.binary()),
        "topic3": pa.array([None] * len(votes), pa.binary()),
        "data": pa.array([bytes.fromhex(d) for _, _, d in votes], pa.binary()),
    }), directory / f"net__logs__{start:08}_to_{end:08}.parquet")


def test_overlapping_logs_files_count_each_log_once(demo, tmp_path: Path) -> None:
    """Issue 13.4: two logs files both holding blocks 40..49 deliver block 45's vote twice;
    it is stored and counted once, and the drop is reported. Two *different* logs at one
    (block, log index) are refused."""
    config = _config(tmp_path, demo["config_path"])
    governor = config.agents[0].governor
    vote = (word(1) + word(1) + word(7) + word(0x80) + word(0))  # weight 7, reason ""
    files = tmp_path / "files"
    files.mkdir()
    _write_blocks(files, 0, 99)
    _vote_logs(files, 0, 49, governor, [(45, 0, vote)])
    _vote_logs(files, 40, 99, governor, [(45, 0, vote)])
    warehouse = Warehouse(tmp_path / "home")
    result = FileSource(files).ingest_epoch(config, warehouse, 4)  # blocks 40..49
    decode_epoch(config, warehouse, 4)
    votes = warehouse.read("votes", 4).to_pylist()
    assert [(v["block_number"], v["weight"]) for v in votes] == [(45, "7")]
    assert (result.log_count, result.duplicates_dropped) == (1, 1)

    other = tmp_path / "other"
    other.mkdir()
    _write_blocks(other, 0, 99)
    _vote_logs(other, 0, 49, governor, [(45, 0, vote)])
    _vote_logs(other, 40, 99, governor, [(45, 0, vote.replace(word(7), word(8)))])
    with pytest.raises(ChainError, match=r"two different logs at block 45, log index 0 \(they "
                       r"differ in data\)"):
        FileSource(other).ingest_epoch(config, Warehouse(tmp_path / "home2"), 4)
