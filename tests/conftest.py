"""Shared fixtures: offline environment, workspaces, and a catalog/index consistency check."""
from __future__ import annotations

import atexit
import os
import shutil
import sys
import tempfile
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))  # corpus_factory
pytest.register_assert_rewrite("studio_apptest")  # helpers with asserts, imported by test modules

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
# the label-embedding cache goes to a folder of this test session (inherited by the CLI subprocesses),
# never the user's ~/.cache/stylelens
_CACHE = tempfile.mkdtemp(prefix="stylelens-test-cache-")
os.environ["XDG_CACHE_HOME"] = _CACHE
atexit.register(shutil.rmtree, _CACHE, ignore_errors=True)

from indexer.consistency import check_consistency  # noqa: E402
from indexer.workspace import Workspace  # noqa: E402


@pytest.fixture
def workspace(tmp_path: Path):
    ws = Workspace.open(tmp_path / "ws")
    yield ws
    ws.close()


def catalog_paths(ws: Workspace) -> dict[str, int]:
    """{absolute path: image id} of every catalogued file."""
    from sqlalchemy import select

    from indexer.catalog.paths import RootMap
    from indexer.catalog.schema import ImageRecord

    with ws.session() as s:
        roots = RootMap.load(s, ws.home)
        return {roots.of(im): im.id for im in s.scalars(select(ImageRecord))}


def assert_consistent(ws: Workspace) -> set[int]:
    """Catalog and every index agree: the same ids, one vector each. Returns the indexed ids."""
    report = check_consistency(ws)
    assert report.ok, report.problems
    return report.indexed


@pytest.fixture(scope="module")
def one_torch_thread():
    """One torch thread for a module: two on this shared 2-core machine are many times slower than one for
    the tiny diffusion models (use with `pytestmark = pytest.mark.usefixtures("one_torch_thread")`)."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
