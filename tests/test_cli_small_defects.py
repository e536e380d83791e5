"""Issue 20's CLI defects, each pinned: `stylize` without --out, `collection add NAME ID`, the export
refusal's wording, `search --add-to` checked first and counted, strip labels in a real font."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from blend_stylizer import BLEND, register_blend
from cli_runner import cli_error, cli_json
from corpus_factory import write_random_patterns
from PIL import Image

from generation.fonts import dejavu_path, label_font
from generation.outputs import strip_grid
from ui.cli import main


@pytest.fixture(scope="module")
def indexed(tmp_path_factory: pytest.TempPathFactory) -> tuple[list[str], Path]:
    """A tiny-profile workspace of 4 patterns; (the --workspace args, the image folder)."""
    root = tmp_path_factory.mktemp("defects")
    imgs = root / "imgs"
    write_random_patterns(imgs, 4, seed=7)
    ws = ["--workspace", str(root / "ws")]
    assert main(["index", str(imgs), "--corpus", "c", "--profile", "tiny", "--workers", "0", *ws]) == 0
    register_blend()
    return ws, imgs


def test_stylize_without_out_writes_a_fresh_folder_in_the_workspace(capsys, indexed) -> None:
    ws, imgs = indexed
    args = ["stylize", "--method", BLEND, "--content", str(imgs / "0.png"), "--style", str(imgs / "1.png"), *ws]
    first, second = cli_json(capsys, *args), cli_json(capsys, *args)
    home = Path(ws[1]).resolve()
    for data in (first, second):
        out = Path(data["out_dir"])
        assert out.parent == home / "generated" and Path(data["outputs"][0]).is_file()
    assert first["out_dir"] != second["out_dir"]  # the same request again is not refused: a new folder


def test_collection_add_takes_positional_ids_or_says_what_it_wants(capsys, indexed) -> None:
    ws, _ = indexed
    cli_json(capsys, "collection", "create", "picks", *ws)
    assert cli_json(capsys, "collection", "add", "picks", "1", "id:2", *ws)["added"] == [1, 2]
    assert main(["collection", "add", "picks", "3", *ws]) == 0
    assert capsys.readouterr().out.strip() == "1 added to picks, 0 already in it"
    with pytest.raises(SystemExit) as stopped:  # a usage mistake: argparse stops with CliParser's one line
        main(["collection", "add", "picks", "five", *ws])
    err = capsys.readouterr().err
    assert stopped.value.code == 1 and err.startswith("stylelens: error: argument ID: 'five' is not a catalog id")
    assert "id:12" in err and len(err.strip().splitlines()) == 1
    err = cli_error(capsys, "collection", "add", "picks", *ws)
    assert "give the ids to add (collection add picks 5 12)" in err


def test_export_refusal_names_only_the_cli_flag(capsys, indexed, tmp_path: Path) -> None:
    ws, _ = indexed
    cli_json(capsys, "collection", "create", "ex", *ws)
    cli_json(capsys, "collection", "add", "ex", "1", *ws)
    out = tmp_path / "taken"
    out.mkdir()
    (out / "mine.txt").write_text("keep")
    err = cli_error(capsys, "export", "ex", str(out), "--format", "folder", *ws)
    assert "--overwrite" in err and "overwrite=True" not in err


def test_search_add_to_checks_the_collection_first_and_counts(capsys, indexed, monkeypatch) -> None:
    ws, _ = indexed
    import retrieval.request  # the CLI runs its searches through SearchRequest

    def no_search(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
        raise AssertionError("searched before checking the collection")

    with monkeypatch.context() as m:
        m.setattr(retrieval.request, "search", no_search)
        err = cli_error(capsys, "search", "--like", "1", "--add-to", "nope", *ws)
    assert "no collection named 'nope'" in err
    cli_json(capsys, "collection", "create", "found", *ws)
    assert main(["search", "--like", "1", "-k", "2", "--no-collapse", "--add-to", "found", *ws]) == 0
    assert "stylelens: 2 added to found" in capsys.readouterr().err
    assert main(["search", "--like", "1", "-k", "3", "--no-collapse", "--add-to", "found", *ws]) == 0
    assert "stylelens: 1 added to found, 2 already in it" in capsys.readouterr().err


def test_strip_labels_use_a_real_font_and_never_overlap() -> None:
    assert dejavu_path() is not None and dejavu_path().name == "DejaVuSans.ttf"  # matplotlib is a dependency
    font = label_font()
    assert font.size >= 14 and "DejaVu" in font.getname()[0]
    tiny = [Image.new("RGB", (32, 32), (200, 30, 30)) for _ in range(3)]
    labels = ["A 1.00 B 0.00", "A 0.50 B 0.50", "A 0.00 B 1.00"]
    grid = strip_grid(tiny, labels)
    cell = grid.width // 3
    assert cell >= font.getlength(labels[0]) + 8  # each cell is wide enough for its label
    pixels = np.asarray(grid)
    label_rows = pixels[32:]
    for boundary in (cell, 2 * cell):  # white gap between neighbouring labels
        assert (label_rows[:, boundary - 2:boundary + 2] == 255).all()
    assert (label_rows < 128).any()  # and the labels are drawn


def test_mine_triplets_defaults_corpora_by_role(capsys, indexed, tmp_path: Path) -> None:
    ws, _ = indexed
    art = tmp_path / "art"
    write_random_patterns(art, 3, seed=11, prefix="a")
    assert main(["index", str(art), "--corpus", "art", "--role", "style", "--workers", "0", *ws]) == 0
    capsys.readouterr()
    summary = cli_json(capsys, "mine-triplets", "-k", "3", "--run", "by-role", *ws)
    assert (summary["params"]["train"], summary["params"]["style_db"], summary["params"]["content_db"]) == (
        "c", "art", "c")  # c has role both: the content corpus; art is the style corpus
    given = cli_json(capsys, "mine-triplets", "-k", "3", "--run", "given", "--style-db", "c", *ws)
    assert given["params"]["style_db"] == "c" and given["params"]["train"] == "c"


def test_mine_triplets_in_an_empty_workspace_says_to_index(capsys, tmp_path: Path) -> None:
    err = cli_error(capsys, "mine-triplets", "--workspace", str(tmp_path / "empty"))
    assert "no corpora to mine: index a content corpus and a style corpus first" in err
