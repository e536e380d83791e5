"""indexer.imaging: scanning trees of good, bad, hidden and symlinked files; decoding every format and mode."""
from __future__ import annotations

import hashlib
import multiprocessing
import os
import pickle
import struct
import warnings
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageFile

import corpus_factory as cf
from indexer.imaging import (
    IMAGE_EXTENSIONS,
    DecodedImage,
    FoundFile,
    ImageRejected,
    ScanProblem,
    ScanStats,
    decode_bytes,
    decode_file,
    printable_path,
    scan,
    sha256_file,
)
from indexer.imaging import decode as decode_mod

HAS_SYMLINKS = hasattr(os, "symlink")


@pytest.fixture(scope="module")
def good(tmp_path_factory) -> tuple[Path, dict[str, cf.GoodImage]]:
    d = tmp_path_factory.mktemp("good")
    return d, cf.write_good_images(d)


@pytest.fixture(scope="module")
def bad(tmp_path_factory) -> tuple[Path, dict[str, cf.BadFile]]:
    d = tmp_path_factory.mktemp("bad")
    return d, cf.write_bad_files(d)


# ------------------------------------------------------------------------------------------- decode


def test_corpus_covers_the_issue(good, bad):
    names = set(good[1])
    assert {"orient6.jpg", "rgba.png", "palette_trns.png", "cmyk.jpg", "gray16.png", "bilevel.png"} <= names
    assert {"lossy.webp", "animated.gif", "multipage.tiff", "plain.bmp", "UPPER.JPG", "café 写真 #1.png"} <= names
    assert {"empty.jpg", "truncated.jpg", "notes.png", "random.webp", "bomb.png", "folder.jpg"} <= set(bad[1])


def test_every_good_file_decodes_to_rgb_with_expected_size_orientation_and_colours(good):
    d, expected = good
    for name, exp in expected.items():
        result = decode_file(str(d / name))
        assert isinstance(result, DecodedImage), name
        assert result.image.mode == "RGB", name
        assert (result.width, result.height) == exp.size, name
        assert result.format == exp.format, name
        assert max(result.image.size) <= 1024, name
        # the decoded image keeps the original aspect (rotation included)
        assert (result.image.width >= result.image.height) == (exp.size[0] >= exp.size[1]), name
        got = cf.quadrant_colours(result.image)
        assert cf.colours_close(got, exp.quadrants, exp.tolerance), f"{name} ({exp.note}): {got} != {exp.quadrants}"
        assert result.size == (d / name).stat().st_size
        assert result.image.info == {}, f"{name}: stale metadata (e.g. EXIF orientation) must not travel on"


def test_exif_rotation_shows_in_pixels_not_only_size(good):
    d, _ = good
    stored = Image.open(d / "orient6.jpg")
    assert stored.size == (64, 96)  # stored portrait; displayed landscape
    result = decode_file(d / "orient6.jpg")
    assert result.image.size == (96, 64)
    assert cf.colours_close((result.image.getpixel((5, 5)),), (cf.RED,), 30)  # red is top-left once displayed


def test_16bit_gradient_is_scaled_not_clipped(good):
    d, _ = good
    img = decode_file(d / "gradient16.png").image
    row = np.asarray(img)[img.height // 2, :, 0].astype(int)
    assert row[0] <= 1 and row[-1] >= 254
    assert np.all(np.diff(row) >= 0), "a ramp must stay monotonic"
    assert len(np.unique(row)) > 200, "16-bit data clipped at 255 would be nearly constant"
    # Pillow's own I;16 -> L conversion clips; this documents why decode scales by hand
    assert len(np.unique(np.asarray(Image.open(d / "gradient16.png").convert("L")))) < 5


def test_every_bad_file_is_rejected_with_its_reason(bad):
    d, expected = bad
    for name, exp in expected.items():
        if exp.stage == "scan" and "UTF-8" in exp.reason:
            continue  # a good PNG behind a bad name: only scan can object to it
        with pytest.raises(ImageRejected) as info:
            decode_file(os.path.join(d, name))
        assert exp.reason in info.value.reason, f"{name}: {info.value.reason!r}"
        assert type(info.value) is ImageRejected


def test_bad_utf8_name_is_a_valid_png_so_decode_alone_accepts_it(bad):
    d, expected = bad
    names = [n for n, e in expected.items() if "UTF-8" in e.reason]
    for name in names:
        assert decode_file(os.path.join(d, name)).format == "PNG"


def test_bomb_rejected_from_the_header_before_any_decoding(tmp_path, monkeypatch):
    path = tmp_path / "bomb.png"
    path.write_bytes(cf.forged_png(100_000, 100_000))
    with pytest.raises(ImageRejected, match=r"image too large: 100000 x 100000 pixels .*decompression-bomb"):
        decode_file(path)
    # our own check, below Pillow's hard limit: 20000 x 5000 = 100 MP
    path.write_bytes(cf.forged_png(20_000, 5_000))

    def no_load(self):
        raise AssertionError("must reject before decoding")

    monkeypatch.setattr(ImageFile.ImageFile, "load", no_load)
    with pytest.raises(ImageRejected, match=r"20000 x 5000 pixels exceeds the limit of 50000000"):
        decode_file(path, max_pixels=50_000_000)


def test_max_pixels_applies_to_small_images_too(good):
    d, _ = good
    with pytest.raises(ImageRejected, match=r"image too large: 96 x 64 pixels exceeds the limit of 1000"):
        decode_file(d / "plain.bmp", max_pixels=1000)


def test_pillow_bomb_warning_is_neither_raised_nor_fatal(bad):
    d, _ = bad
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # any warning escaping decode would fail the test
        with pytest.raises(ImageRejected, match="truncated or corrupt"):
            decode_file(d / "bomb_mid.png")  # 144 MP header: under our limit, over Pillow's warning


def test_pillow_globals_are_left_alone(good, bad):
    before = (ImageFile.LOAD_TRUNCATED_IMAGES, Image.MAX_IMAGE_PIXELS)
    for d, names in ((good[0], good[1]), (bad[0], bad[1])):
        for name in names:
            try:
                decode_file(os.path.join(d, name))
            except ImageRejected:
                pass
    assert (ImageFile.LOAD_TRUNCATED_IMAGES, Image.MAX_IMAGE_PIXELS) == before
    assert ImageFile.LOAD_TRUNCATED_IMAGES is False


def test_sha256_is_over_the_exact_file_bytes(good):
    d, names = good
    for name in ("orient6.jpg", "gray16.png", "café 写真 #1.png"):
        raw = (d / name).read_bytes()
        want = hashlib.sha256(raw).hexdigest()
        assert decode_file(d / name).sha256 == want
        assert sha256_file(d / name) == want
        assert sha256_file(d / name, chunk_size=7) == want


def test_max_side_downsizes_but_keeps_original_size_in_metadata(good):
    d, _ = good
    r = decode_file(d / "big.jpg")
    assert r.image.size == (1024, 683) and (r.width, r.height) == (2400, 1600)
    r = decode_file(d / "big.jpg", max_side=300)
    assert r.image.size == (300, 200) and (r.width, r.height) == (2400, 1600)
    assert cf.colours_close(cf.quadrant_colours(r.image), cf.PATTERN, 30)
    r = decode_file(d / "big.jpg", max_side=None)
    assert r.image.size == (2400, 1600)
    r = decode_file(d / "gradient16.png", max_side=64)
    assert r.image.size == (64, 8) and (r.width, r.height) == (256, 32)
    r = decode_file(d / "plain.bmp", max_side=4096)  # never upscaled
    assert r.image.size == (96, 64)


def test_big_rotated_jpeg_uses_draft_and_rotates(tmp_path):
    displayed = cf.pattern_image((3000, 2000))
    path = tmp_path / "rotated_big.jpg"
    displayed.transpose(Image.Transpose.ROTATE_90).save(path, "JPEG", exif=_exif(6))
    r = decode_file(path, max_side=500)
    assert (r.width, r.height) == (3000, 2000)
    assert r.image.size == (500, 333)
    assert cf.colours_close(cf.quadrant_colours(r.image), cf.PATTERN, 30)


def test_draft_decodes_big_jpegs_at_reduced_scale(good, monkeypatch):
    d, _ = good
    sizes: list[tuple[int, int]] = []
    real = decode_mod.to_rgb

    def spy(im):
        sizes.append(im.size)
        return real(im)

    monkeypatch.setattr(decode_mod, "to_rgb", spy)
    decode_file(d / "big.jpg", max_side=300)
    assert sizes == [(300, 200)]  # 1/8 scale straight from libjpeg
    sizes.clear()
    decode_file(d / "big.jpg", max_side=1024)
    assert sizes == [(1200, 800)]  # 1/2 scale keeps the longer side >= 1024


def test_broken_exif_never_rejects_a_good_image(tmp_path):
    path = tmp_path / "junk_exif.jpg"
    cf.pattern_image((40, 30)).save(path, "JPEG", exif=b"Exif\x00\x00MM\x00*garbage-garbage-garbage")
    r = decode_file(path)
    assert (r.width, r.height) == (40, 30)


def test_decode_bytes_matches_decode_file(good):
    d, _ = good
    a = decode_file(d / "orient8.jpg")
    b = decode_bytes((d / "orient8.jpg").read_bytes())
    assert (a.width, a.height, a.sha256, a.size, a.format) == (b.width, b.height, b.sha256, b.size, b.format)
    assert a.image.tobytes() == b.image.tobytes()
    with pytest.raises(ImageRejected, match="zero-byte"):
        decode_bytes(b"")


def test_permission_denied_is_a_reason(tmp_path, monkeypatch):
    path = tmp_path / "locked.jpg"
    cf.pattern_image((8, 8)).save(path, "JPEG")
    real_open = os.open

    def deny(p, *a, **k):
        if os.fspath(p) == str(path):
            raise PermissionError(13, "Permission denied")
        return real_open(p, *a, **k)

    monkeypatch.setattr(os, "open", deny)
    with pytest.raises(ImageRejected, match="permission denied"):
        decode_file(path)


def test_file_size_limit(tmp_path):
    path = tmp_path / "x.png"
    cf.pattern_image((8, 8)).save(path, "PNG")
    with pytest.raises(ImageRejected, match="file too large"):
        decode_file(path, max_bytes=10)


@pytest.mark.parametrize("exc", [OSError("broken"), SyntaxError("bad"), ValueError("bad"), struct.error("bad"),
                                 IndexError("bad"), EOFError()])
def test_any_decoder_error_becomes_a_rejection(good, monkeypatch, exc):
    d, _ = good

    def boom(self):
        raise exc

    monkeypatch.setattr(ImageFile.ImageFile, "load", boom)
    with pytest.raises(ImageRejected, match="truncated or corrupt"):
        decode_file(d / "plain.bmp")


def test_memory_error_propagates(good, monkeypatch):
    d, _ = good

    def oom(self):
        raise MemoryError

    monkeypatch.setattr(ImageFile.ImageFile, "load", oom)
    with pytest.raises(MemoryError):
        decode_file(d / "plain.bmp")


def test_results_and_rejections_pickle(good):
    d, _ = good
    r = pickle.loads(pickle.dumps(decode_file(d / "rgba.png")))
    assert r.image.mode == "RGB" and r.image.size == (96, 64)
    e = pickle.loads(pickle.dumps(ImageRejected("zero-byte file")))
    assert isinstance(e, ImageRejected) and e.reason == "zero-byte file"


def _decode_or_reason(path: str) -> tuple[str, object]:
    try:
        r = decode_file(path, max_side=64)
    except ImageRejected as exc:
        return "rejected", exc.reason
    return "ok", (r.width, r.height, r.image.mode, r.image.size)


def test_decode_in_spawned_worker_processes(good, bad):
    gd, gnames = good
    bd, _ = bad
    paths = [str(gd / n) for n in ("orient6.jpg", "gray16.png", "animated.gif", "big.jpg")]
    paths += [str(bd / n) for n in ("empty.jpg", "truncated.jpg", "bomb.png")]
    ctx = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=2, mp_context=ctx) as pool:
        results = list(pool.map(_decode_or_reason, paths))
        # the function itself, raising across the process boundary
        with pytest.raises(ImageRejected, match="zero-byte"):
            pool.submit(decode_file, str(bd / "empty.jpg")).result()
        direct = pool.submit(decode_file, str(gd / "orient6.jpg")).result()
    assert [r[0] for r in results] == ["ok"] * 4 + ["rejected"] * 3
    assert results[0][1] == (96, 64, "RGB", (64, 43))
    assert results[3][1] == (2400, 1600, "RGB", (64, 43))
    assert "zero-byte" in results[4][1] and "truncated" in results[5][1] and "too large" in results[6][1]
    assert direct.image.size == (96, 64)


def _exif(orientation: int) -> bytes:
    exif = Image.Exif()
    exif[0x0112] = orientation
    return exif.tobytes()


# --------------------------------------------------------------------------------------------- scan


def _touch_image(path: Path, fmt: str = "PNG") -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    cf.pattern_image((8, 8)).save(path, fmt)


@pytest.fixture()
def tree(tmp_path) -> Path:
    """root/ with good, bad, hidden, ignored and symlinked entries (see the assertions below)."""
    root = tmp_path / "root"
    _touch_image(root / "a.jpg", "JPEG")
    _touch_image(root / "B.PNG")
    _touch_image(root / "c.Jpeg", "JPEG")
    _touch_image(root / "sub" / "d.webp", "WEBP")
    _touch_image(root / "sub" / "deeper" / "e.gif", "GIF")
    _touch_image(root / "sub" / "f.TIF", "TIFF")
    _touch_image(root / "folder.jpg" / "g.bmp", "BMP")  # a directory named like an image is walked into
    _touch_image(root / ".hidden.jpg", "JPEG")
    _touch_image(root / ".cache" / "h.jpg", "JPEG")
    _touch_image(root / "café 写真 #1.png")
    (root / "empty.jpg").write_bytes(b"")  # scan does not judge content: decode will
    (root / "notes.txt").write_text("x")
    (root / "sub" / "README").write_text("x")
    if hasattr(os, "mkfifo"):
        os.mkfifo(root / "pipe.jpg")
    raw = os.fsencode(root) + b"/bad\xff.png"
    with open(raw, "wb") as f:
        f.write(b"png")
    os.mkdir(os.fsencode(root) + b"/dir\xfe")
    with open(os.fsencode(root) + b"/dir\xfe/inside.png", "wb") as f:
        f.write(b"png")
    if HAS_SYMLINKS:
        os.symlink("a.jpg", root / "link_to_a.jpg")
        os.symlink("missing.png", root / "dangling.png")
        os.symlink("self.png", root / "self.png")
        os.symlink(".", root / "loop")  # directory symlink to its own parent
        os.symlink("../outside", root / "outside_link")
        _touch_image(tmp_path / "outside" / "o.png")
    return root


def _rel(items, root: Path) -> list[tuple[str, str]]:
    out = []
    for it in items:
        rel = os.path.relpath(it.path, root)
        out.append(("file", rel) if isinstance(it, FoundFile) else ("problem", rel))
    return out


@pytest.mark.skipif(not HAS_SYMLINKS or not hasattr(os, "mkfifo"), reason="needs POSIX symlinks and FIFOs")
def test_scan_tree_default(tree):
    stats = ScanStats()
    items = list(scan([tree], stats=stats))
    files = [it for it in items if isinstance(it, FoundFile)]
    problems = {os.path.relpath(p.path, tree): p.reason for p in items if isinstance(p, ScanProblem)}
    assert [os.path.relpath(f.path, tree) for f in files] == [
        "B.PNG", "a.jpg", "c.Jpeg", "café 写真 #1.png", "empty.jpg", "folder.jpg/g.bmp", "link_to_a.jpg",
        "sub/d.webp", "sub/deeper/e.gif", "sub/f.TIF",
    ]
    assert set(problems) == {"bad\\xff.png", "dangling.png", "dir\\xfe", "pipe.jpg", "self.png"}
    assert "not valid UTF-8" in problems["bad\\xff.png"]
    assert "not valid UTF-8" in problems["dir\\xfe"] and "contents skipped" in problems["dir\\xfe"]
    assert "broken symlink" in problems["dangling.png"] and "missing.png" in problems["dangling.png"]
    assert "symlink loop" in problems["self.png"]
    assert "not a regular file (FIFO)" in problems["pipe.jpg"]
    for p in items:
        p.path.encode("utf-8")  # every reported path can go into a UTF-8 database
    for f in files:
        st = os.stat(f.path)
        assert os.path.isabs(f.path) and f.size == st.st_size and f.mtime_ns == st.st_mtime_ns
    assert files[files.index(next(f for f in files if f.path.endswith("empty.jpg")))].size == 0
    assert stats.found == 10 and stats.problems == 5
    assert stats.ignored == 2 and stats.ignored_extensions == {".txt": 1, "(none)": 1}
    assert stats.hidden == 2 and stats.dir_symlinks_skipped == 2
    # deterministic, and equal to a sort by path components
    assert list(scan([tree])) == items
    rels = [os.path.relpath(f.path, tree) for f in files]
    assert rels == sorted(rels, key=lambda r: Path(r).parts)


@pytest.mark.skipif(not HAS_SYMLINKS, reason="needs symlinks")
def test_scan_follow_symlinks_survives_the_loop(tree):
    items = list(scan([tree], follow_symlinks=True))
    rels = _rel(items, tree)
    assert ("file", "outside_link/o.png") in rels
    assert ("problem", "loop") in rels
    loop = next(it for it in items if isinstance(it, ScanProblem) and it.path.endswith("loop"))
    assert "already scanned" in loop.reason
    paths = [it.path for it in items]
    assert len(paths) == len(set(paths))


def test_scan_hidden_included_on_request(tree):
    rels = {r for k, r in _rel(scan([tree], include_hidden=True), tree) if k == "file"}
    assert {".hidden.jpg", ".cache/h.jpg"} <= rels


def test_scan_roots_files_missing_and_overlapping(tree, tmp_path):
    missing = tmp_path / "nope"
    notes = tree / "notes.txt"
    items = list(scan([tree / "sub", str(tree / "a.jpg"), missing, notes, tree / "sub" / "deeper"]))
    rels = _rel(items, tree)
    assert ("problem", "../nope") in rels
    assert next(it for it in items if isinstance(it, ScanProblem)).reason == "root does not exist"
    assert ("file", "a.jpg") in rels and ("file", "notes.txt") in rels  # explicit file roots are taken
    assert [r for k, r in rels if k == "file" and r.startswith("sub")] == ["sub/d.webp", "sub/deeper/e.gif", "sub/f.TIF"]
    # relative, unnormalised roots come back absolute and normalised
    cwd = os.getcwd()
    try:
        os.chdir(tree)
        found = [it.path for it in scan(["./sub/../sub/deeper"])]
    finally:
        os.chdir(cwd)
    assert found == [str(tree / "sub" / "deeper" / "e.gif")]


@pytest.mark.skipif(not HAS_SYMLINKS, reason="needs symlinks")
def test_scan_broken_symlink_root(tmp_path):
    os.symlink("gone", tmp_path / "link")
    (problem,) = scan([tmp_path / "link"])
    assert isinstance(problem, ScanProblem) and "broken symlink" in problem.reason


def test_scan_unreadable_directory_and_file_are_reported_not_fatal(tree, monkeypatch):
    real_scandir, real_stat = os.scandir, os.stat
    sub, locked = str(tree / "sub"), str(tree / "c.Jpeg")

    def scandir(path="."):
        if os.fspath(path) == sub:
            raise PermissionError(13, "Permission denied", sub)
        return real_scandir(path)

    def stat(path, *a, **k):
        if os.fspath(path) == locked:
            raise PermissionError(13, "Permission denied", locked)
        return real_stat(path, *a, **k)

    monkeypatch.setattr(os, "scandir", scandir)
    monkeypatch.setattr(os, "stat", stat)
    items = list(scan([tree]))
    problems = {os.path.relpath(p.path, tree): p.reason for p in items if isinstance(p, ScanProblem)}
    assert problems["sub"] == "unreadable directory: Permission denied"
    assert problems["c.Jpeg"].startswith("unreadable file")
    files = {os.path.relpath(f.path, tree) for f in items if isinstance(f, FoundFile)}
    assert {"a.jpg", "B.PNG", "folder.jpg/g.bmp"} <= files


def test_scan_finds_every_good_corpus_file_and_classifies_bad_ones(tmp_path):
    good, bad = cf.write_mixed_corpus(tmp_path)
    stats = ScanStats()
    items = list(scan([tmp_path], stats=stats))
    found = {os.path.relpath(it.path, tmp_path) for it in items if isinstance(it, FoundFile)}
    problems = {os.path.relpath(it.path, tmp_path): it.reason for it in items if isinstance(it, ScanProblem)}
    assert set(good) <= found, "never lose a good file"
    for name, exp in bad.items():
        shown = printable_path(name)
        if exp.stage == "scan":
            assert exp.reason in problems[shown], name
        elif exp.stage == "decode":
            assert name in found
        else:
            assert name not in found and name not in problems
    assert stats.ignored == 1  # readme.txt
    # the whole pipeline contract: every found file either decodes or is rejected with a reason
    for name in sorted(found):
        try:
            decode_file(tmp_path / name, max_side=64)
        except ImageRejected as exc:
            assert bad[name].reason in exc.reason


def test_extension_matching_is_case_insensitive():
    from indexer.imaging.scan import has_image_extension

    for name in ("x.JPG", "x.jpeg", "x.Jpe", "x.TIFF", "x.tif", "x.WebP", "x.gif", "x.bmp", "x.png", "a.b.PNG"):
        assert has_image_extension(name), name
    for name in ("x.txt", "jpg", ".jpg", "x.jpg.bak", "x.heic", "x"):
        assert not has_image_extension(name), name
    assert all(e == e.lower() and e.startswith(".") for e in IMAGE_EXTENSIONS)


# --------------------------------------------------------------------------------- content x style corpus


def test_content_style_families(tmp_path):
    fams = cf.write_content_style_families(tmp_path, n_scenes=4, n_styles=4, variants=2, size=96)
    assert len(fams) == 32
    arrays = {n: np.asarray(decode_file(tmp_path / n).image, np.float32) for n in fams}

    def mean_colour(a):
        return a.reshape(-1, 3).mean(0)

    # style: palette statistics are closer within a style than across styles
    for n, f in fams.items():
        same = [np.linalg.norm(mean_colour(arrays[n]) - mean_colour(arrays[m])) for m, g in fams.items()
                if g.style == f.style and m != n]
        other = [np.linalg.norm(mean_colour(arrays[n]) - mean_colour(arrays[m])) for m, g in fams.items()
                 if g.style != f.style]
        assert np.mean(same) < np.mean(other), n
    # content: variants of one scene+style differ (jitter) but are not identical
    a, b = arrays["scene0_style0_v0.png"], arrays["scene0_style0_v1.png"]
    assert 0 < np.abs(a - b).mean() < 60
    again = cf.render_family_image(0, 0, 0, size=96)
    assert np.array_equal(np.asarray(again), arrays["scene0_style0_v0.png"].astype(np.uint8))


@pytest.mark.parametrize("fmt", ["JPEG", "PNG"])
def test_short_side_decodes_just_large_enough_for_the_model(tmp_path, fmt) -> None:
    path = tmp_path / f"big.{fmt.lower()}"
    cf.pattern_image((1600, 1200)).save(path, fmt)
    decoded = decode_file(str(path), short_side=256)
    assert (decoded.width, decoded.height) == (1600, 1200)  # the original's size is what is recorded
    assert min(decoded.image.size) == 256 and decoded.image.size[0] > decoded.image.size[1]
    assert cf.colours_close(cf.quadrant_colours(decoded.image), cf.PATTERN, 40)
    small = tmp_path / f"small.{fmt.lower()}"
    cf.pattern_image((200, 150)).save(small, fmt)
    assert decode_file(str(small), short_side=256).image.size == (200, 150)  # never upscaled
