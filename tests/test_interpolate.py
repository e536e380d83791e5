"""Interpolation strips (weights, endpoints equal to single-style runs) and output writing (names, grid,
no overwrite, nothing outside the out dir)."""
from __future__ import annotations

import io
import itertools
import os
from pathlib import Path

import numpy as np
import pytest
from blend_stylizer import register_blend
from PIL import Image

from generation import ContentRef, StyleRef, StylizeError, create_stylizer
from generation.interpolate import interpolation_strip, interpolation_weights
from generation.outputs import (
    OutputError,
    check_free,
    output_names,
    prepare_out_dir,
    save_images,
    save_strip_grid,
    step_label,
    strip_grid,
)


def _png(image: Image.Image) -> bytes:
    buf = io.BytesIO()
    image.save(buf, "PNG")
    return buf.getvalue()


def _solid(colour: tuple[int, int, int], size: int = 40) -> Image.Image:
    return Image.new("RGB", (size, size), colour)


def _content() -> ContentRef:
    rng = np.random.default_rng(3)
    return ContentRef(image=Image.fromarray(rng.integers(0, 255, (40, 56, 3), dtype=np.uint8)), source="test")


def test_two_style_weights_are_one_minus_t_and_t() -> None:
    rows = interpolation_weights(2, 5)
    assert rows == [(1.0, 0.0), (0.75, 0.25), (0.5, 0.5), (0.25, 0.75), (0.0, 1.0)]
    assert interpolation_weights(2, 2) == [(1.0, 0.0), (0.0, 1.0)]


def test_more_styles_follow_a_piecewise_path_through_each_style() -> None:
    assert interpolation_weights(3, 5) == [(1.0, 0.0, 0.0), (0.5, 0.5, 0.0), (0.0, 1.0, 0.0), (0.0, 0.5, 0.5),
                                           (0.0, 0.0, 1.0)]
    rows = interpolation_weights(3, 4)  # (steps - 1) not a multiple of (n - 1): B is passed between points
    assert rows[0] == (1.0, 0.0, 0.0) and rows[-1] == (0.0, 0.0, 1.0)
    assert rows[1] == pytest.approx((1 / 3, 2 / 3, 0.0)) and rows[2] == pytest.approx((0.0, 2 / 3, 1 / 3))
    for n, steps in ((2, 7), (3, 9), (4, 6), (5, 5)):
        rows = interpolation_weights(n, steps)
        assert len(rows) == steps and all(sum(r) == pytest.approx(1.0) and min(r) >= 0 for r in rows)
        assert all(sum(w > 0 for w in r) <= 2 for r in rows)  # at most two neighbouring styles at a time


@pytest.mark.parametrize("n, steps, message", [(1, 5, "at least 2 styles"), (2, 1, "at least 2 steps")])
def test_bad_paths_are_refused(n: int, steps: int, message: str) -> None:
    with pytest.raises(StylizeError, match=message):
        interpolation_weights(n, steps)


def test_strip_endpoints_equal_single_style_runs_exactly() -> None:
    stylizer = create_stylizer(register_blend())
    content = _content()
    a = StyleRef(image=_solid((220, 30, 30)), weight=0.3, source="a")
    b = StyleRef(image=_solid((20, 40, 230)), source="b")
    steps: list[tuple[int, int]] = []
    strip = interpolation_strip(stylizer, content, [a, b], 5, {"strength": 0.7}, seed=11, progress=False,
                                on_step=lambda done, total: steps.append((done, total)))
    assert len(strip) == 5 and {r.seed for r in strip} == {11}
    assert steps == [(i, 5) for i in range(1, 6)]
    only_a = stylizer.stylize(content, [a], {"strength": 0.7}, seed=11)
    only_b = stylizer.stylize(content, [b], {"strength": 0.7}, seed=11)
    assert _png(strip[0].images[0]) == _png(only_a.images[0])
    assert _png(strip[-1].images[0]) == _png(only_b.images[0])
    reds = [np.asarray(r.images[0], dtype=float)[..., 0].mean() for r in strip]
    assert all(x > y for x, y in itertools.pairwise(reds))  # moves steadily from A's palette to B's


def test_strip_with_the_fast_method_has_exact_endpoints() -> None:
    fast = pytest.importorskip("generation.fast")
    stylizer = create_stylizer("fast")
    content = _content()
    rng = np.random.default_rng(0)
    styles = [StyleRef(image=Image.fromarray(rng.integers(0, 255, (64, 64, 3), dtype=np.uint8)), source=s)
              for s in "ab"]
    params = fast.FastParams(content_size=64, style_size=64, colour_match="style")
    strip = interpolation_strip(stylizer, content, styles, 3, params, seed=0, progress=False)
    assert _png(strip[0].images[0]) == _png(stylizer.stylize(content, styles[:1], params).images[0])
    assert _png(strip[-1].images[0]) == _png(stylizer.stylize(content, styles[1:], params).images[0])
    assert _png(strip[1].images[0]) != _png(strip[0].images[0])


def test_recorded_weights_replay_and_must_fit_the_styles() -> None:
    stylizer = create_stylizer(register_blend())
    styles = [StyleRef(image=_solid((200, 0, 0))), StyleRef(image=_solid((0, 200, 0)))]
    rows = [(0.9, 0.1), (0.1, 0.9)]
    strip = interpolation_strip(stylizer, _content(), styles, 2, None, seed=1, weights=rows, progress=False)
    assert len(strip) == 2
    with pytest.raises(StylizeError, match="one weight per style"):
        interpolation_strip(stylizer, _content(), styles, 1, None, weights=[(1.0,)], progress=False)


def test_output_names_are_stable_and_refuse_overwrites(tmp_path: Path) -> None:
    out = prepare_out_dir(tmp_path / "out")
    assert output_names("fast", [1], steps=False) == ["fast-00.png"]
    assert output_names("m-abc", [1, 2], steps=True) == ["m-abc-step00.png", "m-abc-step01-00.png",
                                                        "m-abc-step01-01.png"]
    images = [_solid((1, 2, 3)), _solid((4, 5, 6))]
    saved = save_images(images, out, ["x-00.png", "x-01.png"])
    assert [f.path for f in saved] == ["x-00.png", "x-01.png"] and len(saved[0].sha256) == 64
    with pytest.raises(OutputError, match="already exists"):
        save_images(images, out, ["x-00.png", "x-01.png"])
    with pytest.raises(OutputError, match="already exists"):
        check_free(out, "x")
    again = save_images([_solid((9, 9, 9)), images[1]], out, ["x-00.png", "x-01.png"], overwrite=True)
    assert again[0].sha256 != saved[0].sha256 and again[1].sha256 == saved[1].sha256
    assert sorted(os.listdir(out)) == ["x-00.png", "x-01.png"]  # no temporary files left behind


@pytest.mark.parametrize("name", ["../escape.png", "sub/inner.png", "..", ""])
def test_nothing_is_written_outside_the_out_dir(tmp_path: Path, name: str) -> None:
    out = prepare_out_dir(tmp_path / "out")
    with pytest.raises(OutputError, match="not a plain file name"):
        save_images([_solid((0, 0, 0))], out, [name])
    assert not (tmp_path / "escape.png").exists()


def test_a_symlinked_target_is_refused_even_with_overwrite(tmp_path: Path) -> None:
    out = prepare_out_dir(tmp_path / "out")
    victim = tmp_path / "victim.txt"
    victim.write_text("keep me")
    (out / "x-00.png").symlink_to(victim)
    with pytest.raises(OutputError, match="link"):
        save_images([_solid((0, 0, 0))], out, ["x-00.png"], overwrite=True)
    assert victim.read_text() == "keep me"


def test_strip_grid_has_one_labelled_cell_per_step(tmp_path: Path) -> None:
    images = [_solid((255, 0, 0), 300), _solid((0, 255, 0), 300), _solid((0, 0, 255), 300)]
    labels = [step_label(w) for w in interpolation_weights(2, 3)]
    assert labels == ["A 1.00 B 0.00", "A 0.50 B 0.50", "A 0.00 B 1.00"]
    grid = strip_grid(images, labels)
    assert grid.size[0] == 3 * 256 and grid.size[1] > 256  # thumbnails capped at 256, label band below
    assert grid.getpixel((128, 128)) == (255, 0, 0) and grid.getpixel((256 + 128, 128)) == (0, 255, 0)
    band = np.asarray(grid)[260:, :256]
    assert (band < 128).any()  # the label is drawn
    path = tmp_path / "strip.png"
    first = save_strip_grid(images, labels, path)
    assert save_strip_grid(images, labels, path, overwrite=True) == first  # deterministic bytes
    with pytest.raises(OutputError, match="already exists"):
        save_strip_grid(images, labels, path)
