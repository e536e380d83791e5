"""ui.cli_errors: every failure is one `stylelens: error:` line with what to do, exit 1; -v adds the traceback.
Environmental failures are mapped by kind; unexpected exceptions are reported (type and message), not hidden."""
from __future__ import annotations

import errno
import io
import os
import sqlite3
from pathlib import Path

import pytest
from conftest import assert_consistent
from sqlalchemy.exc import DataError, OperationalError
from tiny_workspace import write_images

import ui.cli as cli
from indexer.workspace import Workspace
from ui.cli_errors import describe, report


def _db_error(cls: type, message: str) -> Exception:
    return cls("INSERT INTO corpora (name) VALUES (?)", ("secret-parameter",), sqlite3.OperationalError(message))


@pytest.mark.parametrize("exc, expected", [
    (OSError(errno.ENOSPC, "No space left on device", "/ws/indexes/x.tmp"),
     "No space left on device: /ws/indexes/x.tmp; free some space"),
    (PermissionError(errno.EACCES, "Permission denied", "/ws/catalog.sqlite"), "Permission denied: /ws/catalog.sqlite;"
                                                                              " check the permissions"),
    (OSError(errno.EROFS, "Read-only file system", "/media/ws/.index.lock"), "search, status and export read"),
    (_db_error(OperationalError, "database or disk is full"), "the disk holding the catalog is full"),
    (_db_error(OperationalError, "attempt to write a readonly database"), "--read-only"),
    (_db_error(OperationalError, "database is locked"), "another process held the catalog"),
    (_db_error(OperationalError, "server closed the connection unexpectedly\n\tThis probably means the server "
                                 "terminated abnormally"), "lost the connection to the catalog database"),
    (_db_error(DataError, 'integer out of range'), "see the limits"),
    (_db_error(DataError, 'value too long for type character varying(200)'), "use a shorter one"),
    (MemoryError("Unable to allocate 55.9 GiB for an array"), "out of memory (Unable to allocate 55.9 GiB"),
    (OverflowError("Python int too large to convert to SQLite INTEGER"), "a number is too large"),
    (ModuleNotFoundError("No module named 'diffusers'"), "a package this command needs is missing"),
    (ValueError("no such image file: ./x.png"), "no such image file: ./x.png"),
    (RuntimeError("boom"), "unexpected RuntimeError (boom) (probably a bug in StyleLens: please report it); "
                           "re-run with -v for the traceback"),
    (KeyError("space"), "unexpected KeyError ('space')"),
])
def test_each_kind_of_failure_is_one_line_with_a_hint(exc: Exception, expected: str) -> None:
    line = describe(exc)
    assert expected in line and "\n" not in line
    assert "secret-parameter" not in line and "INSERT" not in line and "sqlalche.me" not in line


def test_missing_weights_are_worded_with_cli_flags() -> None:
    from generation.weights import WeightsMissingError

    exc = WeightsMissingError("Demo model 'd'", [("/m", "unet.safetensors")], where="/m", hub=False,
                              fixes=[("checkpoint_dir", "DIR")])
    line = describe(exc)
    assert "/m: unet.safetensors" in line and line.endswith("or pass --checkpoint-dir DIR.") and "\n" not in line
    assert "checkpoint_dir=DIR" in str(exc)  # the library's own wording is unchanged


def test_verbose_prints_the_traceback_then_the_line() -> None:
    try:
        raise RuntimeError("boom")
    except RuntimeError as exc:
        stream = io.StringIO()
        assert report(exc, verbose=True, stream=stream) == 1
    text = stream.getvalue()
    assert text.startswith("Traceback") and text.splitlines()[-1] == "stylelens: error: unexpected RuntimeError (boom) " \
                                                                      "(probably a bug in StyleLens: please report it)"


def test_an_unexpected_exception_in_a_command_is_one_line_not_swallowed(monkeypatch, capsys, tmp_path: Path) -> None:
    def broken(_args):  # noqa: ANN001, ANN202
        return {}["missing"]

    monkeypatch.setattr(cli, "cmd_status", broken)
    assert cli.main(["status", "--workspace", str(tmp_path / "ws")]) == 1
    err = capsys.readouterr().err
    assert err == "stylelens: error: unexpected KeyError ('missing') (probably a bug in StyleLens: please report it); " \
                  "re-run with -v for the traceback\n"
    assert cli.main(["status", "--workspace", str(tmp_path / "ws"), "-v"]) == 1
    err = capsys.readouterr().err
    assert "Traceback" in err and "in broken" in err and err.splitlines()[-1].startswith("stylelens: error: unexpected")


def test_disk_full_while_writing_the_index_snapshot(monkeypatch, capsys, tmp_path: Path) -> None:
    """ENOSPC injected at the write of the snapshot file: one line, no temporary file left, and the next
    run (space freed) completes a consistent workspace."""
    import indexer.vectors.storage as storage

    def full(_index, _f):  # noqa: ANN001, ANN202
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    images, home = write_images(tmp_path / "imgs"), tmp_path / "ws"
    args = ["index", str(images), "--corpus", "c", "--profile", "tiny", "--workers", "0", "--workspace", str(home)]
    monkeypatch.setattr(storage, "write_payload", full)
    assert cli.main(args) == 1
    err = capsys.readouterr().err
    assert err.startswith("stylelens: error: No space left on device") and len(err.splitlines()) == 1, err
    assert "free some space" in err
    assert [p.name for p in (home / "indexes").iterdir() if ".tmp" in p.name] == []
    monkeypatch.undo()
    assert cli.main(args) == 0
    ws = Workspace.open(home)
    try:
        assert len(assert_consistent(ws)) == 5
    finally:
        ws.close()


@pytest.mark.parametrize("argv", [["search", "--like", "abc"], ["collection", "add"], ["nosuch"],
                                  ["index", "--corpus", "c"]])
def test_a_usage_mistake_is_one_error_line_naming_the_help_and_exit_1(capsys, argv: list[str]) -> None:
    from ui.cli import main

    with pytest.raises(SystemExit) as stop:
        main(argv)
    err = capsys.readouterr().err
    assert stop.value.code == 1
    assert err.startswith("stylelens: error: ") and len(err.strip().splitlines()) == 1, err
    assert "--help'" in err and "usage:" not in err
