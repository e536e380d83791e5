"""Device and thread choices shared by every encoder, and the batched torch forward they all use."""
from __future__ import annotations

import contextlib
import os
from typing import TYPE_CHECKING, Callable, Iterator

import numpy as np

from .base import l2_normalize

if TYPE_CHECKING:
    import torch

    from .preprocess import Preprocess

_THREADS_ENV = "STYLELENS_THREADS"  # our own override; OMP_NUM_THREADS is honoured by torch itself


def resolve_device(device: str | None = None) -> str:
    """`None`/"auto" -> "cuda" when torch sees a GPU, else "cpu"; anything else is returned as given."""
    if device in (None, "", "auto"):
        import torch

        return "cuda" if torch.cuda.is_available() else "cpu"
    return str(device)


def configure_torch_threads() -> int:
    """Apply STYLELENS_THREADS to torch if set; otherwise keep torch's choice (cores, or OMP_NUM_THREADS)."""
    import torch

    wanted = os.environ.get(_THREADS_ENV)
    if wanted and wanted.isdigit() and int(wanted) > 0 and torch.get_num_threads() != int(wanted):
        torch.set_num_threads(int(wanted))
    return torch.get_num_threads()


def ort_intra_op_threads() -> int:
    """Threads for an onnxruntime session: STYLELENS_THREADS, else OMP_NUM_THREADS, else torch's count."""
    for name in (_THREADS_ENV, "OMP_NUM_THREADS"):
        value = os.environ.get(name, "")
        if value.isdigit() and int(value) > 0:
            return int(value)
    try:
        import torch

        return torch.get_num_threads()
    except ImportError:  # pragma: no cover - torch is a hard dependency
        return os.cpu_count() or 1


def torch_forward(fn: Callable, batch: np.ndarray, device: str, normalize: bool = True) -> np.ndarray:
    """Run `fn` on a numpy batch (floats as float32, ints kept) under inference_mode on `device`."""
    import torch

    arr = np.ascontiguousarray(batch)
    x = torch.from_numpy(arr.astype(np.float32, copy=False) if arr.dtype.kind == "f" else arr)
    if device != "cpu":
        x = x.pin_memory().to(device, non_blocking=True) if device.startswith("cuda") else x.to(device)
    with torch.inference_mode():
        out = fn(x).float().cpu().numpy()
    return l2_normalize(out) if normalize else out.astype(np.float32, copy=False)


def differentiable_forward(fn: Callable[[torch.Tensor], torch.Tensor], module: torch.nn.Module,
                           preprocess: Preprocess, images: torch.Tensor) -> torch.Tensor:
    """`Encoder.torch_forward`'s body: `fn(preprocess.torch_input(images))`, L2-normalised, with gradients to
    `images` only (`module`, the network, is frozen)."""
    import torch.nn.functional as F

    module.requires_grad_(False)
    return F.normalize(fn(preprocess.torch_input(images)).float(), dim=-1)


@contextlib.contextmanager
def seeded(seed: int) -> Iterator[None]:
    """Run torch init code under `seed` without disturbing the global RNG state."""
    import torch

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        yield
