"""Weights read from memory-mapped files are moved into aligned memory, so every load path computes alike."""
from __future__ import annotations

from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

from generation.aligned import ALIGNMENT, align_module, aligned_tensors


def _offsets(tensors) -> list[int]:
    return [t.data_ptr() % ALIGNMENT for t in tensors]


def test_mapped_safetensors_views_are_copied_into_aligned_memory_with_the_same_values(tmp_path: Path) -> None:
    g = torch.Generator().manual_seed(0)
    # odd sizes put most tensors of the file at offsets that are not multiples of 64 bytes
    original = {f"w{i}": torch.randn(3 + i, 5, generator=g) for i in range(8)}
    save_file(original, tmp_path / "w.safetensors")
    mapped = load_file(tmp_path / "w.safetensors")
    assert any(_offsets(mapped.values())), "the premise: some mapped views are unaligned"
    fixed = aligned_tensors(mapped)
    assert not any(_offsets(fixed.values()))
    assert all(torch.equal(fixed[k], original[k]) for k in original)  # copied, not computed: bitwise


def test_align_module_moves_unaligned_parameters_and_buffers_in_place(tmp_path: Path) -> None:
    net = torch.nn.Sequential(torch.nn.Linear(7, 3), torch.nn.BatchNorm1d(3))
    state = {k: v.clone() for k, v in net.state_dict().items()}
    save_file(state, tmp_path / "net.safetensors")
    net.load_state_dict(load_file(tmp_path / "net.safetensors"), assign=True)  # adopt the mapped views
    assert any(_offsets(net.state_dict().values()))
    weight = net[0].weight
    assert align_module(net) is net and net[0].weight is weight  # the same Parameter objects, new memory
    assert not any(_offsets(net.state_dict().values()))
    assert all(torch.equal(v, state[k]) for k, v in net.state_dict().items())
