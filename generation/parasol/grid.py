"""Interpolating PARASOL's descriptors: a grid of two contents by two styles (METHODS.md 1d, "interpolation").

Cell (i, j) of an n x n grid is generated from the content descriptor nlerp(C(y1), C(y2); u_i) and the style
descriptor nlerp(A(s1), A(s2); v_j), u_i = v_j = 0, 1/(n-1), ..., 1, with the same seed and parameters
everywhere. The first content image is the structure: it is inverted (with `invert`) and conditions the
first `lam` steps with its own descriptors; the interpolated descriptors condition the rest. So row 0 holds
exactly the single-content runs (cell (0, 0) equals `stylize(y1, s1)`), and the other rows move the semantics
towards y2 within y1's layout. Colour matching, if asked for, blends the two styles' colour statistics by v_j.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from PIL import Image

from indexer.limits import check_seed

from ..base import ContentRef, StyleRef, StylizeError
from .descriptors import nlerp
from .params import Params
from .stylizer import Parasol


@dataclass
class Grid:
    """The cells row by row (rows: content weights u, columns: style weights v) and their labels."""

    images: list[Image.Image]
    labels: list[str]
    rows: int
    columns: int
    params: dict


def descriptor_grid(stylizer: Parasol, contents: list[ContentRef], styles: list[StyleRef], steps: int = 3,
                    params: Params | dict | None = None, seed: int = 0) -> Grid:
    """Generate the `steps` x `steps` grid between two contents (images) and two styles (images or vectors)."""
    from ..base import params_from_dict

    if len(contents) != 2 or len(styles) != 2:
        raise StylizeError("a descriptor grid needs exactly two contents and two styles")
    if any(c.image is None for c in contents):
        raise StylizeError("both grid contents must be images")
    if not isinstance(steps, int) or isinstance(steps, bool) or not 2 <= steps <= 9:
        raise StylizeError(f"steps must be an integer in [2, 9], got {steps!r}")
    check_seed(seed)
    if params is None or isinstance(params, dict):
        params = params_from_dict(Params, params)
    params = stylizer.resolve_params(params, contents[0])
    model = stylizer.model
    with torch.no_grad():
        c_ends = torch.cat([model.content.images([c.image]) for c in contents])
        a_ends = torch.cat([stylizer.style_descriptor([StyleRef(image=s.image, vector=s.vector)], params)
                            for s in styles])
    ts = np.linspace(0.0, 1.0, steps)
    images, labels = [], []
    for u in ts:
        c = nlerp(c_ends, [1 - u, u])[None]
        for v in ts:
            a = nlerp(a_ends, [1 - v, v])[None]
            image = stylizer.generate(contents[0].image, a, c, params, seed)
            cell_styles = [StyleRef(image=s.image, vector=s.vector, weight=float(w))
                           for s, w in zip(styles, (1 - v, v)) if w > 0]
            images += stylizer._post_process([image], contents[0], cell_styles, params)
            labels.append(f"content {u:.2f} style {v:.2f}")
    from dataclasses import asdict

    return Grid(images, labels, steps, steps, asdict(params))
