"""The end-of-run summary, `inspect` and error messages show input-derived strings safely: every
control character escaped, long names cut, one line per message, while the manifest keeps the
names as read."""
import contextlib
import io
import json

import pytest
import zstandard

from pipeline.cli import main
from pipeline.summary import summary
from transforms.display import NAME_CHARS

IN_MEMORY = ["--direct_running_mode=in_memory"]
HOSTILE = {  # pile_set_name -> how the summary shows it
    "\x1b[31mRED\x1b[0m": "\\x1b[31mRED\\x1b[0m",
    "nul\x00name": "nul\\x00name",
    "two\nlines": "two\\nlines",
    "c1\x9b2J": "c1\\x9b2J",
    "del\x7f": "del\\x7f",
    "bidi\u202eevil": "bidi\\u202eevil",
    "L" * 5000: "L" * (NAME_CHARS - 3) + "...",
}
RAW_CONTROLS = [chr(c) for c in range(0x20) if chr(c) != "\n"] + ["\x7f", "\x9b", "\u202e"]


def _safe(text: str):
    assert not [c for c in RAW_CONTROLS if c in text], "a control character reached the terminal"
    assert max(len(line) for line in text.splitlines()) < 320, "a long name reached the terminal whole"


@pytest.fixture(scope="module")
def hostile_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("hostile")
    words = " ".join(f"word{i}" for i in range(700))
    lines = [json.dumps({"text": f"{name[:20]} {words} \x1b[2J\u202e end", "meta": {"pile_set_name": name}})
             for name in ["Pile-CC", *HOSTILE]]
    (root / "in.jsonl").write_text("\n".join(lines) + "\n")
    out, stdout = root / "out", io.StringIO()
    with contextlib.redirect_stdout(stdout):
        assert main(["run", "--input", str(root / "in.jsonl"), "--output", str(out), "--rules", "none",
                     "--normalize", "off", "--no-documents"] + IN_MEMORY) == 0
    return out, stdout.getvalue()


def test_run_summary_escapes_and_cuts_sources_but_the_manifest_keeps_them(hostile_run):
    out, printed = hostile_run
    assert "pileprep run summary" in printed
    _safe(printed)
    for shown in HOSTILE.values():
        assert f"\n{shown} " in printed  # a row of the table, starting with the shown name
    manifest = json.loads((out / "manifest.json").read_text())
    assert set(manifest["counts"]["by_source"]) == {"Pile-CC", *HOSTILE}


def test_summary_of_damaged_inputs_with_hostile_paths(hostile_run):
    out, _ = hostile_run
    manifest = json.loads((out / "manifest.json").read_text())
    manifest["damaged_inputs"] = ["/data/\x1b]0;title\x07/" + "p" * 5000 + ".jsonl.zst"]
    text = summary(manifest)
    _safe(text)
    assert "DAMAGED INPUT (kept what was read before the damage): /data/\\x1b]0;title\\x07/ppp" in text


def test_inspect_shows_sources_and_decoded_text_safely(hostile_run, capsys):
    out, _ = hostile_run
    assert main(["inspect", str(out), "--decode", "3"]) == 0
    printed = capsys.readouterr().out
    described, rows = printed.split("--- row 0", 1)
    _safe(described)
    for shown in HOSTILE.values():
        assert f"\n{shown} " in described
    assert not [c for c in RAW_CONTROLS if c in rows]  # decoded text keeps its length and newlines
    assert "\\x1b[2J\\u202e end" in printed  # the text's own escape sequence, shown, not obeyed


def test_error_naming_a_hostile_file_is_one_safe_line(tmp_path, capsys):
    bad = tmp_path / "in"
    bad.mkdir()
    name = "evil\x1b[2J\nforged line\u202e.jsonl.zst"
    data = zstandard.ZstdCompressor().compress(b'{"text": "hello"}\n' * 2000)
    (bad / name).write_bytes(data[: len(data) // 2])
    assert main(["run", "--input", str(bad / "*"), "--output", str(tmp_path / "o")] + IN_MEMORY) == 2
    err = capsys.readouterr().err
    message = [line for line in err.splitlines() if line.startswith("pileprep: error:")]
    assert len(message) == 1 and "evil\\x1b[2J\\nforged line\\u202e.jsonl.zst is damaged" in message[0]
    assert "\x1b" not in err and "\u202e" not in err
