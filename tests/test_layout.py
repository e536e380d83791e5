"""The workspace layout names every folder and file a workspace holds, where existing workspaces keep them."""
from __future__ import annotations

from pathlib import Path

import pytest

from indexer.layout import WorkspaceLayout, resolve_home
from indexer.names import InvalidNameError
from indexer.workspace import Workspace


def test_every_part_has_its_fixed_place(tmp_path: Path) -> None:
    home = tmp_path.resolve()
    layout = WorkspaceLayout(tmp_path)
    assert layout.catalog_file == home / "catalog.sqlite"
    assert layout.migration_lock_file == home / ".workspace.lock"
    assert layout.index_lock_file == home / ".index.lock"
    assert layout.index_dir == home / "indexes"
    assert layout.mining_dir == home / "mining" and layout.mining_run_dir("r1") == home / "mining" / "r1"
    assert layout.parasol_dir == home / "parasol" and layout.parasol_run_dir("my run") == home / "parasol" / "my run"
    assert layout.models_dir("styo") == home / "models" / "styo"
    assert layout.models_dir("dualstylegan") == home / "models" / "dualstylegan"
    assert layout.generated_dir == home / "generated"
    assert layout.uploads_dir == home / "uploads"
    assert layout.exports_dir == home / "exports"
    assert not any(tmp_path.iterdir())  # naming a path creates nothing


@pytest.mark.parametrize("name", ["../x", "a/b", "", ".hidden", "-x"])
def test_names_that_would_leave_their_folder_are_refused(tmp_path: Path, name: str) -> None:
    layout = WorkspaceLayout(tmp_path)
    with pytest.raises(InvalidNameError):
        layout.mining_run_dir(name)
    with pytest.raises(InvalidNameError):
        layout.models_dir(name)


@pytest.mark.parametrize("name", ["..", ".", "", "a/b"])
def test_a_parasol_run_is_one_folder_name(tmp_path: Path, name: str) -> None:
    with pytest.raises(InvalidNameError, match="one folder name"):
        WorkspaceLayout(tmp_path).parasol_run_dir(name)


def test_home_is_the_argument_else_the_environment_else_the_default(tmp_path: Path,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STYLELENS_HOME", str(tmp_path / "env"))
    assert resolve_home(tmp_path / "given") == (tmp_path / "given").resolve()
    assert resolve_home() == WorkspaceLayout.at().home == (tmp_path / "env").resolve()
    monkeypatch.delenv("STYLELENS_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "user"))
    assert resolve_home() == (tmp_path / "user" / ".stylelens").resolve()


def test_an_opened_workspace_is_its_layout(tmp_path: Path) -> None:
    ws = Workspace.open(tmp_path / "ws")
    try:
        assert isinstance(ws, WorkspaceLayout) and ws.home == (tmp_path / "ws").resolve()
        assert ws.catalog_file.is_file() and ws.index_dir.is_dir()
        assert ws.models_dir("styo") == WorkspaceLayout(tmp_path / "ws").models_dir("styo")
    finally:
        ws.close()
