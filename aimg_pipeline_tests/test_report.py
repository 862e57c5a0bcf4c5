"""The epoch report: exact formatting, the Gini coefficient, a page per demo epoch linked
from Dagster's metadata, self-contained (no network), and a headless-Chromium screenshot."""

from __future__ import annotations

import base64
import json
import re
import shutil
import struct
from fractions import Fraction
from pathlib import Path
from typing import Any

import dagster as dg
import pytest

from aimg_pipeline import cli
from aimg_pipeline.report.figures import aimg, gini, percent, units
from aimg_pipeline.report.page import find_chromium, report_path, screenshot, write_report
from aimg_pipeline.report.yields import apr_text, load_yields
from aimg_pipeline.warehouse import TABLES, Warehouse

SHOTS = Path("/tmp/aimg-report-screenshots")


def test_amounts_are_formatted_from_exact_integers() -> None:
    # 1234.567890123456789012 AIMG truncated to 2 decimals
    assert aimg(1_234_567_890_123_456_789_012) == "1,234.56"
    assert aimg(2**128 - 1, 0) == f"{(2**128 - 1) // 10**18:,}"  # no float rounding
    assert aimg(-5 * 10**17) == "-0.50"
    assert aimg(1) == "0.00"
    assert percent(1, 3) == "33.33 %" and percent(2, 3) == "66.67 %"
    assert percent(0, 0) == "–"
    assert units(2**100, 2) == "1,267,650,600,228.22"  # a float would round up to .23
    assert units(30, 4) == "0.0000" and units(15 * 10**15, 4) == "0.0150"
    assert apr_text(0.123456) == "12.35 %" and apr_text(None) == "–"


def test_gini_by_hand() -> None:
    assert gini([5, 5, 5, 5]) == 0
    # [1, 3]: mean |xi - xj| over all 4 ordered pairs = 4/4 = 1, G = 1 / (2 * mean 2) = 1/4
    assert gini([3, 1]) == Fraction(1, 4)
    # one of n takes everything: G = (n - 1) / n among recipients; zeros are not recipients
    assert gini([0, 0, 10]) == 0
    assert gini([1, 1, 1, 10**30]) == Fraction(2 * (1 + 2 + 3 + 4 * 10**30), 4 * (3 + 10**30)) \
        - Fraction(5, 4)


def test_every_demo_epoch_has_a_self_contained_report(demo: dict[str, Any]) -> None:
    for epoch in demo["epochs"]:
        page = report_path(demo["home"], epoch).read_text()
        assert f"epoch {epoch}" in page
        for section in ("Checks", "Emission curve to date", "Channel split",
                        "Allocation by agent and pool", "Distribution of recipients",
                        "Top ", "Epoch over epoch", "Yield"):
            assert f"<h2>{section}" in page
        # the report depends on the yield assets: their tables and both yield charts are there
        assert f"<h3>Pools, epoch {epoch}</h3>" in page
        assert f"<h3>Vaults, epoch {epoch}</h3>" in page
        assert len(re.findall(r"src='data:image/png;base64,", page)) == 5 + 2
        assert not re.search(r"(src|href)=['\"]?(https?:)?//", page)  # nothing to fetch
        assert "<script" not in page
        assert "FAIL</span>" not in page
    # the emission of the last epoch, in AIMG, as the schedule gives it (SPEC 5 by hand)
    raw = demo["raw_config"]
    emission = int(raw["deployment"]["initial_emission"])
    for e in range(1, demo["epochs"][-1] + 1):
        version = [v for v in raw["policy"] if v["effective_from_epoch"] <= e][-1]
        emission = max(int(version["tail_emission"]),
                       emission * (10_000 - version["decay_bps"]) // 10_000)
    last_page = report_path(demo["home"], demo["epochs"][-1]).read_text()
    assert f"{emission // 10**18:,} AIMG" in last_page
    assert f"<span class='mono'>{emission}</span>" in last_page  # exact wei in the table


def test_report_is_linked_from_the_asset_metadata(demo: dict[str, Any]) -> None:
    for epoch, result in zip(demo["epochs"], demo["results"], strict=True):
        event = [m for m in result.get_asset_materialization_events()
                 if m.asset_key == dg.AssetKey(["publish", "epoch_report"])][0]
        metadata = event.materialization.metadata
        assert metadata["report"].value == str(report_path(demo["home"], epoch))
        assert metadata["open"].value == report_path(demo["home"], epoch).resolve().as_uri()


def test_aimg_report_command(demo: dict[str, Any], tmp_path: Path,
                             monkeypatch: pytest.MonkeyPatch,
                             capsys: pytest.CaptureFixture[str]) -> None:
    home = tmp_path / "home"
    shutil.copytree(demo["home"] / "published", home / "published")
    monkeypatch.setenv("AIMG_HOME", str(home))
    monkeypatch.setenv("AIMG_CONFIG", demo["env"]["AIMG_CONFIG"])
    assert cli.main(["report", "--epoch", "1"]) == 0
    assert str(report_path(home, 1)) in capsys.readouterr().out
    assert "atlas vault" in report_path(home, 1).read_text()  # names from the config


def _png_bytes_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    return struct.unpack(">II", data[16:24])


def _png_size(path: Path) -> tuple[int, int]:
    return _png_bytes_size(path.read_bytes())


def _yield_row(table: str, **values: Any) -> dict[str, Any]:
    """A row of ``table`` with every column (None unless given), big integers as ints."""
    schema, _ = TABLES[table]
    return {name: values.get(name) for name in schema.names}


def _write_yields(home: Path, config: Any, epoch: int, scale: int) -> None:
    """Epoch ``epoch``'s pool_yield and vault_yield of the demo's atlas and nova pools and the
    AIMG and atlas vaults; the numbers of ``scale`` 1 are the ones the test reads back."""
    atlas, nova = (next(a for a in config.agents if a.name == n) for n in ("atlas", "nova"))
    wei = 10**18
    warehouse = Warehouse(home)
    warehouse.write_rows("pool_yield", epoch, [
        _yield_row("pool_yield", epoch=epoch, pool=atlas.pools[0].address,
                   pool_name=atlas.pools[0].name, agent="atlas", token0=atlas.token,
                   token1=config.aimg_token, fee_bps=30, swaps=12 * scale,
                   volume0=1_234_567_890_123_456_789_012 * scale, volume1=5 * wei * scale,
                   fees0=3_703_703_670_370_370_367 * scale, fees1=15 * 10**15 * scale,
                   price_aimg=0.25, tvl_aimg=2_000_000 * wei + 5 * 10**17,
                   emissions=987_654_321_987_654_321_987 * scale,
                   fees_aimg=123_456_789 * 10**9 * scale, fee_apr=0.123456 * scale,
                   emission_apr=2.5 * scale, total_apr=(0.123456 + 2.5) * scale),
        # paired with another token than AIMG: no price, TVL nor APR, and the note says why
        _yield_row("pool_yield", epoch=epoch, pool=nova.pools[0].address,
                   pool_name=nova.pools[0].name, agent="nova", token0=nova.token,
                   token1="0x" + "ab" * 20, fee_bps=25, swaps=3, volume0=2**100, volume1=0,
                   fees0=2**100 * 25 // 10_000, fees1=0, emissions=4 * wei,
                   note="not paired with $AIMG"),
    ])
    warehouse.write_rows("vault_yield", epoch, [
        _yield_row("vault_yield", epoch=epoch, vault=config.aimg_vault, vault_name="aimg",
                   asset=config.aimg_token, price_aimg=1.0, staked_aimg=1_000 * wei,
                   emissions=7 * wei * scale, emission_apr=0.0912 * scale),
        _yield_row("vault_yield", epoch=epoch, vault=atlas.vault, vault_name="atlas",
                   agent="atlas", asset=atlas.token, emissions=3 * wei,
                   note="totalAssets() not callable at the epoch's last block"),
    ])


def test_yield_section(demo: dict[str, Any], tmp_path: Path) -> None:
    """Pool and vault tables from exact integers, the trend charts, skipped and missing
    epochs: a home with the demo's published folders and hand-written yield files."""
    home, config = tmp_path / "home", demo["config"]
    shutil.copytree(demo["home"] / "published", home / "published")
    _write_yields(home, config, 1, 2)
    _write_yields(home, config, 3, 1)  # epoch 2 has no file: skipped in the trends
    assert load_yields(home, 3).epochs == [1, 3]

    page = write_report(home, 3, config).read_text()
    section = page[page.index("<h2>Yield</h2>"):]
    section = section[:section.index("</section>")]
    atlas_pool = config.agents[[a.name for a in config.agents].index("atlas")].pools[0].name
    num = "<td class='num'>"
    # atlas pool: fees0 = floor(1234.567890123456789012e18 × 30 / 10000) wei = 3.7037… atlas
    assert (f"<td class=''><b>{atlas_pool}</b><br><small>atlas / AIMG · fee 0.30 %</small>"
            f"</td>{num}12</td>"
            f"{num}<span title='1234567890123456789012 wei'>1,234.56</span></td>"
            f"{num}<span title='5000000000000000000 wei'>5.00</span></td>"
            f"{num}<span title='3703703670370370367 wei'>3.7037</span></td>"
            f"{num}<span title='15000000000000000 wei'>0.0150</span></td>"
            f"{num}<span title='2000000500000000000000000 wei'>2,000,000.50</span></td>"
            f"{num}<span title='123456789000000000 wei'>0.1234</span></td>"
            f"{num}<span title='987654321987654321987 wei'>987.65</span></td>"
            f"{num}12.35 %</td>{num}250.00 %</td>{num}262.35 %</td><td class=''></td>"
            ) in section
    # nova pool: 2^100 wei truncated (never through a float), no TVL/APR, the note
    assert "<span title='1267650600228229401496703205376 wei'>1,267,650,600,228.22</span>" \
        in section
    assert (f"{num}–</td>{num}–</td>{num}<span title='4000000000000000000 wei'>4.00</span>"
            f"</td>{num}–</td>{num}–</td>{num}–</td><td class=''>not paired with $AIMG</td>"
            ) in section
    assert "nova / 0xababab…ababab · fee 0.25 %" in section
    # the biggest pool by TVL first (nova has none)
    assert section.index(f"<b>{atlas_pool}</b>") < section.index("<b>nova")
    # vaults: AIMG staked 1,000, earned 7, APR 9.12 %; atlas's totalAssets not callable
    assert ("<td class=''>aimg vault</td><td class=''>AIMG</td>"
            f"{num}<span title='1000000000000000000000 wei'>1,000.00</span></td>"
            f"{num}<span title='7000000000000000000 wei'>7.00</span></td>{num}9.12 %</td>"
            "<td class=''></td>") in section
    assert ("<td class=''>atlas vault</td><td class=''>atlas</td>"
            f"{num}–</td>{num}<span title='3000000000000000000 wei'>3.00</span></td>"
            f"{num}–</td><td class=''>totalAssets() not callable at the epoch&#x27;s last block"
            "</td>") in section  # html.escape: ' is &#x27;
    assert "<h3>Pools over epochs 1–3 (every pool)</h3>" in section
    for alt in ("pool yield", "vault emission APR"):
        found = re.search(rf"<img alt='{alt}' src='data:image/png;base64,([A-Za-z0-9+/=]+)'>",
                          section)
        assert found, alt
        width, height = _png_bytes_size(base64.b64decode(found.group(1)))
        assert width > 800 and height > 200
    assert len(re.findall(r"src='data:image/png;base64,", page)) == 5 + 2

    # epoch 4 has no pool_yield file: one line, no yield chart, the rest of the report intact
    page = write_report(home, 4, config).read_text()
    assert ("<section><h2>Yield</h2><p class='note'>Yield for epoch 4: the yield assets were "
            "not materialized (no pool_yield file for this epoch).</p></section>") in page
    assert len(re.findall(r"src='data:image/png;base64,", page)) == 5

    # pool_yield without vault_yield: the pools, and a line for the vaults
    Warehouse(home).path("vault_yield", 3).unlink()
    page = write_report(home, 3, config).read_text()
    assert ("<p class='note'>Vaults for epoch 3: not materialized (no vault_yield file for "
            "this epoch).</p>") in page
    assert len(re.findall(r"src='data:image/png;base64,", page)) == 5 + 1


@pytest.mark.skipif(find_chromium() is None,
                    reason="chromium is not installed (Debian: apt-get install chromium); "
                    "the screenshot is optional, the report itself is tested above")
def test_screenshot_of_the_last_epoch_report(demo: dict[str, Any], tmp_path: Path) -> None:
    page = report_path(demo["home"], demo["epochs"][-1])
    png = screenshot(page, tmp_path / "report.png")
    assert _png_size(png) == (1400, 2400)
    assert png.stat().st_size > 100_000  # plots, not a blank page
    SHOTS.mkdir(exist_ok=True)  # kept for a person to look at
    shutil.copy(png, SHOTS / f"epoch-{demo['epochs'][-1]:05d}.png")


def test_report_shows_the_distribution_steps_verification(demo: dict[str, Any],
                                                         tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    """The report does not verify a second time: it shows the result the distribution step
    saved for that Merkle root, and verifies itself only when there is none for that root."""
    import json

    import aimg_pipeline.report.figures as figures

    for epoch in demo["epochs"]:
        saved = json.loads(figures.verification_path(demo["home"], epoch).read_text())
        manifest = json.loads((demo["home"] / "published" / f"epoch-{epoch:05d}" /
                               "manifest.json").read_text())
        assert saved["merkle_root"] == manifest["merkle_root"]
        assert saved["accounts"] == manifest["accounts"]
        assert saved["checked_previous"] == (epoch > 0)
        assert "verified by the distribution step" in report_path(demo["home"], epoch).read_text()

    home = tmp_path / "home"
    shutil.copytree(demo["home"] / "published", home / "published")
    shutil.copytree(demo["home"] / "reports", home / "reports")
    calls: list[Path] = []
    real = figures.verify
    monkeypatch.setattr(figures, "verify", lambda folder: calls.append(folder) or real(folder))
    page = write_report(home, 2, demo["config"]).read_text()
    assert calls == [] and "verified by the distribution step" in page
    stale = figures.verification_path(home, 2)
    stale.write_text(json.dumps({**json.loads(stale.read_text()), "merkle_root": "0x" + "00" * 32}))
    page = write_report(home, 2, demo["config"]).read_text()
    assert len(calls) == 1 and "verified now" in page


def test_claim_amounts_match_the_claims_file(demo: dict[str, Any]) -> None:
    """The scan that replaces parsing claims.json finds exactly what json.loads finds."""
    import json

    from aimg_pipeline.report.figures import claim_amounts

    root = demo["home"] / "published"
    last = demo["epochs"][-1]
    claims = json.loads((root / f"epoch-{last:05d}" / "claims.json").read_text())["claims"]
    accounts = sorted(claims)[::7] + ["0x" + "Ab" * 20]  # the last one has no claim
    assert claim_amounts(root, last, accounts) == {
        a: int(claims[a]["amount"]) for a in accounts if a in claims}
    assert len(claim_amounts(root, last, list(claims))) == len(claims)


def test_at_protocol_scale_the_vault_chart_shows_the_largest_vaults() -> None:
    """334 vaults (the bench's) make an unreadable chart that takes seconds to draw: the
    chart keeps the $AIMG vault and the agent vaults with the largest emissions, 8 in all."""
    from aimg_pipeline.report.yields import MAX_VAULT_CHARTS, YieldHistory, charted_vaults

    def vault(i: int, emissions: int, agent: str | None) -> dict[str, Any]:
        return _yield_row("vault_yield", epoch=3, vault=f"0x{i:040x}", agent=agent,
                          vault_name=agent or "aimg", emissions=emissions,
                          emission_apr=0.01 * i)

    rows = [vault(0, 5, None)] + [vault(i, (i * 7) % 11 * 10**18 + i, f"agent{i:02d}")
                                  for i in range(1, 12)]
    charted = charted_vaults(YieldHistory(epoch=3, vaults={3: rows}))
    # emissions (i * 7 % 11) * 10^18 + i: i = 8 -> 1, 5 -> 2, 2 -> 3, 10 -> 4, 7 -> 5,
    # 4 -> 6, 1 -> 7, 9 -> 8, 6 -> 9, 3 -> 10, 11 -> 0 (x 10^18); the 7 largest after aimg
    assert MAX_VAULT_CHARTS == 8
    assert [s.name for s in charted] == ["aimg vault"] + [
        f"agent{i:02d} vault" for i in (3, 6, 9, 1, 4, 7, 10)]
    assert charted[1].emission_apr == [0.03]


def _trend_by_hand(folder: Path) -> tuple[int, Fraction]:
    """Recipients and Gini of a published epoch from its allocations.csv, with the mean
    absolute difference form of the Gini (sum |x_i - x_j| / (2 n sum x)), not the report's."""
    import csv

    received: dict[str, int] = {}
    with open(folder / "allocations.csv", newline="") as handle:
        for row in csv.DictReader(handle):
            received[row["account"].lower()] = received.get(row["account"].lower(), 0) + int(
                row["amount"])
    xs = [v for v in received.values() if v > 0]
    spread = sum(abs(a - b) for a in xs for b in xs)
    return len(xs), Fraction(spread, 2 * len(xs) * sum(xs))


def test_trend_points_are_kept_and_tied_to_the_manifest(demo: dict[str, Any],
                                                        tmp_path: Path) -> None:
    """An earlier epoch's trend point is read from its saved file only while that file was
    computed from the manifest published now; otherwise it is computed again."""
    from aimg_pipeline.report.figures import load_trend

    home = tmp_path / "home"
    shutil.copytree(demo["home"] / "published", home / "published")
    shutil.copytree(demo["home"] / "reports", home / "reports")
    root = home / "published"
    for epoch in demo["epochs"]:
        point = load_trend(home, root, epoch)
        assert (point.recipients, point.gini) == _trend_by_hand(root / f"epoch-{epoch:05d}")
    saved = home / "reports" / "epoch-00002.trend.json"
    kept = json.loads(saved.read_text())
    saved.write_text(json.dumps({**kept, "recipients": 1}))  # the saved point is what is read
    assert load_trend(home, root, 2).recipients == 1
    saved.write_text(json.dumps({**kept, "recipients": 1, "manifest_sha256": "0" * 64}))
    assert load_trend(home, root, 2).recipients == _trend_by_hand(root / "epoch-00002")[0]
    assert json.loads(saved.read_text()) == kept  # and saved again, for the manifest of now
    saved.unlink()
    assert load_trend(home, root, 2).recipients == kept["recipients"]
