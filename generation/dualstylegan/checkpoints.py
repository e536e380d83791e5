"""Reading DualStyleGAN's released files without running code from them, strict loading, and conversion.

- `.pt` files (generator.pt, encoder.pt, sampler.pt) are torch pickles: read with
  `torch.load(weights_only=True)`, which rebuilds tensors and plain containers only. The one extra class
  admitted is `argparse.Namespace` (training checkpoints keep their `args` in one): a bare attribute bag
  whose unpickling sets attributes and calls nothing else.
- `exstyle_code.npy` / `refined_exstyle_code.npy` are `np.save` of a dict (a pickled 0-d object array).
  They are read with `NumpyOnlyUnpickler`, which admits numpy's array and dtype reconstructors and nothing
  else (no `allow_pickle=True`); any other global in the stream is refused by name.
- `convert_folder` writes safetensors next to them (tensors only) plus JSON for what is not a tensor (the
  codes' file names in order, the encoder's options); a `.safetensors` file is preferred when present.
"""
from __future__ import annotations

import argparse
import pickle
from collections import OrderedDict
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from ..aligned import aligned_tensors
from ..base import StylizeError
from ..model_config import ConfigError, read_config, write_config


class CheckpointError(StylizeError):
    """A checkpoint cannot be read safely, or its names / shapes are not those of the model."""


# ------------------------------------------------------------------------------------------- torch pickles


def load_torch(path: str | Path) -> Any:
    """`torch.load(path, weights_only=True)` on the CPU, admitting argparse.Namespace; errors name the file."""
    path = Path(path)
    try:
        with torch.serialization.safe_globals([argparse.Namespace]):
            return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        raise CheckpointError(f"{path}: refused by the tensors-only loader (weights_only=True): {exc}") from exc
    except (OSError, RuntimeError, EOFError, ValueError) as exc:
        raise CheckpointError(f"{path}: cannot be read as a PyTorch checkpoint ({exc})") from exc


def state_entry(obj: Any, key: str, path: str | Path) -> dict[str, torch.Tensor]:
    """`obj[key]` as a {name: tensor} dict, or a CheckpointError naming the keys the file has."""
    if not isinstance(obj, Mapping) or key not in obj:
        have = sorted(obj) if isinstance(obj, Mapping) else type(obj).__name__
        raise CheckpointError(f"{path}: no {key!r} entry (has {have})")
    entry = obj[key]
    if not isinstance(entry, Mapping) or not all(isinstance(v, torch.Tensor) for v in entry.values()):
        raise CheckpointError(f"{path}: {key!r} is not a state dict of tensors")
    return dict(entry)


# ------------------------------------------------------------------------------------------- numpy pickles

_NUMPY_GLOBALS = {
    ("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
    ("numpy.core.multiarray", "scalar"), ("numpy._core.multiarray", "scalar"),
    ("numpy", "ndarray"), ("numpy", "dtype"),
}


def _numpy_global(module: str, name: str) -> Any:
    if name == "ndarray":
        return np.ndarray
    if name == "dtype":
        return np.dtype
    try:
        from numpy._core import multiarray
    except ImportError:  # numpy < 2
        from numpy.core import multiarray  # type: ignore[no-redef]
    return getattr(multiarray, name)


class NumpyOnlyUnpickler(pickle.Unpickler):
    """An unpickler that builds numpy arrays, dtypes and plain containers, and refuses every other global."""

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) in _NUMPY_GLOBALS:
            return _numpy_global(module, name)
        raise pickle.UnpicklingError(f"global '{module}.{name}' is not allowed (only numpy arrays and plain "
                                     "containers are read from style-code files)")

    def persistent_load(self, pid: Any) -> Any:
        raise pickle.UnpicklingError("persistent ids are not allowed in style-code files")


def read_pickled_npy(path: str | Path) -> Any:
    """The object stored by `np.save(path, obj)` for an object array, unpickled with `NumpyOnlyUnpickler`."""
    path = Path(path)
    try:
        with open(path, "rb") as f:
            version = np.lib.format.read_magic(f)
            header = np.lib.format.read_array_header_1_0 if version == (1, 0) else \
                np.lib.format.read_array_header_2_0
            _, _, dtype = header(f)
            if dtype == np.dtype(object):
                array = NumpyOnlyUnpickler(f).load()
            else:
                array = None
        if array is None:  # a plain numeric array: no pickle involved
            array = np.load(path, allow_pickle=False)
    except pickle.UnpicklingError as exc:
        raise CheckpointError(f"{path}: refused: {exc}") from exc
    except (OSError, ValueError, EOFError) as exc:
        raise CheckpointError(f"{path}: not a readable .npy file ({exc})") from exc
    return array.item() if isinstance(array, np.ndarray) and array.shape == () else array


def read_side_json(path: Path, key: str) -> Any:
    """Entry `key` of the JSON written next to a converted `.safetensors` file (`convert_file`), or a
    CheckpointError naming that file when it is missing or unreadable."""
    side = path.with_suffix(".json")
    try:
        return read_config(side, "dualstylegan")[key]  # files converted before the one format read too
    except (ConfigError, KeyError) as exc:
        raise CheckpointError(f"{path} needs {side.name} next to it with its {key!r} (written by the converter: "
                              f"python -m generation.dualstylegan.convert DIR); {side}: {exc!r}") from exc


def load_style_codes(path: str | Path) -> OrderedDict[str, np.ndarray]:
    """A style set's extrinsic codes {image file name: (1, rows, dim) float32}, in the file's order (a style
    id is an index into it, as in the official scripts). Reads the converted `.safetensors` + `.json` or the
    released `.npy`."""
    path = Path(path)
    if path.suffix == ".safetensors":
        from safetensors.numpy import load_file

        names = read_side_json(path, "names")
        try:
            arrays = load_file(str(path))
        except Exception as exc:  # noqa: BLE001 - any parse failure is a bad file
            raise CheckpointError(f"{path}: not a readable safetensors file ({exc})") from exc
        if not isinstance(names, list) or len(names) != len(arrays) \
                or any(f"{i:05d}" not in arrays for i in range(len(names))):
            raise CheckpointError(f"{path}: its {len(arrays)} codes do not match the {path.with_suffix('.json').name} "
                                  "names list; convert the .npy again")
        codes = OrderedDict((n, arrays[f"{i:05d}"]) for i, n in enumerate(names))
    else:
        obj = read_pickled_npy(path)
        if not isinstance(obj, dict):
            raise CheckpointError(f"{path}: expected a dict of codes, found {type(obj).__name__}")
        codes = OrderedDict(obj.items())
    for name, code in codes.items():
        if not isinstance(name, str) or not isinstance(code, np.ndarray) or code.dtype.kind != "f" \
                or code.ndim not in (2, 3):
            raise CheckpointError(f"{path}: entry {name!r} is not a (1, rows, dim) float array")
        codes[name] = np.asarray(code, dtype=np.float32).reshape(1, *code.shape[-2:])
    return codes


# ------------------------------------------------------------------------------------------- strict loading


def mismatches(expected: Mapping[str, torch.Size | tuple], state: Mapping[str, torch.Tensor]) -> list[str]:
    """Human-readable differences between expected {name: shape} and a state dict; [] when they agree."""
    missing = [k for k in expected if k not in state]
    unexpected = [k for k in state if k not in expected]
    shapes = [f"{k}: file {tuple(state[k].shape)} vs model {tuple(expected[k])}" for k in expected
              if k in state and tuple(state[k].shape) != tuple(expected[k])]
    out = []
    for label, items in (("missing", missing), ("unexpected", unexpected), ("with another shape", shapes)):
        if items:
            shown = ", ".join(items[:6]) + (f", ... ({len(items) - 6} more)" if len(items) > 6 else "")
            out.append(f"{len(items)} {label}: {shown}")
    return out


def load_strict(module: nn.Module, state: Mapping[str, torch.Tensor], what: str) -> None:
    """Load `state` into `module` only when every name and shape matches; otherwise a CheckpointError that
    lists the differences (nothing is loaded)."""
    expected = {k: v.shape for k, v in module.state_dict().items()}
    problems = mismatches(expected, state)
    if problems:
        raise CheckpointError(f"{what} does not match the {type(module).__name__} it should load into: "
                              + "; ".join(problems))
    meta = any(t.is_meta for t in module.state_dict().values())
    module.load_state_dict(dict(state), strict=True, assign=meta)
    left = [n for n, t in [*module.named_parameters(), *module.named_buffers()] if t.is_meta]
    if left and not any(v.is_meta for v in state.values()):  # a meta state dict only checks the layout
        raise CheckpointError(f"{what}: {left[:3]} were not in the file and have no value")


def load_tensors(path: str | Path, key: str | None = None) -> dict[str, torch.Tensor]:
    """A {name: tensor} dict from a `.safetensors` file, or from entry `key` of a `.pt` checkpoint."""
    path = Path(path)
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        try:
            tensors = load_file(str(path))
        except Exception as exc:  # noqa: BLE001 - any parse failure is a bad file
            raise CheckpointError(f"{path}: not a readable safetensors file ({exc})") from exc
        # the meta-built models adopt these as their parameters (load_strict's assign=True): give them
        # aligned memory, as torch.load does, or the same weights compute other bits (generation.aligned)
        return aligned_tensors(tensors)
    obj = load_torch(path)
    return state_entry(obj, key, path) if key else dict(obj)


# ------------------------------------------------------------------------------------------- conversion


def _save(tensors: Mapping[str, torch.Tensor], path: Path) -> Path:
    from safetensors.torch import save_file

    save_file({k: v.detach().contiguous().clone() for k, v in tensors.items()}, str(path))
    return path


def _json_safe(value: Any) -> Any:
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    if isinstance(value, Mapping):
        return {str(k): _json_safe(v) for k, v in value.items()}
    return str(value)


def convert_file(src: Path) -> list[Path]:
    """Write the safetensors (+ JSON) form of one released file next to it; returns what was written."""
    name = src.name
    out: list[Path] = []
    if name.endswith("exstyle_code.npy"):
        codes = load_style_codes(src)
        dst = src.with_suffix(".safetensors")
        out.append(_save({f"{i:05d}": torch.from_numpy(c) for i, c in enumerate(codes.values())}, dst))
        write_config(dst.with_suffix(".json"), "dualstylegan", {"names": list(codes)})
        out.append(dst.with_suffix(".json"))
    elif name == "encoder.pt":
        obj = load_torch(src)
        tensors = state_entry(obj, "state_dict", src)
        if isinstance(obj.get("latent_avg"), torch.Tensor):
            tensors["latent_avg"] = obj["latent_avg"]
        out.append(_save(tensors, src.with_suffix(".safetensors")))
        write_config(src.with_suffix(".json"), "dualstylegan", {"opts": _json_safe(obj.get("opts", {}))})
        out.append(src.with_suffix(".json"))
    elif name == "sampler.pt":
        obj = load_torch(src)
        tensors = {f"{part}.{k}": v for part in ("color", "structure") for k, v in state_entry(obj, part, src).items()}
        out.append(_save(tensors, src.with_suffix(".safetensors")))
    elif src.suffix == ".pt":  # generator.pt and other g_ema checkpoints
        out.append(_save(load_tensors(src, "g_ema"), src.with_suffix(".safetensors")))
    return out


def convert_folder(folder: str | Path) -> list[Path]:
    """Convert every released file under `folder` (the checkpoint layout: encoder.pt, STYLE/generator.pt,
    sampler.pt and the two code files) to safetensors + JSON; returns the files written."""
    root = Path(folder)
    wanted = ("encoder.pt", "generator.pt", "sampler.pt", "exstyle_code.npy", "refined_exstyle_code.npy")
    written: list[Path] = []
    for src in sorted(root.rglob("*")):
        if src.is_file() and src.name in wanted:
            written += convert_file(src)
    return written
