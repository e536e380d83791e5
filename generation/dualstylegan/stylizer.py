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
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any, ClassVar

import numpy as np
import torch
from PIL import Image

from ..base import ContentRef, StyleRef, StylizeError, normalized_weights
from ..method import Method, WorkspaceOptions
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


@dataclass(frozen=True)
class Options(WorkspaceOptions):
    """model: an id from `list_models()` (default dualstylegan/cartoon) or a style folder; checkpoint_dir:
    default $STYLELENS_DUALSTYLEGAN_DIR, else the given `workspace`'s models/dualstylegan; vgg_path / arcface_path /
    landmarks_path: optional loss and alignment weights outside the checkpoint folder. dtype "auto" is float32."""

    checkpoint_dir: str | None = None
    vgg_path: str | None = None
    arcface_path: str | None = None
    landmarks_path: str | None = None


class DualStyleGANStylizer(Method):
    """DualStyleGAN (METHODS.md section 5) with the released checkpoints of one style set."""

    name: ClassVar[str] = "dualstylegan"
    Params: ClassVar[type] = Params
    Options: ClassVar[type] = Options
    supports_prompt: ClassVar[bool] = False

    def __init__(self, spec: ModelSpec, options: Options | None = None, **overrides: Any) -> None:
        super().__init__(spec, options, **overrides)
        o = self.options
        root = checkpoint_dir(o.checkpoint_dir, o.workspace)
        self.files: Files | None = None if spec.tiny else locate(spec, root, o.vgg_path, o.arcface_path,
                                                                  o.landmarks_path)
        self._detector: tuple[Any, str] | None = None

    @classmethod
    def resolve_spec(cls, options: Options) -> ModelSpec:
        return resolve_spec(options.model)

    def resolve_dtype(self, dtype: str | torch.dtype) -> torch.dtype | None:
        return torch.float32 if dtype == "auto" else super().resolve_dtype(dtype)

    @property
    def model_ids(self) -> dict[str, str]:
        return {"model": self.spec.model_id, "source": "tiny" if self.spec.tiny else str(self.files.style_dir)}

    def load(self) -> Loaded:
        return load(self.spec, self.files, self.device, self.dtype)

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
        cached = self.cache("exemplars", _CACHE_SIZE).get(key)
        if cached is not None:
            return cached
        ld = self.loaded
        nets = ExemplarNets(ld.generator, ld.encoder, ld.finetuned, ld.vgg, ld.arcface)
        gen = torch.Generator("cpu").manual_seed(seed)
        with torch.enable_grad():
            result = extract(nets, to_tensor(face, self.device, self.dtype), settings, terms, gen,
                             on_step=(lambda: bar.update(1)) if bar is not None else None)
        return self.cache("exemplars", _CACHE_SIZE).put(key, result)

    def _exemplar_steps(self, styles: list[StyleRef], params: Params) -> int:
        """Optimisation steps the run's unseen exemplars take (0 for a style id or a sampled style)."""
        if params.sample_style or params.style_id is not None:
            return 0
        weights = normalized_weights(styles)
        n_images = sum(s.image is not None for s, w in zip(styles, weights, strict=True) if w > 0)
        return n_images * (params.exemplar_steps + (params.destylise_steps if self._presence().finetuned else 0))

    def extrinsic(self, styles: list[StyleRef], params: Params, seed: int, bar: Any = None) -> torch.Tensor:
        """The Z+ extrinsic code of a run (1, n_latent, style_dim), float32 on the CPU."""
        if params.sample_style:
            sampler = self.loaded.sampler
            if sampler is None:
                raise StylizeError(f"sample_style needs the sampling network sampler.pt in {self.files.style_dir}")
            return sampler.sample(1, torch.Generator("cpu").manual_seed(seed)).float().cpu()
        if params.style_id is not None:
            return torch.from_numpy(self._code(params.style_id, params.code_set).copy())
        if bar is None:
            with self.progress(self._exemplar_steps(styles, params), "dualstylegan exemplar") as own:
                return self.extrinsic(styles, params, seed, own)
        weights = normalized_weights(styles)
        used = [(s, float(w)) for s, w in zip(styles, weights, strict=True) if w > 0]
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
        intrinsic = self.intrinsic(content.image, params)
        with self.progress(self._exemplar_steps(styles, params) + 1) as bar:
            image = self.render(intrinsic, self.extrinsic(styles, params, seed, bar), params, seed)
            bar.update(bar.total - bar.done)  # the render, and the steps a cached exemplar skipped
        return [image]


def create(**options: Any) -> DualStyleGANStylizer:
    """Build a DualStyleGAN stylizer (weights load on first use). Options: `Options` (model, checkpoint_dir,
    workspace, device, dtype, vgg_path, arcface_path, landmarks_path)."""
    return DualStyleGANStylizer.create(**options)
