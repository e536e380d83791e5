"""open_clip content encoder (full profile): image + open-vocabulary text in one space.

Encoder id: `open_clip/<arch>:<pretrained tag | local checkpoint path>`, e.g. the default
`open_clip/ViT-B-32:laion2b_s34b_b79k`. Weights come through open_clip's own pretrained-tag registry and
the Hugging Face cache; we resolve them first (cache -> HF_HUB_OFFLINE -> 3 s reachability probe ->
download) so a machine without hub access gets a clear EncoderError instead of a long hang.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Sequence

import numpy as np

from .base import Encoder, EncoderError
from .hub import cached_hf_file, download_hf_file, hf_cache_dir, hf_endpoint, hf_offline, probe_url
from .preprocess import Preprocess
from .runtime import configure_torch_threads, differentiable_forward, resolve_device, seeded, torch_forward

if TYPE_CHECKING:
    import torch

PREFIX = "open_clip/"
DEFAULT_ARCH, DEFAULT_TAG = "ViT-B-32", "laion2b_s34b_b79k"
DEFAULT_ID = f"{PREFIX}{DEFAULT_ARCH}:{DEFAULT_TAG}"
TINY_ID = "tiny/open_clip"
OPENAI_MEAN = (0.48145466, 0.4578275, 0.40821073)
OPENAI_STD = (0.26862954, 0.26130258, 0.27577711)
SAFE_NAME, BIN_NAME = "open_clip_model.safetensors", "open_clip_pytorch_model.bin"
# Known without importing open_clip (its import costs seconds): the default tag's hub source.
_KNOWN_SOURCES = {(DEFAULT_ARCH, DEFAULT_TAG): {"hf_hub": "laion/CLIP-ViT-B-32-laion2B-s34B-b79K/"}}
_CKPT_SUFFIXES = (".safetensors", ".bin", ".pt", ".pth")


def _import_open_clip():
    from ..compat import import_torchvision

    import_torchvision()
    import open_clip

    return open_clip


def parse_id(encoder_id: str) -> tuple[str, str]:
    """`open_clip/<arch>:<tag or path>` -> (arch, tag or path)."""
    if not encoder_id.startswith(PREFIX) or ":" not in encoder_id[len(PREFIX):]:
        raise EncoderError(f"not an open_clip encoder id: {encoder_id!r}; expected open_clip/<arch>:<tag or path>")
    arch, source = encoder_id[len(PREFIX):].split(":", 1)
    if not arch or not source:
        raise EncoderError(f"bad open_clip encoder id {encoder_id!r}: need both an architecture and a tag/path")
    return arch, source


def _is_path(source: str) -> bool:
    """A tag is a bare name; anything with a path separator or a checkpoint suffix is a local path."""
    return os.sep in source or "/" in source or source.endswith(_CKPT_SUFFIXES)


def _local_checkpoint(source: str) -> Path:
    path = Path(source).expanduser()
    if path.is_dir():
        for name in (SAFE_NAME, BIN_NAME):
            if (path / name).is_file():
                return path / name
        raise EncoderError(f"no {SAFE_NAME} or {BIN_NAME} in checkpoint folder {path}")
    if not path.is_file():
        raise EncoderError(f"open_clip checkpoint path not found: {path}")
    return path


def _check_arch(open_clip, arch: str) -> None:
    if open_clip.get_model_config(arch) is None:
        raise EncoderError(f"open_clip has no architecture {arch!r}; see open_clip.list_models()")


def pretrained_cfg(arch: str, tag: str) -> dict:
    """open_clip's pretrained config for (arch, tag); EncoderError listing the known tags if unknown."""
    if (arch, tag) in _KNOWN_SOURCES:
        return dict(_KNOWN_SOURCES[(arch, tag)])
    open_clip = _import_open_clip()
    _check_arch(open_clip, arch)
    cfg = open_clip.get_pretrained_cfg(arch, tag)
    if not cfg:
        tags = open_clip.list_pretrained_tags_by_model(arch)
        raise EncoderError(
            f"open_clip has no pretrained tag {tag!r} for {arch!r} (known tags: {', '.join(tags) or 'none'}); "
            "pass a known tag or a local checkpoint path"
        )
    return cfg


def _hub_source(cfg: dict) -> tuple[str, tuple[str, ...]]:
    """(repo id, candidate filenames, safetensors first) of an hf_hub pretrained config, as open_clip does."""
    hub = cfg["hf_hub"]
    if hub.endswith("/"):  # repo only: open_clip's default filenames
        return hub.rstrip("/"), (SAFE_NAME, BIN_NAME)
    repo, filename = os.path.split(hub)
    if filename.endswith((".bin", ".pth")):
        return repo, (filename[:-4] + ".safetensors", filename)
    return repo, (filename,)


def _missing(arch: str, tag: str, repo: str, names: tuple[str, ...], why: str) -> EncoderError:
    return EncoderError(
        f"open_clip model {arch} (pretrained tag {tag!r}) needs weights from the Hugging Face Hub repo {repo} "
        f"(file {names[0]}), which are not in the local cache {hf_cache_dir()} and cannot be fetched: {why}. "
        f"Fix: run once with internet access (HF_HUB_OFFLINE unset) so open_clip downloads them; or "
        f"`hf download {repo} {names[0]}` (older huggingface_hub: `huggingface-cli download {repo} {names[0]}`) "
        f"on a connected machine and copy the HF cache over; or pass a local checkpoint as the tag: "
        f"open_clip/{arch}:/path/to/{names[0]}. The starter profile needs no download."
    )


def resolve_weights(arch: str, source: str, allow_download: bool = True) -> Path:
    """Local checkpoint file for (arch, tag-or-path): cache, else bounded download, else EncoderError."""
    if _is_path(source):
        return _local_checkpoint(source)
    cfg = pretrained_cfg(arch, source)
    if cfg.get("file"):
        return _local_checkpoint(cfg["file"])
    if not cfg.get("hf_hub"):
        raise EncoderError(f"open_clip tag {arch}:{source} has no Hugging Face source; download it and pass its path")
    repo, names = _hub_source(cfg)
    hit = cached_hf_file(repo, names)
    if hit is not None:
        return hit
    if not allow_download:
        raise _missing(arch, source, repo, names, "downloads are disabled here")
    if hf_offline():
        raise _missing(arch, source, repo, names, "HF_HUB_OFFLINE is set")
    ok, detail = probe_url(f"{hf_endpoint()}/{repo}/resolve/main/{names[0]}", timeout=3.0)
    if not ok:
        raise _missing(arch, source, repo, names, f"{hf_endpoint()} is unreachable ({detail})")
    errors = []
    for name in names:
        try:
            return download_hf_file(repo, name)
        except Exception as exc:  # not found / network dropped: try the next candidate
            errors.append(f"{name}: {type(exc).__name__}: {exc}")
    raise _missing(arch, source, repo, names, "download failed (" + "; ".join(errors) + ")")


def full_profile_available(encoder_id: str = DEFAULT_ID) -> tuple[bool, str]:
    """Whether `encoder_id`'s weights are local or fetchable now (≤3 s probe, none when offline), and why."""
    try:
        arch, source = parse_id(encoder_id)
        if _is_path(source):
            return True, f"local checkpoint {_local_checkpoint(source)}"
        cfg = pretrained_cfg(arch, source)
        repo, names = _hub_source(cfg)
    except EncoderError as exc:
        return False, str(exc)
    hit = cached_hf_file(repo, names)
    if hit is not None:
        return True, f"{encoder_id}: weights present in the local Hugging Face cache ({hit})"
    if hf_offline():
        return False, (f"{encoder_id}: weights not in the local Hugging Face cache ({hf_cache_dir()}) and "
                       f"HF_HUB_OFFLINE is set; run once online or `hf download {repo} {names[0]}`")
    ok, detail = probe_url(f"{hf_endpoint()}/{repo}/resolve/main/{names[0]}", timeout=3.0)
    if ok:
        return True, f"{encoder_id}: not cached yet; {hf_endpoint()} is reachable, first use downloads {repo}"
    return False, (f"{encoder_id}: weights not in the local Hugging Face cache ({hf_cache_dir()}) and "
                   f"{hf_endpoint()} is unreachable ({detail}); use the starter profile or pass a local checkpoint")


def weights_present(encoder_id: str = DEFAULT_ID) -> bool:
    """True when the weights are on this machine (no network access at all)."""
    try:
        arch, source = parse_id(encoder_id)
        if _is_path(source):
            return _local_checkpoint(source).is_file()
        return cached_hf_file(*_hub_source(pretrained_cfg(arch, source))) is not None
    except EncoderError:
        return False


class OpenClipEncoder(Encoder):
    """open_clip image and text towers; both return L2-normalised embeddings in the shared space."""

    supports_text = True
    supports_torch_forward = True

    def __init__(self, encoder_id: str, model, tokenizer, preprocess: Preprocess, device: str, tiny: bool = False):
        self.encoder_id = encoder_id
        self.device = device
        self.model = model.eval().to(device)
        self.tokenizer = tokenizer
        self.preprocess = preprocess
        self.dim = int(model.text_projection.shape[1]) if hasattr(model, "text_projection") else int(
            model.visual.output_dim)
        self.tiny = tiny
        configure_torch_threads()

    def embed_images(self, batch: np.ndarray) -> np.ndarray:
        """(N, 3, S, S) preprocessed batch -> (N, dim) L2-normalised image embeddings."""
        return torch_forward(self.model.encode_image, batch, self.device)

    def torch_forward(self, images: torch.Tensor) -> torch.Tensor:
        return differentiable_forward(self.model.encode_image, self.model, self.preprocess, images)

    def embed_texts(self, texts: Sequence[str]) -> np.ndarray:
        """(N,) texts -> (N, dim) L2-normalised text embeddings."""
        if isinstance(texts, str):
            raise TypeError("pass a list of strings, not one string")
        tokens = self.tokenizer(list(texts)).numpy()
        return torch_forward(self.model.encode_text, tokens.astype(np.int64), self.device)


def _preprocess_for(image_size: int, cfg: dict) -> Preprocess:
    interp = cfg.get("interpolation", "bicubic")
    return Preprocess(size=image_size, crop="center", resize_to=image_size,
                      mean=tuple(cfg.get("mean", OPENAI_MEAN)), std=tuple(cfg.get("std", OPENAI_STD)),
                      interpolation=interp if interp in ("bilinear", "bicubic", "lanczos") else "bicubic")


def create(encoder_id: str = DEFAULT_ID, device: str | None = None) -> OpenClipEncoder:
    """Build an open_clip encoder from its id; weights resolved first (no hang, clear error if missing)."""
    arch, source = parse_id(encoder_id)
    checkpoint = resolve_weights(arch, source)
    open_clip = _import_open_clip()
    _check_arch(open_clip, arch)
    cfg = {} if _is_path(source) else open_clip.get_pretrained_cfg(arch, source)
    dev = resolve_device(device)
    try:
        model = open_clip.create_model(arch, pretrained=str(checkpoint), device=dev,
                                       force_quick_gelu=bool(cfg.get("quick_gelu", False)))
    except (RuntimeError, OSError, ValueError, KeyError) as exc:  # corrupt file, wrong architecture...
        raise EncoderError(f"cannot load open_clip {arch} weights from {checkpoint}: {exc}") from exc
    size = model.visual.image_size
    size = size[0] if isinstance(size, (tuple, list)) else int(size)
    return OpenClipEncoder(encoder_id, model, open_clip.get_tokenizer(arch), _preprocess_for(size, cfg), dev)


def create_tiny(device: str | None = None, seed: int = 0) -> OpenClipEncoder:
    """`tiny/open_clip`: a 2-layer ViT + 2-layer text transformer with seeded random weights. Tests only.

    Uses open_clip's own CLIP class and its bundled BPE tokenizer (shipped in the package, no download).
    """
    open_clip = _import_open_clip()
    from open_clip.model import CLIPTextCfg, CLIPVisionCfg
    from open_clip.tokenizer import SimpleTokenizer

    context = 16
    with seeded(seed):
        model = open_clip.CLIP(
            embed_dim=32,
            vision_cfg=CLIPVisionCfg(layers=2, width=64, head_width=32, patch_size=8, image_size=32),
            text_cfg=CLIPTextCfg(context_length=context, vocab_size=49408, width=32, heads=2, layers=2),
        )
    dev = resolve_device(device)
    return OpenClipEncoder(TINY_ID, model, SimpleTokenizer(context_length=context), _preprocess_for(32, {}), dev,
                           tiny=True)
