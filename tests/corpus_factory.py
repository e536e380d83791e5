"""Write small test corpora (good images, bad files, content x style families) and say what to expect.

Every writer takes a directory, creates it if needed, writes files into it, and returns a dict keyed by
file name (relative to that directory, as str; a non-UTF-8 name is the str `os.fsdecode` gives, so
``os.path.join(dir, name)`` reaches it). Everything is seeded and small, so a whole corpus takes well
under a second to write. No network, no model weights.

Good images use a four-quadrant colour pattern as *displayed* (after EXIF rotation), so a test can check
orientation by colour, not just by size: `quadrant_colours(image)` samples the centres of the four
quadrants of any decoded RGB image; compare with `GoodImage.quadrants` using `colours_close`.
"""
from __future__ import annotations

import io
import os
import struct
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
from PIL import Image, ImageFilter

RGB = tuple[int, int, int]
RED: RGB = (230, 30, 30)
GREEN: RGB = (30, 200, 40)
BLUE: RGB = (30, 40, 220)
YELLOW: RGB = (240, 220, 30)
WHITE: RGB = (255, 255, 255)
BLACK: RGB = (0, 0, 0)
PATTERN: tuple[RGB, RGB, RGB, RGB] = (RED, GREEN, BLUE, YELLOW)  # top-left, top-right, bottom-left, bottom-right


@dataclass(frozen=True)
class GoodImage:
    """What `decode_file` should return for a good file.

    size: (width, height) of the original after EXIF rotation. format: Pillow's format id.
    quadrants: expected RGB at the centres of the TL, TR, BL, BR quadrants of the decoded image.
    tolerance: per-channel tolerance for lossy formats. note: what the file exercises.
    """

    size: tuple[int, int]
    format: str
    quadrants: tuple[RGB, RGB, RGB, RGB]
    tolerance: int
    note: str


@dataclass(frozen=True)
class BadFile:
    """A file that must be skipped with a reason.

    stage "scan": `scan` yields a ScanProblem for it (decode never sees it).
    stage "decode": `scan` yields a FoundFile, `decode_file` raises ImageRejected.
    stage "direct": `scan` sees a directory and walks into it (nothing to report); only a direct
    `decode_file(path)` call rejects it.
    reason: a substring expected in the reported reason (ScanProblem.reason or ImageRejected.reason).
    """

    reason: str
    stage: Literal["scan", "decode", "direct"]
    note: str


@dataclass(frozen=True)
class FamilyImage:
    """One synthetic image of a content x style family: `scene` and `style` are the group labels."""

    scene: int
    style: int
    variant: int
    scene_name: str
    style_name: str


# --------------------------------------------------------------------------------------------- helpers


def pattern_image(size: tuple[int, int], colours: tuple[RGB, RGB, RGB, RGB] = PATTERN, mode: str = "RGB") -> Image.Image:
    """A `size` image split into four solid quadrants of `colours` (TL, TR, BL, BR)."""
    w, h = size
    arr = np.zeros((h, w, 3), np.uint8)
    arr[: h // 2, : w // 2] = colours[0]
    arr[: h // 2, w // 2 :] = colours[1]
    arr[h // 2 :, : w // 2] = colours[2]
    arr[h // 2 :, w // 2 :] = colours[3]
    im = Image.fromarray(arr)
    return im if mode == "RGB" else im.convert(mode)


def write_random_patterns(folder, n: int, seed: int, size: tuple[int, int] = (64, 48), prefix: str = "") -> list:
    """`n` quadrant images of seeded random colours saved as `folder/{prefix}{i}.png` (folder created); the paths."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    paths = []
    for i in range(n):
        colours = tuple(tuple(int(c) for c in rng.integers(0, 255, 3)) for _ in range(4))
        pattern_image(size, colours).save(path := folder / f"{prefix}{i}.png")
        paths.append(path)
    return paths


def quadrant_colours(image: Image.Image) -> tuple[RGB, RGB, RGB, RGB]:
    """RGB at the centres of the four quadrants (TL, TR, BL, BR) of an image of any size."""
    rgb = image.convert("RGB")
    w, h = rgb.size
    points = [(w // 4, h // 4), (3 * w // 4, h // 4), (w // 4, 3 * h // 4), (3 * w // 4, 3 * h // 4)]
    return tuple(tuple(rgb.getpixel(p)) for p in points)  # type: ignore[return-value]


def colours_close(actual: tuple[RGB, ...], expected: tuple[RGB, ...], tolerance: int) -> bool:
    """True when every channel of every colour is within `tolerance`."""
    return all(abs(a - e) <= tolerance for ca, ce in zip(actual, expected, strict=True) for a, e in zip(ca, ce))


def _exif_with_orientation(orientation: int) -> bytes:
    exif = Image.Exif()
    exif[0x0112] = orientation
    return exif.tobytes()


# Inverse of the EXIF transposes: the stored pixels are chosen so that applying `orientation` shows PATTERN.
_STORE_FOR_ORIENTATION = {
    3: Image.Transpose.ROTATE_180,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_90,
    8: Image.Transpose.ROTATE_270,
}


def _oriented(displayed: Image.Image, orientation: int) -> Image.Image:
    return displayed.transpose(_STORE_FOR_ORIENTATION[orientation])


def _png_chunk(kind: bytes, payload: bytes) -> bytes:
    return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload) & 0xFFFFFFFF)


def forged_png(width: int, height: int, bit_depth: int = 1, colour_type: int = 0) -> bytes:
    """A tiny PNG whose IHDR claims `width` x `height`: a decompression bomb costing ~70 bytes on disk."""
    ihdr = struct.pack(">IIBBBBB", width, height, bit_depth, colour_type, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _png_chunk(b"IHDR", ihdr)
        + _png_chunk(b"IDAT", zlib.compress(b"\x00" * 64))
        + _png_chunk(b"IEND", b"")
    )


def png_rgb16(arr: np.ndarray) -> bytes:
    """Encode an (H, W, 3) uint16 array as a 16-bit-per-channel RGB PNG (Pillow has no mode to save one)."""
    h, w, _ = arr.shape
    raw = b"".join(b"\x00" + arr[y].astype(">u2").tobytes() for y in range(h))
    return (
        b"\x89PNG\r\n\x1a\n"
        + _png_chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 16, 2, 0, 0, 0))
        + _png_chunk(b"IDAT", zlib.compress(raw))
        + _png_chunk(b"IEND", b"")
    )


def noise_jpeg_bytes(size: tuple[int, int] = (256, 256), seed: int = 0, quality: int = 90) -> bytes:
    """A JPEG of random noise (poorly compressible, so cutting it in half really loses image data)."""
    rng = np.random.default_rng(seed)
    arr = rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, "JPEG", quality=quality)
    return buf.getvalue()


def gradient16(size: tuple[int, int] = (256, 32)) -> Image.Image:
    """An I;16 image whose columns run 0..65535 left to right (a correct decode is a 0..255 ramp)."""
    w, h = size
    row = np.linspace(0, 65535, w).round().astype(np.uint16)
    return Image.fromarray(np.repeat(row[None, :], h, axis=0))


# ---------------------------------------------------------------------------------------- good images


def write_good_images(directory: str | Path) -> dict[str, GoodImage]:
    """Write one file per supported format / mode / quirk; return name -> expectation."""
    d = Path(directory)
    d.mkdir(parents=True, exist_ok=True)
    out: dict[str, GoodImage] = {}
    size = (96, 64)  # non-square, so a rotation shows in the size too
    base = pattern_image(size)

    def add(name: str, fmt: str, note: str, *, quads=PATTERN, tol: int = 6, sz: tuple[int, int] = size) -> None:
        out[name] = GoodImage(size=sz, format=fmt, quadrants=quads, tolerance=tol, note=note)

    for orientation, name in ((6, "orient6.jpg"), (3, "orient3.jpg"), (8, "orient8.jpg")):
        _oriented(base, orientation).save(d / name, "JPEG", quality=95, exif=_exif_with_orientation(orientation))
        add(name, "JPEG", f"EXIF orientation {orientation}; stored pixels are pre-rotated", tol=30)
    _oriented(base, 5).save(d / "orient5.png", "PNG", exif=_exif_with_orientation(5))
    add("orient5.png", "PNG", "EXIF orientation 5 (transpose) in a PNG eXIf chunk")

    base.save(d / "plain.bmp", "BMP")
    add("plain.bmp", "BMP", "24-bit BMP")
    base.save(d / "UPPER.JPG", "JPEG", quality=95)
    add("UPPER.JPG", "JPEG", "upper-case extension", tol=30)
    base.save(d / "progressive.jpeg", "JPEG", quality=95, progressive=True)
    add("progressive.jpeg", "JPEG", "progressive JPEG, .jpeg extension", tol=30)
    base.save(d / "café 写真 #1.png", "PNG")
    add("café 写真 #1.png", "PNG", "spaces, accents, CJK and # in the name")
    base.save(d / "actually_png.jpg", "PNG")
    add("actually_png.jpg", "PNG", "PNG content behind a .jpg name: decoded by content")

    gray = pattern_image(size, (BLACK, (85, 85, 85), (170, 170, 170), WHITE))
    gray.convert("L").save(d / "gray.jpg", "JPEG", quality=95)
    add("gray.jpg", "JPEG", "single-channel (L) JPEG", quads=quadrant_colours(gray), tol=12)

    rgba = base.convert("RGBA")
    alpha = np.full((size[1], size[0]), 255, np.uint8)
    alpha[: size[1] // 2, : size[0] // 2] = 0  # TL fully transparent -> white
    alpha[size[1] // 2 :, size[0] // 2 :] = 128  # BR half transparent -> yellow over white
    rgba.putalpha(Image.fromarray(alpha))
    rgba.save(d / "rgba.png", "PNG")
    half_yellow = tuple(round((c * 128 + 255 * 127) / 255) for c in YELLOW)
    add("rgba.png", "PNG", "RGBA flattened onto white", quads=(WHITE, GREEN, BLUE, half_yellow), tol=3)  # type: ignore[arg-type]
    rgba.save(d / "alpha.webp", "WEBP", lossless=True)
    add("alpha.webp", "WEBP", "lossless WebP with alpha", quads=(WHITE, GREEN, BLUE, half_yellow), tol=3)  # type: ignore[arg-type]
    base.save(d / "lossy.webp", "WEBP", quality=95)
    add("lossy.webp", "WEBP", "lossy WebP", tol=30)

    pal = base.quantize(colors=4, method=Image.Quantize.MEDIANCUT)
    tl_index = pal.getpixel((size[0] // 4, size[1] // 4))
    pal.save(d / "palette_trns.png", "PNG", transparency=tl_index)
    add("palette_trns.png", "PNG", "palette PNG with a transparent index", quads=(WHITE, GREEN, BLUE, YELLOW))

    gray.convert("L").save(d / "gray_trns.png", "PNG", transparency=0)
    add("gray_trns.png", "PNG", "L PNG with tRNS: black is transparent", quads=(WHITE, (85,) * 3, (170,) * 3, WHITE))  # type: ignore[arg-type]

    la_grey = pattern_image(size, (BLACK, (85,) * 3, (170,) * 3, (40,) * 3)).convert("L")
    Image.merge("LA", (la_grey, Image.fromarray(alpha))).save(d / "la.png", "PNG")
    half_40 = (round((40 * 128 + 255 * 127) / 255),) * 3
    add("la.png", "PNG", "grey + alpha (LA)", quads=(WHITE, (85,) * 3, (170,) * 3, half_40), tol=3)  # type: ignore[arg-type]

    bilevel = pattern_image(size, (BLACK, WHITE, WHITE, BLACK)).convert("1")
    bilevel.save(d / "bilevel.png", "PNG")
    add("bilevel.png", "PNG", "1-bit", quads=(BLACK, WHITE, WHITE, BLACK), tol=0)
    bilevel.save(d / "bilevel.tif", "TIFF", compression="group4")
    add("bilevel.tif", "TIFF", "1-bit TIFF, CCITT group 4", quads=(BLACK, WHITE, WHITE, BLACK), tol=0)

    cmyk_arr = np.zeros((size[1], size[0], 4), np.uint8)
    h2, w2 = size[1] // 2, size[0] // 2
    cmyk_arr[:h2, :w2] = (0, 255, 255, 0)  # red
    cmyk_arr[:h2, w2:] = (255, 0, 255, 0)  # green
    cmyk_arr[h2:, :w2] = (255, 255, 0, 0)  # blue
    cmyk_arr[h2:, w2:] = (0, 0, 0, 255)  # black
    cmyk = Image.frombytes("CMYK", size, cmyk_arr.tobytes())
    cmyk.save(d / "cmyk.jpg", "JPEG", quality=95)
    add("cmyk.jpg", "JPEG", "CMYK JPEG (Adobe, inverted)", quads=((255, 0, 0), (0, 255, 0), (0, 0, 255), BLACK), tol=40)
    cmyk.save(d / "cmyk.tif", "TIFF")
    add("cmyk.tif", "TIFF", "CMYK TIFF", quads=((255, 0, 0), (0, 255, 0), (0, 0, 255), BLACK), tol=2)

    g16 = np.zeros((size[1], size[0]), np.uint16)
    g16[:h2, w2:] = 21845
    g16[h2:, :w2] = 43690
    g16[h2:, w2:] = 65535
    g16_expect = (BLACK, (85,) * 3, (170,) * 3, WHITE)
    Image.fromarray(g16).save(d / "gray16.png", "PNG")
    add("gray16.png", "PNG", "16-bit grey PNG (I;16): scaled, not clipped", quads=g16_expect, tol=1)  # type: ignore[arg-type]
    Image.fromarray(g16).save(d / "gray16.tif", "TIFF")
    add("gray16.tif", "TIFF", "16-bit grey TIFF", quads=g16_expect, tol=1)  # type: ignore[arg-type]
    gradient16().save(d / "gradient16.png", "PNG")
    add("gradient16.png", "PNG", "16-bit ramp 0..65535 left to right", sz=(256, 32),
        quads=((64,) * 3, (191,) * 3, (64,) * 3, (191,) * 3), tol=2)  # type: ignore[arg-type]
    Image.fromarray((g16.astype(np.float32) / 65535)).save(d / "float.tif", "TIFF")
    add("float.tif", "TIFF", "32-bit float TIFF in 0..1", quads=g16_expect, tol=1)  # type: ignore[arg-type]
    Image.fromarray(g16.astype(np.int32)).save(d / "int32.tif", "TIFF")
    add("int32.tif", "TIFF", "32-bit int TIFF holding 16-bit values", quads=g16_expect, tol=1)  # type: ignore[arg-type]

    rgb16 = np.zeros((size[1], size[0], 3), np.uint16)
    for (rows, cols), colour in zip(
        [(slice(0, h2), slice(0, w2)), (slice(0, h2), slice(w2, None)), (slice(h2, None), slice(0, w2)),
         (slice(h2, None), slice(w2, None))], PATTERN):
        rgb16[rows, cols] = np.asarray(colour, np.uint16) * 257
    (d / "rgb16.png").write_bytes(png_rgb16(rgb16))
    add("rgb16.png", "PNG", "16-bit-per-channel RGB PNG (hand-written: Pillow cannot save one)", tol=1)

    _oriented(base, 6).save(d / "orient6.tif", "TIFF", tiffinfo={0x0112: 6})
    add("orient6.tif", "TIFF", "TIFF Orientation tag 6")
    _oriented(base, 6).save(d / "camera.jpg", "MPO", save_all=True, append_images=[pattern_image(size, (BLACK,) * 4)],
                            exif=_exif_with_orientation(6))
    add("camera.jpg", "MPO", "multi-picture JPEG (as many cameras write) with EXIF orientation 6", tol=30)

    frames = [base.convert("P", palette=Image.Palette.ADAPTIVE, colors=8)]
    frames += [pattern_image(size, (BLACK,) * 4).convert("P"), pattern_image(size, (WHITE,) * 4).convert("P")]
    frames[0].save(d / "animated.gif", "GIF", save_all=True, append_images=frames[1:], duration=100, loop=0)
    add("animated.gif", "GIF", "animated GIF: first frame", tol=3)
    frames_webp = [base, pattern_image(size, (BLACK,) * 4)]
    frames_webp[0].save(d / "animated.webp", "WEBP", save_all=True, append_images=frames_webp[1:], lossless=True, duration=100)
    add("animated.webp", "WEBP", "animated WebP: first frame", tol=3)

    second = pattern_image((40, 30), (BLACK,) * 4)
    base.save(d / "multipage.tiff", "TIFF", save_all=True, append_images=[second], compression="tiff_deflate")
    add("multipage.tiff", "TIFF", "two-page TIFF: first page", tol=0)

    big = pattern_image((2400, 1600))
    big.save(d / "big.jpg", "JPEG", quality=90)
    add("big.jpg", "JPEG", "2400x1600: decoded at reduced scale via draft, metadata keeps full size", sz=(2400, 1600), tol=30)
    return out


# ------------------------------------------------------------------------------------------ bad files


def write_bad_files(directory: str | Path) -> dict[str, BadFile]:
    """Write files that must be skipped with a reason; return name -> expectation.

    Entries needing OS support (symlinks, FIFOs, non-UTF-8 names) are left out where it is missing.
    """
    d = Path(directory)
    d.mkdir(parents=True, exist_ok=True)
    out: dict[str, BadFile] = {}

    (d / "empty.jpg").write_bytes(b"")
    out["empty.jpg"] = BadFile("zero-byte file", "decode", "zero bytes")
    jpeg = noise_jpeg_bytes()
    (d / "truncated.jpg").write_bytes(jpeg[: len(jpeg) // 2])
    out["truncated.jpg"] = BadFile("truncated", "decode", "JPEG cut in half")
    buf = io.BytesIO()
    pattern_image((128, 128)).save(buf, "PNG")
    png = buf.getvalue()
    (d / "truncated.png").write_bytes(png[: len(png) // 2])
    out["truncated.png"] = BadFile("truncated or corrupt", "decode", "PNG cut in half")
    (d / "notes.png").write_text("these are my notes, not a picture\n" * 20, encoding="utf-8")
    out["notes.png"] = BadFile("not an image", "decode", "text file with an image extension")
    rng = np.random.default_rng(1234)
    (d / "random.webp").write_bytes(rng.integers(0, 256, 4096, dtype=np.uint8).tobytes())
    out["random.webp"] = BadFile("not an image", "decode", "random bytes")
    (d / "bomb.png").write_bytes(forged_png(100_000, 100_000))
    out["bomb.png"] = BadFile("image too large", "decode", "forged IHDR: 10^10 pixels, above Pillow's hard limit too")
    (d / "bomb_mid.png").write_bytes(forged_png(12_000, 12_000))
    out["bomb_mid.png"] = BadFile("truncated or corrupt", "decode",
                                  "144 MP forged header: under the default limit, above Pillow's warning; IDAT is empty")
    (d / "folder.jpg").mkdir(exist_ok=True)
    out["folder.jpg"] = BadFile("not a regular file", "direct", "a directory with an image name")

    if hasattr(os, "symlink"):
        try:
            os.symlink("does-not-exist.png", d / "dangling.png")
            out["dangling.png"] = BadFile("broken symlink", "scan", "symlink to a missing file")
            os.symlink("selfloop.png", d / "selfloop.png")
            out["selfloop.png"] = BadFile("symlink loop", "scan", "symlink pointing at itself")
        except OSError:  # pragma: no cover - e.g. Windows without developer mode
            pass
    if hasattr(os, "mkfifo"):
        os.mkfifo(d / "pipe.jpg")
        out["pipe.jpg"] = BadFile("not a regular file", "scan", "FIFO with an image name (must not hang)")
    raw_name = b"bad\xff.png"
    try:
        fd = os.open(os.path.join(os.fsencode(d), raw_name), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    except (OSError, ValueError):  # pragma: no cover - filesystems that insist on UTF-8 names (APFS)
        pass
    else:
        with os.fdopen(fd, "wb") as f:
            f.write(png)
        out[os.fsdecode(raw_name)] = BadFile("not valid UTF-8", "scan", "valid PNG whose name is not UTF-8")
    return out


def write_mixed_corpus(directory: str | Path) -> tuple[dict[str, GoodImage], dict[str, BadFile]]:
    """Good images under `good/`, bad files under `bad/`, plus a non-image `readme.txt`; names are relative."""
    d = Path(directory)
    good = {f"good/{k}": v for k, v in write_good_images(d / "good").items()}
    bad = {f"bad/{k}": v for k, v in write_bad_files(d / "bad").items()}
    (d / "readme.txt").write_text("not an image; ignored by scan\n", encoding="utf-8")
    return good, bad


# ------------------------------------------------------------------------------- content x style families

SCENE_NAMES = ("disc", "horizon", "mountain", "grid", "cross", "rings", "stripes", "corner-block")
STYLE_NAMES = ("pastel-grain", "neon-hatch", "sepia-blur", "pop-poster", "blue-halftone", "earth-pixel")

# background, main shape, secondary shape
_PALETTES = {
    "pastel-grain": ((250, 228, 236), (170, 210, 240), (200, 240, 200)),
    "neon-hatch": ((15, 10, 40), (255, 40, 200), (40, 255, 230)),
    "sepia-blur": ((235, 215, 175), (120, 80, 40), (180, 140, 90)),
    "pop-poster": ((255, 230, 0), (230, 0, 40), (0, 70, 200)),
    "blue-halftone": ((230, 240, 255), (10, 40, 140), (90, 140, 220)),
    "earth-pixel": ((90, 110, 60), (200, 120, 50), (60, 40, 30)),
}


def _scene_labels(scene: int, size: int, rng: np.random.Generator) -> np.ndarray:
    """Label map (0 background, 1 main shape, 2 secondary) for one scene, with a small random jitter."""
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32) / size
    dx, dy = rng.uniform(-0.06, 0.06, 2)
    x, y = xx - dx, yy - dy
    lab = np.zeros((size, size), np.uint8)
    name = SCENE_NAMES[scene % len(SCENE_NAMES)]
    if name == "disc":
        lab[(x - 0.5) ** 2 + (y - 0.5) ** 2 < 0.3**2] = 1
        lab[(x - 0.5) ** 2 + (y - 0.5) ** 2 < 0.1**2] = 2
    elif name == "horizon":
        lab[y > 0.6] = 1
        lab[(x - 0.7) ** 2 + (y - 0.3) ** 2 < 0.12**2] = 2
    elif name == "mountain":
        lab[y > 0.9 - 0.8 * (1 - np.abs(x - 0.5) * 2)] = 1
        lab[(y > 0.9 - 0.8 * (1 - np.abs(x - 0.5) * 2)) & (y < 0.35)] = 2
    elif name == "grid":
        cell = ((x * 4).astype(int) + (y * 4).astype(int)) % 2 == 0
        lab[cell] = 1
        lab[cell & (x > 0.5) & (y > 0.5)] = 2
    elif name == "cross":
        lab[(np.abs(x - y) < 0.1) | (np.abs(x + y - 1) < 0.1)] = 1
        lab[(np.abs(x - 0.5) < 0.08) & (np.abs(y - 0.5) < 0.08)] = 2
    elif name == "rings":
        r = np.sqrt((x - 0.5) ** 2 + (y - 0.5) ** 2)
        lab[(r * 10).astype(int) % 2 == 1] = 1
        lab[r < 0.05] = 2
    elif name == "stripes":
        lab[(y * 6).astype(int) % 2 == 0] = 1
        lab[((y * 6).astype(int) % 2 == 0) & (x < 0.3)] = 2
    else:  # corner-block
        lab[(x < 0.45) & (y < 0.45)] = 1
        lab[(x > 0.6) & (y > 0.6)] = 2
    return lab


def _apply_style(lab: np.ndarray, style_name: str, rng: np.random.Generator) -> Image.Image:
    size = lab.shape[0]
    palette = np.asarray(_PALETTES[style_name], np.float32)
    img = palette[lab]  # (H, W, 3) float
    yy, xx = np.mgrid[0:size, 0:size]
    if style_name == "pastel-grain":
        img = img + rng.normal(0, 18, img.shape)
    elif style_name == "neon-hatch":
        hatch = ((xx + yy) // 3) % 3 == 0
        img[hatch & (lab > 0)] *= 0.25
        img[hatch & (lab == 0)] = (60, 0, 90)
    elif style_name == "sepia-blur":
        pil = Image.fromarray(np.clip(img, 0, 255).astype(np.uint8)).filter(ImageFilter.GaussianBlur(size / 40))
        img = np.asarray(pil, np.float32) * np.linspace(1.0, 0.8, size)[None, :, None]  # vignette-ish
    elif style_name == "pop-poster":
        edges = np.zeros_like(lab, bool)
        edges[1:, :] |= lab[1:, :] != lab[:-1, :]
        edges[:, 1:] |= lab[:, 1:] != lab[:, :-1]
        pil = Image.fromarray(edges.astype(np.uint8) * 255).filter(ImageFilter.MaxFilter(5))
        img = (img // 64) * 64 + 32  # posterise
        img[np.asarray(pil) > 0] = 0  # thick black outlines
    elif style_name == "blue-halftone":
        cell = 6
        cy, cx = (yy % cell) - cell / 2, (xx % cell) - cell / 2
        dots = cx**2 + cy**2 < (cell * 0.35) ** 2
        img[~dots & (lab > 0)] = palette[0]
    elif style_name == "earth-pixel":
        small = Image.fromarray(np.clip(img, 0, 255).astype(np.uint8)).resize((size // 8, size // 8), Image.Resampling.BOX)
        img = np.asarray(small.resize((size, size), Image.Resampling.NEAREST), np.float32)
        img = img + rng.normal(0, 6, img.shape)
    return Image.fromarray(np.clip(img, 0, 255).astype(np.uint8))


def render_family_image(scene: int, style: int, variant: int = 0, size: int = 128, seed: int = 0) -> Image.Image:
    """One RGB image of `scene` drawn in `style` (deterministic for the same arguments)."""
    rng = np.random.default_rng([seed, scene, style, variant])
    lab = _scene_labels(scene, size, rng)
    return _apply_style(lab, STYLE_NAMES[style % len(STYLE_NAMES)], rng)


def write_content_style_families(
    directory: str | Path,
    n_scenes: int = 4,
    n_styles: int = 4,
    variants: int = 1,
    size: int = 128,
    seed: int = 0,
    fmt: str = "PNG",
) -> dict[str, FamilyImage]:
    """Write n_scenes x n_styles x variants images named ``scene{i}_style{j}_v{k}.png``; return name -> labels.

    Scenes differ in layout and shapes (disc, horizon, mountain, grid, ...); styles differ in palette and
    a strong texture treatment (grain, hatching, blur, posterise + outlines, halftone, pixelation), so a
    content embedding should group by `scene` and a style embedding by `style`. Up to 8 scenes and 6
    styles are distinct; more wrap around.
    """
    d = Path(directory)
    d.mkdir(parents=True, exist_ok=True)
    ext = {"PNG": "png", "JPEG": "jpg", "WEBP": "webp"}[fmt]
    out: dict[str, FamilyImage] = {}
    for scene in range(n_scenes):
        for style in range(n_styles):
            for variant in range(variants):
                name = f"scene{scene}_style{style}_v{variant}.{ext}"
                render_family_image(scene, style, variant, size, seed).save(d / name, fmt)
                out[name] = FamilyImage(
                    scene, style, variant, SCENE_NAMES[scene % len(SCENE_NAMES)], STYLE_NAMES[style % len(STYLE_NAMES)]
                )
    return out


__all__ = [
    "BadFile", "FamilyImage", "GoodImage", "PATTERN", "SCENE_NAMES", "STYLE_NAMES", "colours_close", "forged_png",
    "gradient16", "noise_jpeg_bytes", "png_rgb16", "pattern_image", "quadrant_colours", "render_family_image",
    "write_bad_files", "write_content_style_families", "write_good_images", "write_mixed_corpus",
]
