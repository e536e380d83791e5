"""`stylelens train METHOD`: one family for every training entry point; the old spellings parse to the same
options and print a one-line deprecation notice before doing the same thing."""
from __future__ import annotations

import pytest

from ui.cli import build_parser, main

PAIRS = [  # (old spelling, new spelling, arguments both take)
    (["train-parasol"], ["train", "parasol"], ["--manifest", "t.jsonl", "--base", "tiny", "--steps", "3", "--w-s", "0"]),
    (["styo", "finetune"], ["train", "styo"], ["--name", "me", "--source", "a.png", "--lora", "--steps", "2"]),
]
_ROUTING = {"command", "func", "train_method", "styo_command"}


@pytest.mark.parametrize(("old", "new", "args"), PAIRS, ids=["parasol", "styo"])
def test_the_old_and_new_spellings_parse_to_the_same_options(old, new, args) -> None:
    parser = build_parser()
    before, after = vars(parser.parse_args([*old, *args])), vars(parser.parse_args([*new, *args]))
    assert {k: v for k, v in before.items() if k not in _ROUTING} == \
        {k: v for k, v in after.items() if k not in _ROUTING}
    assert after["steps"] in (2, 3)


def test_every_training_method_is_a_train_action(capsys) -> None:
    with pytest.raises(SystemExit):
        build_parser().parse_args(["train", "--help"])
    help_text = capsys.readouterr().out
    assert all(m in help_text for m in ("parasol", "styo", "dualstylegan"))


def test_a_deprecated_spelling_notes_it_once_then_runs_the_same_command(capsys, tmp_path) -> None:
    ws = ["--workspace", str(tmp_path / "ws")]
    assert main(["train-parasol", "--run", "nope", "--base", "tiny", *ws]) == 1
    old = capsys.readouterr().err.splitlines()
    assert main(["train", "parasol", "--run", "nope", "--base", "tiny", *ws]) == 1
    new = capsys.readouterr().err.splitlines()
    assert old == ["stylelens: `train-parasol` is deprecated; use `stylelens train parasol`", *new]
    assert len(new) == 1 and "no mining run named 'nope'" in new[0]


def test_train_dualstylegan_refuses_tiny_without_out(capsys) -> None:
    assert main(["train", "dualstylegan", "stage2", "--tiny"]) == 1
    err = capsys.readouterr().err
    assert "--tiny needs --out" in err and "Traceback" not in err
