"""The epoch report: exact formatting, the Gini coefficient, a page per demo epoch linked
from Dagster's metadata, self-contained (no network), and a headless-Chromium screenshot."""

from __future__ import annotations

import re
import shutil
import struct
from fractions import Fraction
from pathlib import Path
from typing import Any

import dagster as dg
import pytest

from aimg_pipeline import cli
from aimg_pipeline.report.figures import aimg, gini, percent
from aimg_pipeline.report.page import find_chromium, report_path, screenshot

SHOTS = Path("/tmp/aimg-report-screenshots")


def test_amounts_are_formatted_from_exact_integers() -> None:
    # 1234.567890123456789012 AIMG truncated to 2 decimals
    assert aimg(1_234_567_890_123_456_789_012) == "1,234.56"
    assert aimg(2**128 - 1, 0) == f"{(2**128 - 1) // 10**18:,}"  # no float rounding
    assert aimg(-5 * 10**17) == "-0.50"
    assert aimg(1) == "0.00"
    assert percent(1, 3) == "33.33 %" and percent(2, 3) == "66.67 %"
    assert percent(0, 0) == "–"


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
                        "Top ", "Epoch over epoch"):
            assert f"<h2>{section}" in page
        assert len(re.findall(r"src='data:image/png;base64,", page)) == 5
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


def _png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    return struct.unpack(">II", data[16:24])


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
