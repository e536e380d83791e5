"""A failed command leaves no setting or run record that blocks the corrected one, and names stay names."""
from __future__ import annotations

from pathlib import Path

import pytest
from cli_runner import cli_error, cli_json
from sqlalchemy import func, select
from synthetic_images import noise_with_square

from indexer.catalog.schema import MiningRun
from indexer.index_sync import MEMORY_BUDGET_KEY
from indexer.spaces import get_space, list_spaces
from indexer.workspace import Workspace


@pytest.fixture
def corpus(tmp_path: Path) -> Path:
    root = tmp_path / "imgs"
    root.mkdir()
    for i in range(6):
        noise_with_square(i).save(root / f"{i}.png")
    return root


def _catalog(ws_dir: Path):
    ws = Workspace.open(ws_dir)
    try:
        with ws.session() as s:
            runs = s.scalar(select(func.count()).select_from(MiningRun))
        spaces = [get_space(ws, name).index_factory for name in ("content", "style")] if list_spaces(ws) else []
        return ws.get_setting("profile"), ws.get_setting(MEMORY_BUDGET_KEY), spaces, runs
    finally:
        ws.close()


def test_an_index_factory_that_cannot_train_is_not_kept(capsys, corpus: Path, tmp_path: Path) -> None:
    w = ["--workspace", str(tmp_path / "ws")]
    err = cli_error(capsys, "index", str(corpus), "--corpus", "c", "--profile", "tiny", "--workers", "0",
                "--index-factory", "content=IVF4096,Flat", "--index-memory", "1GiB", *w)
    assert "cannot train" in err
    _profile, budget, factories, _runs = _catalog(tmp_path / "ws")
    assert budget is None and factories == [None, None]
    summary = cli_json(capsys, "index", str(corpus), "--corpus", "c", "--workers", "0", *w)  # the corrected command
    assert summary["spaces"]["content"]["ntotal"] == 6
    cli_json(capsys, "index", str(corpus), "--corpus", "c", "--workers", "0", "--index-factory", "content=HNSW16",
       "--index-memory", "1GiB", *w)
    _profile, budget, factories, _runs = _catalog(tmp_path / "ws")
    assert budget == str(1 << 30) and factories == ["HNSW16", None]  # kept once the run succeeded


@pytest.mark.parametrize("bad", [["--index-factory", "content=NotAnIndex42"], ["--index-factory", "nospace=Flat"],
                                 ["--corpus", " "]])
def test_bad_arguments_leave_a_new_workspace_without_a_profile(capsys, corpus: Path, tmp_path: Path, bad) -> None:
    w = ["--workspace", str(tmp_path / "ws")]
    cli_error(capsys, "index", str(corpus), "--corpus", "c", "--profile", "tiny", "--workers", "0", *bad, *w)
    assert _catalog(tmp_path / "ws")[:3] == (None, None, [])  # so the corrected command may choose any profile


def test_a_mining_run_that_failed_on_its_arguments_is_not_recorded(capsys, corpus: Path, tmp_path: Path) -> None:
    w = ["--workspace", str(tmp_path / "ws")]
    cli_json(capsys, "index", str(corpus), "--corpus", "c", "--profile", "tiny", "--workers", "0", *w)
    mine = ["mine-triplets", "--style-db", "c", "--content-db", "c", "-k", "3", "--run", "r1", *w]
    assert "no corpus named 'nosuch'" in cli_error(capsys, *mine, "--train", "nosuch")
    assert _catalog(tmp_path / "ws")[3] == 0
    summary = cli_json(capsys, *mine, "--train", "c")  # the corrected command is not "started with other parameters"
    assert summary["run"] == "r1" and summary["train_images"] == 6
    assert Path(summary["manifest_jsonl"]).parent == tmp_path / "ws" / "mining" / "r1"


@pytest.mark.parametrize("name", ["../../../x", "..", ".hidden", "a/b", "-rf", "x" * 129, ""])
def test_run_names_cannot_leave_the_workspace(capsys, corpus: Path, tmp_path: Path, name: str) -> None:
    ws_dir = tmp_path / "deep" / "er" / "ws"
    w = ["--workspace", str(ws_dir)]
    cli_json(capsys, "index", str(corpus), "--corpus", "c", "--profile", "tiny", "--workers", "0", *w)

    def outside() -> list[str]:
        return sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*") if ws_dir not in p.parents)

    before = outside()
    err = cli_error(capsys, "mine-triplets", "--train", "c", "--style-db", "c", "--content-db", "c", f"--run={name}", *w)
    assert "mining run name must be" in err
    err = cli_error(capsys, "train", "parasol", f"--run={name}", "--base", "tiny", *w)
    assert "mining run name must be" in err
    assert outside() == before and not (ws_dir / "mining").exists() and not (ws_dir / "parasol").exists()
    assert _catalog(ws_dir)[3] == 0
