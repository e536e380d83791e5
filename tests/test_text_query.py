"""Text queries in the starter profile (issue 17, point 4): a fresh process with warm caches answers without
torch, open_clip or sentence-transformers; `explain_query` and `stylelens search --explain` say what a text
resolved to and warn on weak matches, with the --json list unchanged unless --explain is given."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from indexer.pipeline.run import index_paths
from indexer.workspace import Workspace
from retrieval.explain import explain_query
from ui.cli import main

skdata = pytest.importorskip("skimage.data")
PHOTOS = {"chelsea": "chelsea.png", "coffee": "coffee.png", "rocket": "rocket.jpg"}
HEAVY = ("torch", "open_clip", "sentence_transformers", "transformers", "torchvision")

PROBE = """
import json, sys, time
from indexer.workspace import Workspace
from retrieval.search import search
ws = Workspace.open(sys.argv[1])
t0 = time.perf_counter()
hits = search(ws, "a cat", k=1)
print(json.dumps({"top": hits[0].path, "seconds": time.perf_counter() - t0,
                  "loaded": sorted(m for m in %r if m in sys.modules)}))
""" % (HEAVY,)


@pytest.fixture(scope="module")
def starter(tmp_path_factory) -> Path:
    """A starter-profile workspace holding three scikit-image photos; its home path."""
    root = tmp_path_factory.mktemp("starter")
    photos = root / "photos"
    photos.mkdir()
    for name, file in PHOTOS.items():
        shutil.copy(Path(skdata.__file__).parent / file, photos / f"{name}{Path(file).suffix}")
    ws = Workspace.open(root / "ws")
    try:
        index_paths(ws, [str(photos)], "photos", profile="starter", workers=0, progress=False)
    finally:
        ws.close()
    return root / "ws"


def _probe(home: Path, cache: Path) -> dict:
    env = {**os.environ, "XDG_CACHE_HOME": str(cache), "PYTHONPATH": os.pathsep.join(sys.path)}
    out = subprocess.run([sys.executable, "-c", PROBE, str(home)], env=env, capture_output=True, text=True,
                         timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_warm_cache_text_query_loads_no_torch(starter: Path, tmp_path: Path) -> None:
    cache = tmp_path / "xdg"
    first = _probe(starter, cache)  # empty cache: label vectors and classifier rows are computed once
    assert Path(first["top"]).stem == "chelsea"
    files = sorted(p.name.split("-")[0] + "-" + p.name.split("-")[1] for p in (cache / "stylelens").iterdir())
    assert files == ["classifier-rows", "label-vectors"]

    second = _probe(starter, cache)  # a new process: both arrays come from disk
    assert second["top"] == first["top"]
    assert second["loaded"] == []  # nothing heavy was even imported


def test_explain_query_flags_out_of_vocabulary_text(starter: Path, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    ws = Workspace.open(starter)
    try:
        (cat,) = explain_query(ws, "a cat")
        (astro,) = explain_query(ws, "astronaut")
        content, style = explain_query(ws, "espresso + id:1 - 0.5:moon"), explain_query(ws, "a rocket", space="style")
    finally:
        ws.close()
    assert cat.method == "labels" and cat.reader == "starter/efficientnet-lite0" and cat.labels_known == 1000
    assert cat.labels[0].label.endswith("cat") and not cat.weak and cat.warning is None
    assert sum(m.weight for m in cat.labels) == pytest.approx(1.0, abs=1e-3)
    assert astro.weak and astro.labels[0].label == "space shuttle" and astro.best_similarity < astro.weak_below
    assert "'astronaut'" in astro.warning and "space shuttle" in astro.warning
    assert [(e.text, e.term_weight, e.weak) for e in content] == [("espresso", 1.0, False), ("moon", -0.5, True)]
    (rocket,) = style
    assert rocket.space == "style" and rocket.via_exemplars and rocket.reader == "starter/efficientnet-lite0"
    json.dumps([e.to_dict() for e in [cat, astro, rocket]])  # JSON-ready


@pytest.fixture
def tiny_ws(tmp_path: Path) -> list[str]:
    rng = np.random.default_rng(0)
    imgs = tmp_path / "imgs"
    imgs.mkdir()
    from PIL import Image

    for i in range(4):
        Image.fromarray(rng.integers(0, 255, (40, 40, 3), dtype=np.uint8)).save(imgs / f"{i}.png")
    ws = ["--workspace", str(tmp_path / "ws")]
    assert main(["index", str(imgs), "--corpus", "c", "--profile", "tiny", "--workers", "0", "--json", *ws]) == 0
    return ws


def test_cli_explain_contract(capsys, tiny_ws: list[str]) -> None:
    capsys.readouterr()
    assert main(["search", "cat", "-k", "2", "--json", *tiny_ws]) == 0
    plain, err = capsys.readouterr()
    assert isinstance(json.loads(plain), list) and err == ""  # unchanged without --explain

    assert main(["search", "cat", "-k", "2", "--json", "--explain", *tiny_ws]) == 0
    out = json.loads(capsys.readouterr().out)
    assert set(out) == {"results", "explain"} and out["results"] == json.loads(plain)
    (e,) = out["explain"]
    assert e["text"] == "cat" and e["labels"][0]["label"] == "cat" and e["weak"] is False and e["warning"] is None

    assert main(["search", "cat", "-k", "2", "--explain", *tiny_ws]) == 0
    human = capsys.readouterr()
    assert "explain: 'cat' in content space" in human.err and "  1  " in human.out and "explain:" not in human.out

    assert main(["search", "qqqq zzzz", "-k", "2", *tiny_ws]) == 0  # far from every tiny label
    weak = capsys.readouterr()
    assert weak.err.startswith("stylelens: warning: 'qqqq zzzz' matches none of the 10 labels")
    assert "  1  " in weak.out

    assert main(["search", "--content", "cat", "--style", "id:1", "-k", "1", "--json", "--explain", *tiny_ws]) == 0
    joint = json.loads(capsys.readouterr().out)
    assert [e["text"] for e in joint["explain"]] == ["cat"] and joint["results"][0]["space"] == "joint"
