"""The DualStyleGAN stylizer: a face photo in the style of an exemplar, G(E(I), f(z_e+), w).

One call: (1) crop the content face (FFHQ alignment by landmarks when a landmark model is here, else a
centre crop; the record says which) and encode it into Z+ (intrinsic code); (2) get the extrinsic code: the
style set's code `style_id`, a draw of the sampling network, or from the given styles, blended by their
weights (a vector style is a Z+ code; an image style is an unseen exemplar, encoded, destylised and refined
by latent optimisation, cached per image and settings); (3) run G with w, colour preservation and truncation.
"""
from __future__ import annotations

import dataclasses
import hashlib
import warnings
from collections import OrderedDict
from types import SimpleNamespace
from typing import Any, ClassVar

import numpy as np
import torch
from PIL import Image

from indexer.encoders.runtime import resolve_device
from indexer.layout import WorkspaceLayout

from ..base import ContentRef, StyleRef, StylizeError, Stylizer, normalized_weights
from ..diffusion import resolve_dtype
from . import params as params_mod
from .align import centre_crop, find_detector, prepare_face
from .exemplar import ExemplarNets, ExemplarResult, ExemplarSettings, extract, resolve_terms
from .inference import blend_codes, to_image, to_tensor, transfer
from .losses import LOSS_SIZE
from .models import Files, Loaded, ModelSpec, checkpoint_dir, load, locate, resolve_spec
from .params import Params

FACE_SIZE = 256  # the pSp encoder's input; content and style images are cropped to it
TINY_LOSS_SIZE = 64  # the tiny model compares images at 64 px (the contextual loss is quadratic in pixels)
_CACHE_SIZE = 8


def _progress(total: int, desc: str) -> Any:
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=desc, leave=False, disable=None)


class DualStyleGANStylizer(Stylizer):
    """DualStyleGAN (METHODS.md section 5) with the released checkpoints of one style set."""

    name: ClassVar[str] = "dualstylegan"
    Params: ClassVar[type] = Params
    supports_prompt: ClassVar[bool] = False

    def __init__(self, spec: ModelSpec, checkpoint_dir: str | None = None, device: str = "auto",
                 dtype: str | torch.dtype = "auto", vgg_path: str | None = None, arcface_path: str | None = None,
                 landmarks_path: str | None = None) -> None:
        self.spec = spec
        self.device = resolve_device(device)
        self.dtype = torch.float32 if dtype == "auto" else resolve_dtype(dtype, self.device)
        self.files: Files | None = None if spec.tiny else locate(spec, checkpoint_dir, vgg_path, arcface_path,
                                                                  landmarks_path)
        self._loaded: Loaded | None = None
        self._detector: tuple[Any, str] | None = None
        self._exemplars: OrderedDict[tuple, ExemplarResult] = OrderedDict()

    @property
    def model_ids(self) -> dict[str, str]:
        return {"model": self.spec.model_id, "source": "tiny" if self.spec.tiny else str(self.files.style_dir)}

    @property
    def loaded(self) -> Loaded:
        """The networks and codes (loaded on first use, so creating a stylizer stays cheap)."""
        if self._loaded is None:
            self._loaded = load(self.spec, self.files, self.device, self.dtype)
        return self._loaded

    @property
    def detector(self) -> tuple[Any, str]:
        """(landmark detector or None, why there is none)."""
        if self._detector is None:
            path = self.files.landmarks if self.files else None
            self._detector = find_detector(path)
        return self._detector

    def _presence(self) -> SimpleNamespace:
        if self.spec.tiny:
            return SimpleNamespace(vgg=True, finetuned=True, arcface=True)
        f = self.files
        return SimpleNamespace(vgg=f.vgg, finetuned=f.finetuned, arcface=f.arcface)

    def _code_set(self, params: Params) -> str:
        have = self.loaded.codes
        if params.code_set == "auto":
            return "refined" if "refined" in have else "raw"
        if params.code_set not in have:
            raise StylizeError(f"code_set={params.code_set!r}: this model has only {sorted(have)} codes")
        return params.code_set

    def resolve_params(self, params: Params, content: ContentRef) -> Params:
        """Validated, with w, the code set, the alignment and the exemplar loss terms resolved to what runs."""
        g = self.loaded.generator
        params_mod.validate(params, g.n_latent)
        code_set = self._code_set(params)
        if params.style_id is not None:
            self._code(params.style_id, code_set)  # refuses an unknown id now
        weights = params_mod.layer_weights(params, g.n_latent, len(g.structure_layers), self.spec.default_w_s)
        align = params.align
        if align == "auto":
            detector, reason = self.detector
            if detector is not None and content.image is not None \
                    and detector(np.asarray(content.image.convert("RGB"))) is None:
                detector, reason = None, "the landmark model found no face in the content image"
            align = "landmarks" if detector is not None else "centre"
            if detector is None:
                warnings.warn(f"dualstylegan: {reason}; the content face is centre-cropped, not aligned. Give "
                              "landmarks_path= (and pip install dlib) for FFHQ alignment.", stacklevel=2)
        terms = list(resolve_terms(self._presence(), params.exemplar_losses))  # type: ignore[arg-type]
        return dataclasses.replace(params, weights=weights, code_set=code_set, align=align, exemplar_losses=terms,
                                   output_size=params.output_size or g.size)

    # -- codes ---------------------------------------------------------------------------------------------

    def _code(self, style_id: int | str, code_set: str) -> np.ndarray:
        codes = self.loaded.codes[code_set]
        if isinstance(style_id, int):
            if style_id >= len(codes):
                raise StylizeError(f"style_id {style_id} is out of range: {self.spec.model_id} has {len(codes)} "
                                   f"{code_set} codes (0-{len(codes) - 1})")
            return list(codes.values())[style_id]
        if style_id not in codes:
            raise StylizeError(f"style_id {style_id!r} is not an image name of {self.spec.model_id}'s {code_set} codes")
        return codes[style_id]

    def _vector_code(self, style: StyleRef) -> torch.Tensor:
        g = self.loaded.generator
        v = np.asarray(style.vector, dtype=np.float32)
        if v.size != g.n_latent * g.style_dim or not np.isfinite(v).all():
            raise StylizeError(f"a vector style is an extrinsic Z+ code of {g.n_latent} x {g.style_dim} finite "
                               f"values; got {v.size} values")
        return torch.from_numpy(v.reshape(1, g.n_latent, g.style_dim).copy())

    def exemplar(self, image: Image.Image, params: Params, seed: int, bar: Any = None) -> ExemplarResult:
        """Codes of an unseen style image (cached per image, settings and seed)."""
        face = centre_crop(image, LOSS_SIZE)
        terms = tuple(params.exemplar_losses or resolve_terms(self._presence(), None))  # type: ignore[arg-type]
        settings = ExemplarSettings(refine_steps=params.exemplar_steps, destylise_steps=params.destylise_steps,
                                    lr_colour=params.lr_colour, lr_structure=params.lr_structure,
                                    loss_size=TINY_LOSS_SIZE if self.spec.tiny else LOSS_SIZE)
        key = (hashlib.sha256(face.tobytes()).hexdigest(), settings, terms, seed)
        if key in self._exemplars:
            self._exemplars.move_to_end(key)
            return self._exemplars[key]
        ld = self.loaded
        nets = ExemplarNets(ld.generator, ld.encoder, ld.finetuned, ld.vgg, ld.arcface)
        gen = torch.Generator("cpu").manual_seed(seed)
        with torch.enable_grad():
            result = extract(nets, to_tensor(face, self.device, self.dtype), settings, terms, gen,
                             on_step=(lambda: bar.update(1)) if bar is not None else None)
        self._exemplars[key] = result
        while len(self._exemplars) > _CACHE_SIZE:
            self._exemplars.popitem(last=False)
        return result

    def extrinsic(self, styles: list[StyleRef], params: Params, seed: int) -> torch.Tensor:
        """The Z+ extrinsic code of a run (1, n_latent, style_dim), float32 on the CPU."""
        if params.sample_style:
            sampler = self.loaded.sampler
            if sampler is None:
                raise StylizeError(f"sample_style needs the sampling network sampler.pt in {self.files.style_dir}")
            return sampler.sample(1, torch.Generator("cpu").manual_seed(seed)).float().cpu()
        if params.style_id is not None:
            return torch.from_numpy(self._code(params.style_id, params.code_set).copy())
        weights = normalized_weights(styles)
        used = [(s, float(w)) for s, w in zip(styles, weights, strict=True) if w > 0]
        n_images = sum(s.image is not None for s, _ in used)
        steps = n_images * (params.exemplar_steps + (params.destylise_steps if self._presence().finetuned else 0))
        with _progress(steps, "dualstylegan exemplar") as bar:
            codes = [self._vector_code(s) if s.vector is not None
                     else self.exemplar(s.image, params, seed, bar).extrinsic.cpu() for s, _ in used]
        return blend_codes(codes, [w for _, w in used])

    # -- the run -------------------------------------------------------------------------------------------

    def intrinsic(self, image: Image.Image, params: Params) -> torch.Tensor:
        """The content's intrinsic Z+ code E(face) (1, n_latent, style_dim), float32 on the device; the face is
        aligned or centre-cropped as `params.align` says (resolved: landmarks | centre)."""
        detector, reason = self.detector
        try:
            face, _ = prepare_face(image, FACE_SIZE, params.align, detector, reason)
        except ValueError as exc:
            raise StylizeError(str(exc)) from exc
        with torch.no_grad():
            return self.loaded.encoder.encode(to_tensor(face, self.device, self.dtype)).float()

    def render(self, intrinsic: torch.Tensor, extrinsic: torch.Tensor, params: Params, seed: int) -> Image.Image:
        """G(intrinsic, f(extrinsic), w) with resolved `params` (w, colour preservation, truncation, size).
        Intrinsic codes of several faces can be blended first (`inference.blend_codes`), as the paper's
        style blending does; the stylizer's own runs have one content face."""
        noise = self.loaded.generator.generator.make_noise(1, torch.Generator("cpu").manual_seed(seed))
        image = transfer(self.loaded.generator, intrinsic.to(self.device), extrinsic.to(self.device), params.weights,
                         params.truncation, params.preserve_colour, noise)
        return to_image(image, params.output_size)

    def _run(self, content: ContentRef, styles: list[StyleRef], params: Params, seed: int) -> list[Image.Image]:
        if params.weights is None or params.align == "auto":  # called without stylize(): resolve here
            params = self.resolve_params(params, content)
        intrinsic = self.intrinsic(content.image, params)
        return [self.render(intrinsic, self.extrinsic(styles, params, seed), params, seed)]


_OPTIONS = ("model", "checkpoint_dir", "device", "dtype", "vgg_path", "arcface_path", "landmarks_path")


def create(workspace: WorkspaceLayout | None = None, **options: Any) -> DualStyleGANStylizer:
    """Build a DualStyleGAN stylizer (weights load on first use).

    Options: model (an id from `list_models()`, default dualstylegan/cartoon, or a style folder),
    checkpoint_dir (default $STYLELENS_DUALSTYLEGAN_DIR, else `workspace`'s models/dualstylegan), device
    ("auto"), dtype ("auto" = float32), vgg_path / arcface_path / landmarks_path (optional loss and
    alignment weights outside the checkpoint folder).
    """
    unknown = sorted(set(options) - set(_OPTIONS))
    if unknown:
        raise StylizeError(f"unknown dualstylegan option(s) {unknown}; known: {list(_OPTIONS)}")
    spec = resolve_spec(options.get("model"))
    return DualStyleGANStylizer(spec, checkpoint_dir=checkpoint_dir(options.get("checkpoint_dir"), workspace),
                                device=options.get("device") or "auto", dtype=options.get("dtype") or "auto",
                                vgg_path=options.get("vgg_path"), arcface_path=options.get("arcface_path"),
                                landmarks_path=options.get("landmarks_path"))
