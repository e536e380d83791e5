"""Fine-tuned StyO models on disk: one folder per model under WORKSPACE/models/styo/<name>/.

    styo.json            the record: base model, identifiers, prompts, source/target (copied here, pinned by
                         sha256), auxiliary set, training settings, steps done, the current checkpoint
    source.<ext>         byte copies of the images the model was fine-tuned on (stylize reuses them)
    target.<ext>
    step-000400/         the current checkpoint: unet/ (a full fine-tune, `save_pretrained`, safetensors) or
                         lora.safetensors (a peft LoRA adapter), and optimizer.safetensors (Adam's state)

A checkpoint is written into a new step folder first; only then does styo.json point at it (written to a
temporary file and renamed), and the older step folder is removed. A crash at any moment leaves either the
old or the new checkpoint in use, never half of one. The workspace is given by the caller (the CLI's
--workspace, the Studio's); without one, a model is found by its folder only.
"""
from __future__ import annotations

import fcntl
import os
import re
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from indexer.layout import WorkspaceLayout

from ..base import StylizeError
from ..model_config import read_config, write_config

RECORD = "styo.json"
PREFIX = "styo/"
METHOD = "styo"  # its models live in WORKSPACE/models/styo
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
WEIGHTS_FILES = {True: "lora.safetensors", False: "unet/diffusion_pytorch_model.safetensors"}  # by `lora`
OPTIMIZER_FILE = "optimizer.safetensors"


def models_root(workspace: WorkspaceLayout) -> Path:
    """WORKSPACE/models/styo: the workspace's fine-tuned StyO models."""
    return workspace.models_dir(METHOD)


def check_name(name: str) -> str:
    """A model name usable as a folder name: letters, digits, '.', '_', '-', at most 64, not starting with a dot."""
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise StylizeError(f"a StyO model name is 1-64 letters, digits, '.', '_' or '-' (not starting with '.' "
                           f"or '-'), got {name!r}")
    return name


@dataclass
class FineTuned:
    """A fine-tuned model folder and its parsed record."""

    folder: Path
    record: dict[str, Any]

    @property
    def name(self) -> str:
        return str(self.record["name"])

    @property
    def model_id(self) -> str:
        return PREFIX + self.name

    @property
    def base_id(self) -> str:
        return str(self.record["base"]["model"])

    @property
    def lora(self) -> bool:
        return bool(self.record["training"]["lora"])

    @property
    def step(self) -> int:
        return int(self.record.get("step", 0))

    @property
    def steps(self) -> int:
        return int(self.record["training"]["steps"])

    @property
    def checkpoint(self) -> Path | None:
        name = self.record.get("checkpoint")
        return self.folder / name if name else None

    @property
    def weights_file(self) -> Path | None:
        return self.checkpoint / WEIGHTS_FILES[self.lora] if self.checkpoint else None

    def image_path(self, which: str) -> Path:
        """The stored copy of the `source` or `target` image."""
        return self.folder / self.record[which]["file"]

    def weights_present(self) -> bool:
        return self.weights_file is not None and self.weights_file.is_file()

    def describe(self) -> str:
        kind = f"LoRA r={self.record['training'].get('lora_rank')}" if self.lora else "full UNet"
        done = f"step {self.step} of {self.steps}" + ("" if self.step >= self.steps else " (re-run finetune to finish)")
        return (f"StyO fine-tuned from {self.base_id} ({kind}, {done}): stylize {self.record['source']['from']} "
                f"in the style of {self.record['target']['from']}")

    def reload(self) -> FineTuned:
        """The model as it is on disk now (a finetune may have moved it on)."""
        return read(self.folder)


def read(folder: str | os.PathLike[str]) -> FineTuned:
    """The model in `folder`; StylizeError when it is not a StyO model folder."""
    folder = Path(folder)
    if not (folder / RECORD).is_file():
        raise StylizeError(f"{folder} is not a fine-tuned StyO model (no {RECORD})")
    return FineTuned(folder, read_config(folder / RECORD, "styo", legacy=False, keep_keys=True))


def model_folder(name: str, workspace: WorkspaceLayout) -> Path:
    return models_root(workspace) / check_name(name)


def open_model(ref: str, workspace: WorkspaceLayout | None = None) -> FineTuned:
    """A fine-tuned model by `styo/NAME`, `NAME` (in `workspace`) or its folder path."""
    if not isinstance(ref, str) or not ref.strip():
        raise StylizeError("styo needs a fine-tuned model: run `stylelens train styo --name NAME ...`, then "
                           "stylize with --model styo/NAME")
    name = ref.removeprefix(PREFIX)
    if workspace is not None and _NAME.fullmatch(name) and (models_root(workspace) / name).is_dir():
        return read(models_root(workspace) / name)
    if Path(ref).expanduser().is_dir() and (Path(ref).expanduser() / RECORD).is_file():
        return read(Path(ref).expanduser().resolve())
    if workspace is None:
        raise StylizeError(f"no fine-tuned StyO model folder {ref!r}; a model name (styo/NAME) is looked up in a "
                           "workspace, and none was given")
    known = ", ".join(m.model_id for m in list_finetuned(workspace)) or "none yet"
    raise StylizeError(f"no fine-tuned StyO model {ref!r} in {models_root(workspace)} (fine-tuned models: {known}); "
                       "run `stylelens train styo --name NAME ...` first")


def list_finetuned(workspace: WorkspaceLayout | None = None) -> list[FineTuned]:
    """Every readable fine-tuned model of `workspace`, by name (none without a workspace)."""
    if workspace is None:
        return []
    root = models_root(workspace)
    if not root.is_dir():
        return []
    found = []
    for folder in sorted(root.iterdir()):
        if folder.is_dir() and (folder / RECORD).is_file():
            try:
                found.append(read(folder))
            except StylizeError:
                continue  # a folder being created or damaged: not listed
    return found


def now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def write_record(folder: Path, record: dict[str, Any]) -> None:
    """styo.json, atomically (`indexer.atomic` via `generation.model_config`), in the one model-config format."""
    write_config(folder / RECORD, "styo", record)


def step_dir_name(step: int) -> str:
    return f"step-{step:06d}"


def commit_checkpoint(model: FineTuned, step_dir: Path, step: int, weights_sha256: str,
                      extra: dict[str, Any] | None = None) -> FineTuned:
    """Point the record at a fully written `step_dir`, then remove older step folders."""
    record = dict(model.record, step=int(step), checkpoint=step_dir.name, weights_sha256=weights_sha256,
                  updated=now(), **(extra or {}))
    write_record(model.folder, record)
    for old in model.folder.glob("step-*"):
        if old.is_dir() and old.name != step_dir.name:
            shutil.rmtree(old, ignore_errors=True)
    return FineTuned(model.folder, record)


@contextmanager
def training_lock(folder: Path) -> Iterator[None]:
    """One fine-tuning run per model at a time: an OS file lock beside the model's folder (released even when
    the run is killed)."""
    folder.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(folder.parent / f".{folder.name}.lock", os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise StylizeError(f"StyO model {folder.name!r} is being fine-tuned by another run; wait for it to "
                               "finish") from None
        yield
    finally:
        os.close(fd)
