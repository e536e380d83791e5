"""DualStyleGAN model ids (one per released style set), where their files are, and loading them.

The checkpoints are the authors' (S-Lab License 1.0: non-commercial use only); StyleLens never ships or
downloads them. Users put them in a checkpoint folder laid out as the official repository's `checkpoint/`:

    DIR/encoder.pt                          pSp encoder into Z+ (shared by every style)
    DIR/STYLE/generator.pt                  DualStyleGAN (its `g_ema`)
    DIR/STYLE/refined_exstyle_code.npy      extrinsic codes refined by latent optimisation (or exstyle_code.npy)
    DIR/STYLE/sampler.pt                    optional: the sampling network N (`sample_style`)
    DIR/STYLE/finetune-000600.pt            optional: the fine-tuned StyleGAN g' (destylisation stage II)
    DIR/model_ir_se50.pth                   optional: ArcFace IR-SE-50 (identity loss)
    DIR/vgg19.pth | vgg19.safetensors       optional: torchvision VGG19 (perceptual / contextual losses;
                                            also found as torch hub's cached vgg19-dcbb9e9d.pth)
    DIR/shape_predictor_68_face_landmarks.dat  optional: dlib landmarks (face alignment; needs `dlib`)

A `.safetensors` file (see `checkpoints.convert_folder`) is preferred over the `.pt` / `.npy` of the same
name. DIR is the `checkpoint_dir` option, else $STYLELENS_DUALSTYLEGAN_DIR, else the given workspace's
models/dualstylegan (the CLI's and the Studio's workspace). A model may also be given as the path of a style
folder (its parent is then DIR unless the folder holds encoder.pt itself).
"""
from __future__ import annotations

import os
from collections import OrderedDict
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np
import torch

from indexer.layout import WorkspaceLayout

from ..base import StylizeError
from ..weights import WeightsMissingError
from . import tiny
from .architecture import encoder_config, generator_config, sampler_shapes, stylegan_config
from .checkpoints import (
    CheckpointError,
    load_strict,
    load_style_codes,
    load_tensors,
    load_torch,
    read_side_json,
    state_entry,
)
from .irse import ArcFace
from .losses import VGG19Features, vgg_state
from .network import DualStyleGAN
from .psp import PSPEncoder, config_from_opts, split_psp_state
from .sampler import StyleSampler
from .stylegan2 import Generator

ENV_DIR = "STYLELENS_DUALSTYLEGAN_DIR"
LICENCE = "S-Lab License 1.0 (non-commercial use only)"
DOWNLOAD_PAGE = "https://github.com/williamyang1991/DualStyleGAN#pretrained-models"
DRIVE_FOLDER = "https://drive.google.com/drive/folders/1GZQ6Gs5AzJq9lUL-ldIQexi0JYPKNy8b"
HF_MIRROR = "CVPR/DualStyleGAN"  # the files the official Hugging Face demo loads, under models/
FINETUNED = "finetune-000600"
PREDICTOR = "shape_predictor_68_face_landmarks.dat"
VGG_HUB_FILE = "vgg19-dcbb9e9d.pth"


@dataclass(frozen=True)
class ModelSpec:
    """One style set: `style` is its folder name; `default_w_s` the paper's structure weights for it."""

    model_id: str
    style: str
    description: str
    default_w_s: tuple[float, ...] = (0.75,) * 7
    tiny: bool = False
    folder: str | None = None  # a style folder given as the model

    @property
    def licence(self) -> str:
        return "random weights (tests only)" if self.tiny else f"{LICENCE}; weights by S. Yang et al."


_SETS = (  # (style, images, default w_s) as the paper and the official README give them
    ("cartoon", "317 cartoon faces (Toonify)", (0.75,) * 7), ("caricature", "199 WebCaricature images", (1.0,) * 7),
    ("anime", "174 Danbooru portraits", (0, 0, 0, 0, 0.75, 0.75, 0.75)), ("arcane", "100 Arcane faces", (0.75,) * 7),
    ("comic", "101 comic faces", (0.75,) * 7), ("pixar", "122 Pixar faces", (0.75,) * 7),
    ("slamdunk", "120 Slam Dunk faces", (0.75,) * 7), ("fantasy", "137 fantasy faces (Stable Diffusion)", (0.75,) * 7),
    ("illustration", "156 illustration faces (Stable Diffusion)", (0.75,) * 7),
    ("impasto", "120 impasto faces (Stable Diffusion)", (0.75,) * 7),
)
MODELS: dict[str, ModelSpec] = {f"dualstylegan/{s}": ModelSpec(f"dualstylegan/{s}", s, f"DualStyleGAN 1024 px, {d}",
                                                                tuple(float(x) for x in w)) for s, d, w in _SETS}
MODELS["dualstylegan/tiny"] = ModelSpec("dualstylegan/tiny", "tiny", "tiny random DualStyleGAN + pSp, for tests only",
                                        tiny=True)
DEFAULT_MODEL = "dualstylegan/cartoon"


def checkpoint_dir(explicit: str | Path | None = None, workspace: WorkspaceLayout | None = None) -> Path | None:
    """The checkpoint folder: the option, else $STYLELENS_DUALSTYLEGAN_DIR, else WORKSPACE/models/dualstylegan;
    None when none of them is given."""
    if explicit:
        return Path(explicit).expanduser()
    if os.environ.get(ENV_DIR):
        return Path(os.environ[ENV_DIR]).expanduser()
    return workspace.models_dir("dualstylegan") if workspace is not None else None


def resolve_spec(model: str | None) -> ModelSpec:
    """The spec of a model id, or of a style folder path."""
    model = model or DEFAULT_MODEL
    if model in MODELS:
        return MODELS[model]
    folder = Path(model).expanduser()
    if folder.is_dir():
        return ModelSpec(str(folder), folder.name, f"local style folder {folder}", folder=str(folder))
    raise StylizeError(f"unknown DualStyleGAN model {model!r}; known: {', '.join(MODELS)}, or a style folder")


def _first(folder: Path, *names: str) -> Path | None:
    return next((folder / n for n in names if (folder / n).is_file()), None)


@dataclass(frozen=True)
class Files:
    """Where each file of a model is (None: not here)."""

    root: Path
    style_dir: Path
    encoder: Path | None
    generator: Path | None
    codes: dict[str, Path] = field(default_factory=dict)  # "refined" / "raw"
    sampler: Path | None = None
    finetuned: Path | None = None
    arcface: Path | None = None
    vgg: Path | None = None
    landmarks: Path | None = None

    def missing(self) -> list[str]:
        """The required files that are absent, relative to the checkpoint folder."""
        rel = self.style_dir.relative_to(self.root) if self.style_dir.is_relative_to(self.root) else self.style_dir
        out = [] if self.encoder else ["encoder.pt"]
        out += [] if self.generator else [f"{rel}/generator.pt"]
        out += [] if self.codes else [f"{rel}/refined_exstyle_code.npy (or exstyle_code.npy)"]
        return out


def locate(spec: ModelSpec, root: str | Path | None = None, vgg_path: str | None = None,
           arcface_path: str | None = None, landmarks_path: str | None = None) -> Files:
    """Find a model's files (no network). Explicit paths win over the folder's own files."""
    if spec.folder:
        style_dir = Path(spec.folder)
        base = Path(root).expanduser() if root else (style_dir if (style_dir / "encoder.pt").is_file()
                                                     or (style_dir / "encoder.safetensors").is_file()
                                                     else style_dir.parent)
    else:
        base = checkpoint_dir(root)
        if base is None:
            raise WeightsMissingError(f"DualStyleGAN model {spec.model_id!r}", hub=False,
                                      reason=f"no checkpoint folder: none given, ${ENV_DIR} unset and no workspace "
                                      "(its models/dualstylegan folder)",
                                      fixes=(("checkpoint_dir", "DIR"), ("workspace", "WORKSPACE")))
        style_dir = base / spec.style
    codes = {kind: p for kind, stem in (("refined", "refined_exstyle_code"), ("raw", "exstyle_code"))
             if (p := _first(style_dir, f"{stem}.safetensors", f"{stem}.npy"))}
    hub_vgg = Path(torch.hub.get_dir()) / "checkpoints" / VGG_HUB_FILE
    return Files(
        root=base, style_dir=style_dir,
        encoder=_first(base, "encoder.safetensors", "encoder.pt"),
        generator=_first(style_dir, "generator.safetensors", "generator.pt"), codes=codes,
        sampler=_first(style_dir, "sampler.safetensors", "sampler.pt"),
        finetuned=_first(style_dir, f"{FINETUNED}.safetensors", f"{FINETUNED}.pt"),
        arcface=Path(arcface_path) if arcface_path else _first(base, "model_ir_se50.safetensors", "model_ir_se50.pth"),
        vgg=Path(vgg_path) if vgg_path else (_first(base, "vgg19.safetensors", "vgg19.pth", VGG_HUB_FILE)
                                             or (hub_vgg if hub_vgg.is_file() else None)),
        landmarks=Path(landmarks_path) if landmarks_path else _first(base, PREDICTOR))


def weights_missing_error(spec: ModelSpec, files: Files) -> WeightsMissingError:
    """Names each missing file, the folder searched, where to download and under which licence."""
    style = spec.style
    notes = [f"Download them yourself ({LICENCE}; StyleLens does not ship them) from {DOWNLOAD_PAGE} "
             f"(Google Drive: {DRIVE_FOLDER}: encoder.pt and the {style} folder), or from the Hugging Face mirror the "
             f"official demo uses: hf download {HF_MIRROR} models/encoder.pt models/{style}/generator.pt "
             f"models/{style}/refined_exstyle_code.npy --local-dir D (D/models is then the folder; older style sets "
             f"have exstyle_code.npy only).", f"Put them in {files.root} (or set ${ENV_DIR});"]
    return WeightsMissingError(f"DualStyleGAN model {spec.model_id!r}", [(str(files.root), f) for f in files.missing()],
                               where=str(files.root), hub=False, notes=notes, fixes=(("checkpoint_dir", "DIR"),))


def list_models(workspace: WorkspaceLayout | None = None) -> list[Any]:
    """One GeneratorInfo row per style set (weights presence checked locally, no network)."""
    from ..registry import GeneratorInfo

    root = checkpoint_dir(None, workspace)
    rows = []
    for s in MODELS.values():
        present = s.tiny or (root is not None and not locate(s, root).missing())
        rows.append(GeneratorInfo("dualstylegan", s.model_id, s.description, present, s.licence))
    return rows


# ------------------------------------------------------------------------------------------- loading


@dataclass
class Loaded:
    """A model's networks; the optional ones load on first use (None when their files are not here)."""

    spec: ModelSpec
    generator: DualStyleGAN
    encoder: PSPEncoder
    codes: dict[str, OrderedDict[str, np.ndarray]]
    files: Files | None = None
    device: str = "cpu"
    dtype: torch.dtype = torch.float32
    tiny_nets: dict[str, Any] = field(default_factory=dict)

    def _to(self, module: torch.nn.Module) -> torch.nn.Module:
        return module.to(self.device, self.dtype).eval().requires_grad_(False)

    def _optional(self, name: str, build: Any) -> Any:
        if self.spec.tiny:
            net = self.tiny_nets.get(name)
            return self._to(net) if net is not None else None
        path = getattr(self.files, name) if self.files else None
        return self._to(build(path)) if path else None

    @cached_property
    def sampler(self) -> StyleSampler | None:
        return self._optional("sampler", lambda p: load_sampler(p, self.generator.style_dim))

    @cached_property
    def finetuned(self) -> Generator | None:
        return self._optional("finetuned", load_finetuned)

    @cached_property
    def vgg(self) -> VGG19Features | None:
        return self._optional("vgg", load_vgg)

    @cached_property
    def arcface(self) -> ArcFace | None:
        return self._optional("arcface", load_arcface)


def load_generator(path: Path) -> DualStyleGAN:
    state = load_tensors(path, "g_ema")
    with torch.device("meta"):
        model = DualStyleGAN(**generator_config(state, str(path)).kwargs())
    load_strict(model, state, f"{path} (g_ema)")
    return model


def load_encoder(path: Path) -> PSPEncoder:
    if path.suffix == ".safetensors":
        full = load_tensors(path)
        latent_avg = full.pop("latent_avg", None)
        opts = read_side_json(path, "opts") or {}  # start_from_latent_avg decides whether latent_avg is added
    else:
        obj = load_torch(path)
        full, latent_avg, opts = state_entry(obj, "state_dict", path), obj.get("latent_avg"), obj.get("opts") or {}
    enc, dec, other = split_psp_state(full)
    if other:
        raise CheckpointError(f"{path}: unexpected entries outside encoder./decoder.: {other[:6]}")
    config = encoder_config(enc, f"{path} (encoder)")
    if not isinstance(opts, dict):
        raise CheckpointError(f"{path}: its 'opts' is a {type(opts).__name__}, not the dict pSp saves")
    try:
        _, from_avg, in_w = config_from_opts(opts, config.style_dim)
    except (TypeError, ValueError) as exc:
        raise CheckpointError(f"{path}: {exc}") from exc
    with torch.device("meta"):
        model = PSPEncoder(config, from_avg, in_w)
        if dec:  # the pSp decoder (g): checked for names and shapes, not kept (DualStyleGAN holds g)
            load_strict(Generator(**stylegan_config(dec, "", f"{path} (decoder)")), dec, f"{path} (decoder)")
    load_strict(model.encoder, enc, f"{path} (encoder)")
    model.latent_avg = torch.zeros(config.n_styles, config.style_dim)
    try:
        model.set_latent_avg(latent_avg if isinstance(latent_avg, torch.Tensor) else None)
    except (ValueError, RuntimeError) as exc:
        raise CheckpointError(f"{path}: {exc}") from exc
    return model


def load_sampler(path: Path, style_dim: int) -> StyleSampler:
    if path.suffix == ".safetensors":
        state = load_tensors(path)
    else:
        obj = load_torch(path)
        state = {f"{p}.{k}": v for p in ("structure", "color") for k, v in state_entry(obj, p, path).items()}
    with torch.device("meta"):
        model = StyleSampler(**sampler_shapes(state, style_dim, str(path)))
    load_strict(model, state, str(path))
    return model


def load_finetuned(path: Path) -> Generator:
    state = load_tensors(path, "g_ema")
    with torch.device("meta"):
        model = Generator(**stylegan_config(state, "", str(path)))
    load_strict(model, state, f"{path} (g_ema)")
    return model


def load_vgg(path: Path) -> VGG19Features:
    model = VGG19Features()  # built for real: its normalisation buffers are not in the file
    load_strict(model, vgg_state(load_tensors(path)), f"{path} (VGG19 features)")
    return model


def load_arcface(path: Path) -> ArcFace:
    with torch.device("meta"):
        model = ArcFace()
    load_strict(model, load_tensors(path), f"{path} (ArcFace IR-SE-50)")
    return model


def load(spec: ModelSpec, files: Files | None, device: str = "cpu", dtype: torch.dtype = torch.float32) -> Loaded:
    """Load a model's required networks and codes (optional ones load on first use)."""
    if spec.tiny:
        parts = tiny.build()
        loaded = Loaded(spec, parts.generator, parts.encoder, {"refined": parts.codes}, None, device, dtype,
                        parts.optional())
    else:
        if files is None or files.missing():
            raise weights_missing_error(spec, files or locate(spec))
        codes = {kind: load_style_codes(p) for kind, p in files.codes.items()}
        loaded = Loaded(spec, load_generator(files.generator), load_encoder(files.encoder), codes, files, device,
                        dtype)
    loaded._to(loaded.generator)
    loaded._to(loaded.encoder)
    return loaded
