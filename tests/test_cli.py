"""The CLI's JSON contracts and error handling (run in-process through ui.cli.main, plus the console script)."""
from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from corpus_factory import pattern_image, write_bad_files

from ui.cli import main


def _run(capsys, *args: str) -> tuple[int, object, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, (json.loads(out) if out.strip() and "--json" in args else out), err


@pytest.fixture
def corpus(tmp_path: Path) -> Path:
    root = tmp_path / "imgs"
    root.mkdir()
    rng = np.random.default_rng(1)
    for i in range(5):
        pattern_image((64, 64), tuple(tuple(int(c) for c in rng.integers(0, 255, 3)) for _ in range(4))).save(root / f"{i}.png")
    write_bad_files(root / "bad")
    return root


def test_index_search_status_json_contracts(capsys, corpus: Path, tmp_path: Path) -> None:
    ws = ["--workspace", str(tmp_path / "ws")]
    code, summary, _ = _run(capsys, "index", str(corpus), "--corpus", "c", "--profile", "tiny", "--workers", "0", "--json", *ws)
    assert code == 0
    assert {"added", "updated", "removed", "unchanged", "failed", "failures"} <= set(summary)
    assert summary["added"] == 5 and summary["failed"] == len(summary["failures"]) > 0
    assert all(set(f) == {"path", "reason"} and f["reason"] for f in summary["failures"])

    a, b, c = _indexed_ids(tmp_path / "ws")[:3]
    code, hits, _ = _run(capsys, "search", "--like", str(a), "-k", "3", "--no-collapse", "--json", *ws)
    assert code == 0 and len(hits) == 3 and hits[0]["id"] == a
    assert all({"id", "path", "score", "corpus", "space"} <= set(h) for h in hits)
    assert hits[0]["space"] == "content" and hits[0]["corpus"] == "c"
    assert hits[0]["score"] >= hits[1]["score"] >= hits[2]["score"]

    code, hits, _ = _run(capsys, "search", "--content", f"id:{b}", "--style", f"id:{c}", "--alpha", "0.5", "-k", "2",
                         "--json", *ws)
    assert code == 0 and hits[0]["space"] == "joint" and set(hits[0]["scores"]) == {"content", "style", "layout"}

    code, status, _ = _run(capsys, "status", "--failed", "--json", *ws)
    assert code == 0 and status["profile"] == "tiny"
    assert status["corpora"][0]["images"]["indexed"] == 5
    assert {s["name"] for s in status["spaces"]} == {"content", "style", "layout"}
    assert all(s["index"]["vectors"] == 5 for s in status["spaces"])
    assert {s["encoder_id"] for s in status["spaces"]} == {"tiny/efficientnet-lite", "tiny/magenta-style", "signature/luma-dct"}
    assert len(status["failed_files"]) == summary["failed"]


def _indexed_ids(home: Path) -> list[int]:
    from sqlalchemy import select

    from indexer.catalog.schema import ImageRecord
    from indexer.workspace import Workspace

    ws = Workspace.open(home)
    try:
        with ws.session() as s:
            return list(s.scalars(select(ImageRecord.id).where(ImageRecord.status == "indexed").order_by(ImageRecord.id)))
    finally:
        ws.close()


def test_errors_are_one_line_messages_not_tracebacks(capsys, corpus: Path, tmp_path: Path) -> None:
    ws = ["--workspace", str(tmp_path / "ws")]
    assert _run(capsys, "index", str(corpus), "--corpus", "c", "--profile", "tiny", "--workers", "0", *ws)[0] == 0
    good = _indexed_ids(tmp_path / "ws")[0]
    for args, expected in [
        (("search", "--like", "999"), "no image with id 999"),
        (("search", "./missing.png"), "no such image file"),
        (("search", "--space", "style", "--like", str(good), "-k", "0"), "k must be at least 1"),
        (("search", "--content", f"id:{good}"), "joint search"),
        (("search", f"id:{good}", "--corpus", "nope"), "no corpus"),
        (("index", str(corpus), "--corpus", "c", "--profile", "starter"), "created with profile"),
        (("index", str(corpus), "--corpus", "c", "--index-factory", "content=Bogus12"), "factory"),
        (("index", str(corpus), "--corpus", "c", "--index-memory", "lots"), "cannot read the size"),
        (("index", str(corpus), "--corpus", "c", "--index-memory", "100B"), "raise the memory budget"),  # kept: last
    ]:
        code, _out, err = _run(capsys, *args, *ws)
        assert code == 1, args
        assert err.startswith("stylelens: error:") and expected in err and "Traceback" not in err, (args, err)


def test_console_script_is_installed(tmp_path: Path) -> None:
    exe = shutil.which("stylelens")
    assert exe, "pip install -e . must put the stylelens console script on PATH"
    out = subprocess.run([exe, "--help"], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0 and "index" in out.stdout and "search" in out.stdout
