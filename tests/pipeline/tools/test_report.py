"""pileprep report on a small real run: every chart embedded with its heading, nothing fetched from the
network, a fallback of tables without matplotlib, and the page rendered by a real headless Chromium."""
import argparse
import base64
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from pipeline.cli import main
from pipeline.tools.report import add_parser, cmd_report, render, write_report

CHROMIUM = "/usr/bin/chromium"
HEADINGS = ("Tokens and documents per source", "Documents removed",
            "Document lengths before and after filtering", "Token budget per Cerebras-GPT size",
            "Training loss")
_IMG = re.compile(r'<img alt="[^"]*" src="data:image/png;base64,([A-Za-z0-9+/=]+)">')


@pytest.fixture(scope="module")
def run(real_run, tmp_path_factory):
    out = tmp_path_factory.mktemp("report") / "run"
    shutil.copytree(real_run, out)  # the report is written into the run, with a training log beside it
    (out / "train").mkdir()
    log = [json.dumps({"step": step, "loss": 10.8 * 0.99 ** step, "lr": 6e-4}) for step in range(0, 200, 10)]
    log.append('{"step": 200, "lo')  # a trainer still writing: the cut line is skipped
    (out / "train" / "log.jsonl").write_text("\n".join(log))
    return out


@pytest.fixture(scope="module")
def report(run):
    pytest.importorskip("matplotlib")
    return write_report(str(run))


def test_every_chart_is_an_embedded_png_under_its_heading(report, run):
    assert report == os.path.join(str(run), "report.html")
    page = Path(report).read_text(encoding="utf-8")
    sections = page.split("<h2>")
    for heading in HEADINGS:
        section = next(s for s in sections if s.startswith(heading + "</h2>"))
        png = base64.b64decode(_IMG.search(section).group(1), validate=True)
        assert png.startswith(b"\x89PNG\r\n\x1a\n") and len(png) > 5000, heading
    assert len(_IMG.findall(page)) == len(HEADINGS)


def test_page_is_self_contained(report):
    page = Path(report).read_text(encoding="utf-8")
    assert not re.search(r"https?://", page)
    assert not re.search(r"<(script|link|iframe)\b", page, re.IGNORECASE)
    assert not re.search(r"""(src|href)\s*=\s*["'](?!data:)""", page)


def test_headline_identity_and_shard_table(report, run):
    manifest = json.loads((run / "manifest.json").read_text())
    d = manifest["counts"]["documents"]
    page = Path(report).read_text(encoding="utf-8")
    assert (f"{d['read']:,} read = {d['malformed']:,} malformed + {d['filtered']:,} filtered + "
            f"{d['deduplicated']:,} deduplicated + {d['over_budget']:,} over budget + {d['packed']:,} packed") in page
    assert "DOES NOT ADD UP" not in page
    assert len(manifest["shards"]) > 1
    for shard in manifest["shards"]:
        assert f"<td class=\"\">{shard['path']}</td>" in page and shard["sha256"][:16] in page


def test_without_matplotlib_the_report_has_tables_and_says_so(run, monkeypatch, tmp_path):
    for name in [m for m in sys.modules if m == "matplotlib" or m.startswith("matplotlib.")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # import matplotlib -> ImportError
    page = Path(write_report(str(run), str(tmp_path / "r.html"))).read_text(encoding="utf-8")
    assert "matplotlib is not installed" in page and "<img" not in page
    for heading in HEADINGS:
        assert re.search(f"<h2>{heading}</h2>\n<(table|h3)>", page), heading
    assert "Github" in page and "empty_document" in page


def test_names_from_the_data_are_escaped(run, tmp_path):
    pytest.importorskip("matplotlib")
    copy = tmp_path / "run"
    copy.mkdir()
    manifest = json.loads((run / "manifest.json").read_text())
    by_source = manifest["counts"]["by_source"]
    by_source["<b>$5 bills</b>"] = by_source.pop(next(iter(by_source)))
    (copy / "manifest.json").write_text(json.dumps(manifest))
    page = render(str(copy))
    assert "<b>$5" not in page and "&lt;b&gt;$5 bills&lt;/b&gt;" in page


def test_cli_hook(run, tmp_path, capsys, monkeypatch):
    monkeypatch.setattr("pipeline.tools.report._pyplot", lambda: None)  # tables only: this checks the wiring
    parser = argparse.ArgumentParser()
    add_parser(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["report", str(run), "--out", str(tmp_path / "x.html")])
    assert cmd_report(args, []) == 0 and "<h2>Shards</h2>" in (tmp_path / "x.html").read_text()
    assert main(["report", str(tmp_path)]) == 2  # load_manifest's error, printed as a user error
    assert "no manifest.json" in capsys.readouterr().err


def _chromium(tmp_path, *args):
    if not os.path.exists(CHROMIUM):
        pytest.skip("chromium not installed: apt-get install chromium")
    cmd = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
           "--disable-background-networking", "--disable-component-update", "--disable-sync",
           f"--user-data-dir={tmp_path / 'profile'}", *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=True)


def test_chromium_screenshot_is_not_blank(report, tmp_path):
    image = pytest.importorskip("PIL.Image")
    shot = tmp_path / "shot.png"
    _chromium(tmp_path, f"--screenshot={shot}", "--window-size=1280,4000", f"file://{report}")
    assert shot.stat().st_size > 20_000
    with image.open(shot) as im:
        assert im.size == (1280, 4000)
        colours = im.convert("RGB").getcolors(maxcolors=1 << 20)
    assert colours is None or len(colours) > 50  # text, bars and axes, not one flat colour


def test_chromium_decodes_every_image(report, tmp_path):
    # a copy with a probe: after load, each <img> records its decoded width (0 if it did not decode)
    probe = tmp_path / "probe.html"
    page = Path(report).read_text(encoding="utf-8")
    script = ("<script>window.addEventListener('load',()=>{for(const i of document.images)"
              "i.setAttribute('data-decoded',i.complete&&i.naturalWidth>0?i.naturalWidth:0);"
              "document.body.setAttribute('data-loaded','yes')})</script>")
    probe.write_text(page.replace("</body>", script + "</body>"), encoding="utf-8")
    dom = _chromium(tmp_path, "--virtual-time-budget=10000", "--dump-dom", f"file://{probe}").stdout
    assert 'data-loaded="yes"' in dom
    widths = re.findall(r'<img[^>]*data-decoded="(\d+)"', dom)
    assert len(re.findall(r"<img\b", dom)) == len(widths) == len(HEADINGS)
    assert all(int(w) > 300 for w in widths), widths
