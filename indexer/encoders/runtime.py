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
_process_threads: int | None = None  # set by `use_threads` (a worker process that knows its share of cores)


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


def use_threads(n: int) -> None:
    """Give this process's forwards `n` threads, torch's and every onnxruntime session created afterwards,
    whatever OMP_NUM_THREADS says. For worker processes whose environment was set by someone else (Ray starts
    a 1-CPU actor with OMP_NUM_THREADS=1) and which may not rewrite os.environ (only entry points do)."""
    global _process_threads
    if n < 1:
        raise ValueError(f"threads must be >= 1, got {n}")
    import torch

    torch.set_num_threads(n)
    _process_threads = n


def ort_intra_op_threads() -> int:
    """Threads for an onnxruntime session: `use_threads`, else STYLELENS_THREADS, else OMP_NUM_THREADS, else
    torch's count."""
    if _process_threads is not None:
        return _process_threads
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
