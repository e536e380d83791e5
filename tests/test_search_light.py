"""Searches by catalog id: they use stored vectors only, so they must not import torch nor load the content
model just to read the near-duplicate threshold (the encoder registry keeps it for every encoder id); and
`--offset` pages through the same ranking."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from tiny_workspace import build_workspace, write_images

from indexer.encoders.registry import (
    DEFAULT_NEAR_DUPLICATE,
    TINY_NEAR_DUPLICATE,
    create_encoder,
    known_ids,
    near_duplicate_cosine,
)
from ui.cli import main

PROBE = """
import json, sys
from ui.cli import main
code = main(sys.argv[1:])
print(json.dumps({"code": code, "torch": "torch" in sys.modules, "onnxruntime": "onnxruntime" in sys.modules}))
"""


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> tuple[Path, list[int]]:
    root = tmp_path_factory.mktemp("light")
    return root / "ws", build_workspace(root / "ws", write_images(root / "imgs", n=8))


def test_search_by_id_does_not_import_torch(built) -> None:
    home, ids = built
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(Path(__file__).parent.parent), os.environ.get(
        "PYTHONPATH", "")])}
    for space in ("content", "style"):
        done = subprocess.run([sys.executable, "-c", PROBE, "search", "--like", str(ids[0]), "--space", space,
                               "-k", "3", "--workspace", str(home)], capture_output=True, text=True, env=env,
                              timeout=120)
        assert done.returncode == 0, done.stderr
        assert done.stdout.strip().splitlines()[-1] == '{"code": 0, "torch": false, "onnxruntime": false}', \
            done.stdout + done.stderr


@pytest.mark.parametrize("encoder_id", [i for i in known_ids() if i.startswith("tiny/")])
def test_registry_threshold_is_the_built_encoders(encoder_id: str) -> None:
    assert create_encoder(encoder_id, "cpu").near_duplicate_cosine == near_duplicate_cosine(encoder_id) \
        == TINY_NEAR_DUPLICATE


def test_registry_thresholds_without_building() -> None:
    assert near_duplicate_cosine("starter/efficientnet-lite0") == 0.72
    assert near_duplicate_cosine("starter/magenta-style") == 0.95
    assert near_duplicate_cosine("signature/luma-dct") == 0.75 == create_encoder("signature/luma-dct").near_duplicate_cosine
    assert near_duplicate_cosine("open_clip/ViT-L-14:/some/checkpoint.pt") == DEFAULT_NEAR_DUPLICATE
    assert near_duplicate_cosine("aladin/tiny:/some/tiny.pt") == TINY_NEAR_DUPLICATE
    assert near_duplicate_cosine("csd/vit-l14:/some/csd.pth") == DEFAULT_NEAR_DUPLICATE


@pytest.mark.parametrize("query", [["--like", "1"], ["--content", "id:1", "--style", "id:2"]], ids=["one space", "joint"])
def test_offset_pages_through_the_same_ranking(built, capsys, query: list[str]) -> None:
    home = built[0]

    def ids(*extra: str) -> list[int]:
        assert main(["search", *query, "--no-collapse", "--json", "--workspace", str(home), *extra]) == 0
        return [h["id"] for h in json.loads(capsys.readouterr().out)]

    everything = ids("-k", "8")
    assert len(everything) == 8
    assert ids("-k", "3", "--offset", "2") == everything[2:5]
    assert ids("-k", "5", "--offset", "6") == everything[6:]
    assert ids("-k", "3", "--offset", "8") == []
