"""The generation history (`generation.history`): records newest first in a list's words, and a run made
again into a fresh folder; `stylelens history` and `stylelens regenerate` without --out on top of it."""
from __future__ import annotations

from pathlib import Path

import pytest
from blend_stylizer import BLEND, register_blend
from cli_runner import cli_json
from corpus_factory import write_random_patterns

from generation.history import count_generations, fresh_out_dir, list_generations, regenerate_record
from indexer.workspace import Workspace
from ui.cli import main


@pytest.fixture(scope="module")
def made(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, list[dict]]:
    """A workspace with three runs: a stylize, an interpolation strip, another stylize (ids 1, 2, 3)."""
    root = tmp_path_factory.mktemp("history")
    imgs = root / "imgs"
    write_random_patterns(imgs, 3, seed=5, size=(48, 48))
    register_blend()
    home = root / "ws"
    runs = []
    for args in (["stylize", "--style", f"{imgs / '1.png'}:0.5", "--param", "strength=0.3"],
                 ["interpolate", "--style", str(imgs / "1.png"), "--style", str(imgs / "2.png"), "--steps", "3"],
                 ["stylize", "--style", str(imgs / "2.png"), "--seed", "9"]):
        assert main([*args, "--method", BLEND, "--content", str(imgs / "0.png"), "--workspace", str(home)]) == 0
        runs.append(args)
    return home, imgs, runs


def test_list_newest_first_with_pages_and_a_method_filter(made) -> None:
    home, imgs, _ = made
    ws = Workspace.open(home)
    try:
        entries = list_generations(ws)
        assert [e.record.id for e in entries] == [3, 2, 1] and count_generations(ws) == 3
        assert [e.record.id for e in list_generations(ws, limit=1, offset=1)] == [2]
        assert list_generations(ws, method="fast") == [] and count_generations(ws, "fast") == 0
        newest, strip, oldest = entries
        assert newest.summary().startswith(f"#3 stylize · {BLEND} · 1 image · seed 9 · ")
        assert strip.summary().startswith(f"#2 interpolate · {BLEND} · 3 images · seed 0")
        assert strip.thumbnail is not None and strip.thumbnail.name.endswith("-strip.png") and strip.thumbnail.is_file()
        assert oldest.thumbnail == oldest.images[0] and oldest.images[0].is_file()
        assert strip.inputs_text() == "content 0.png · styles 1.png → 2.png"
        assert oldest.styles == ["1.png ×0.5"] and "strength=0.3" in oldest.params_text()
        data = strip.to_dict()
        assert data["id"] == 2 and data["thumbnail"] == str(strip.thumbnail) and len(data["images"]) == 3
    finally:
        ws.close()


def test_regenerate_into_a_fresh_folder_is_byte_identical(made) -> None:
    home, _, _ = made
    ws = Workspace.open(home)
    try:
        again = regenerate_record(ws, 2)
        assert again.out_dir.parent == (home / "generated").resolve() and again.differing == []
        original = list_generations(ws, limit=1, offset=1)[0]
        assert [p.read_bytes() for p in again.images] == [p.read_bytes() for p in original.images]
        assert again.out_dir != Path(original.record.out_dir)
        assert fresh_out_dir(ws) != fresh_out_dir(ws)  # to the microsecond
    finally:
        ws.close()


def test_history_command_lists_parameters_and_how_to_regenerate(capsys, made) -> None:
    home, _, _ = made
    ws = ["--workspace", str(home)]
    assert main(["history", "-n", "2", *ws]) == 0
    out = capsys.readouterr().out
    assert out.index("#3 stylize") < out.index("#2 interpolate") and "#1 " not in out
    assert "  again: stylelens regenerate 2" in out and "params: " in out and "seed=" not in out
    assert "2 of 3 shown; older ones: --offset 2" in out
    rows = cli_json(capsys, "history", "--offset", "2", *ws)
    assert [r["id"] for r in rows] == [1] and rows[0]["params"]["strength"] == 0.3
    again = cli_json(capsys, "regenerate", "1", *ws)
    assert again["identical"] is True and Path(again["out_dir"]).parent.name == "generated"


def test_history_of_an_empty_workspace_says_how_to_start(capsys, tmp_path: Path) -> None:
    assert main(["history", "--workspace", str(tmp_path / "ws")]) == 0
    assert "no generations yet: make one with `stylelens stylize`" in capsys.readouterr().out
