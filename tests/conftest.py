"""Shared fixtures: offline environment, workspaces, and a catalog/index consistency check."""
from __future__ import annotations

import os
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).parent))  # corpus_factory

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

from indexer.catalog.schema import Embedding, ImageRecord  # noqa: E402
from indexer.index_store import load_index  # noqa: E402
from indexer.spaces import list_spaces  # noqa: E402
from indexer.workspace import Workspace  # noqa: E402
from sqlalchemy import func, select  # noqa: E402


@pytest.fixture
def workspace(tmp_path: Path):
    ws = Workspace.open(tmp_path / "ws")
    yield ws
    ws.close()


def assert_consistent(ws: Workspace) -> set[int]:
    """Catalog and every index agree: the same ids, one vector each. Returns the indexed ids."""
    with ws.session() as s:
        indexed = set(s.scalars(select(ImageRecord.id).where(ImageRecord.status == "indexed")))
        paths = list(s.scalars(select(ImageRecord.path)))
        assert s.scalar(select(func.count()).select_from(ImageRecord).where(
            ImageRecord.status == "duplicate", ImageRecord.duplicate_of.is_(None))) == 0
    for space in list_spaces(ws):
        with ws.session() as s:
            embedded = set(s.scalars(select(Embedding.image_id).where(Embedding.space_id == space.id)))
        ids = load_index(ws, space).ids()
        assert len(ids) == len(np.unique(ids)), f"duplicate ids in the {space.name} index"
        assert set(ids.tolist()) == embedded == indexed, space.name
    assert len(paths) == len(set(paths))  # (corpus, path) is unique; one corpus in these tests
    return indexed


@pytest.fixture(scope="module")
def one_torch_thread():
    """One torch thread for a module: two on this shared 2-core machine are many times slower than one for
    the tiny diffusion models (use with `pytestmark = pytest.mark.usefixtures("one_torch_thread")`)."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
