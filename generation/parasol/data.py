"""PARASOL's training data: (x, y, s) triplets from the manifest `stylelens mine-triplets` writes, and the
tensors a training step needs.

The manifest (`triplets.parquet` or `triplets.jsonl`) is read with its schema, `indexer.triplet_manifest`
(`generation` does not import `retrieval`, which writes it). Rows where mining found no y or no s are skipped
(and counted). Relative paths are taken relative to the manifest's folder.

Per triplet a step needs x as a (3, R, R) tensor in [-1, 1] (resized to cover R x R and centre-cropped, as
sampling does), the style descriptor a_s = A(s) and the semantic descriptor c_y = C(y). Descriptors are
computed once per triplet on first use (the indexing path of the encoders, so they equal the vectors a
workspace holds); decoded x crops are kept for up to `cache_images` triplets as uint8. Images are decoded
by the indexer's decoder (EXIF orientation, any mode, decompression-bomb guard). Simplification: loading
runs in the training process (no worker processes), which is enough for small sets and tiny models.
"""
from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass

import torch

from indexer.imaging.decode import ImageRejected, decode_file
from indexer.triplet_manifest import ManifestError, complete_triplets

from ..base import StylizeError
from ..diffusion.images import to_tensor
from .descriptors import DescriptorEncoder


@dataclass(frozen=True)
class Triplet:
    """One training example: x is reconstructed from the content of y and the style of s."""

    x: str
    y: str
    s: str


@dataclass(frozen=True)
class Manifest:
    """The usable triplets of a manifest, and how many rows were skipped for lacking y or s."""

    triplets: list[Triplet]
    skipped: int


def read_manifest(path: str | os.PathLike[str]) -> Manifest:
    """Triplets from a `triplets.parquet` / `triplets.jsonl` file (or a mining run folder holding one)."""
    try:
        complete, skipped = complete_triplets(path)
    except ManifestError as exc:
        raise StylizeError(str(exc)) from None
    return Manifest([Triplet(*paths) for paths in complete], skipped)


def load_image(path: str):  # noqa: ANN201 - a PIL image
    """Decode one training image, or a StylizeError naming the file."""
    try:
        return decode_file(path, max_side=2048).image
    except ImageRejected as exc:
        raise StylizeError(f"cannot use training image {path}: {exc.reason}") from None


class TripletData:
    """Tensors for training steps: x crops, a_s and c_y, with the caches described in the module docstring."""

    def __init__(self, triplets: Sequence[Triplet], resolution: int, style: DescriptorEncoder,
                 content: DescriptorEncoder, cache_images: int = 1024) -> None:
        if not triplets:
            raise StylizeError("there are no complete triplets to train on")
        self.triplets = list(triplets)
        self.resolution = resolution
        self.style, self.content = style, content
        self.cache_images = cache_images
        self._x: dict[int, torch.Tensor] = {}
        self._a: dict[int, torch.Tensor] = {}
        self._c: dict[int, torch.Tensor] = {}

    def __len__(self) -> int:
        return len(self.triplets)

    def _crop(self, i: int) -> torch.Tensor:
        if i in self._x:
            return self._x[i]
        x = to_tensor(load_image(self.triplets[i].x), self.resolution, self.resolution, "cpu")[0]
        crop = ((x + 1.0) * 127.5).round().clamp(0, 255).to(torch.uint8)
        if len(self._x) < self.cache_images:
            self._x[i] = crop
        return crop

    def _descriptors(self, idx: Sequence[int]) -> None:
        todo = [i for i in dict.fromkeys(idx) if i not in self._a]
        if todo:
            a = self.style.images([load_image(self.triplets[i].s) for i in todo])
            c = self.content.images([load_image(self.triplets[i].y) for i in todo])
            for j, i in enumerate(todo):
                self._a[i], self._c[i] = a[j], c[j]

    def batch(self, idx: Sequence[int]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(x (B, 3, R, R) in [-1, 1], a_s (B, style dim), c_y (B, content dim)) on CPU, float32."""
        self._descriptors(idx)
        x = torch.stack([self._crop(i) for i in idx]).float() / 127.5 - 1.0
        return x, torch.stack([self._a[i] for i in idx]), torch.stack([self._c[i] for i in idx])


class BatchOrder:
    """Epoch-wise shuffled batches from a torch generator; its position is part of a checkpoint."""

    def __init__(self, n: int, batch_size: int, generator: torch.Generator) -> None:
        self.n, self.batch_size, self.generator = n, batch_size, generator
        self.perm = torch.randperm(n, generator=generator)
        self.cursor = 0

    def next(self) -> list[int]:
        out: list[int] = []
        while len(out) < self.batch_size:
            if self.cursor >= self.n:
                self.perm = torch.randperm(self.n, generator=self.generator)
                self.cursor = 0
            take = min(self.batch_size - len(out), self.n - self.cursor)
            out += self.perm[self.cursor:self.cursor + take].tolist()
            self.cursor += take
        return out

    def state(self) -> tuple[torch.Tensor, int]:
        return self.perm.clone(), self.cursor

    def restore(self, perm: torch.Tensor, cursor: int) -> None:
        if int(perm.numel()) != self.n:
            raise StylizeError(f"the checkpoint was trained on {int(perm.numel())} triplets, this manifest has "
                               f"{self.n}; resume with the same manifest or train into a new folder")
        self.perm, self.cursor = perm.long().clone(), int(cursor)

