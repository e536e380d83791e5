"""Face alignment for the pSp encoder: the FFHQ crop from 68 facial landmarks when a landmark model is
here, otherwise a centre crop with a clear message.

The FFHQ recipe (Karras et al., used by DualStyleGAN's `--align_face`): from the eye centres and mouth
corners build an oriented square, x along the eyes, side max(2 * eye distance, 1.8 * eye-to-mouth), centre
slightly below the eyes; resample that quad to the output size (pixels outside the photo are filled by
reflection). Simplified: the official version also shrinks very large photos first and feathers the
reflected border with a blur; here the quad is resampled directly (bilinear, after reflect-padding).

Landmarks come from dlib's 68-point predictor (`shape_predictor_68_face_landmarks.dat`) when `dlib`
imports and the file is given; dlib is optional and never installed by StyleLens. Any callable
image -> (68, 2) array (or None when no face is found) can stand in for it.
"""
from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
from PIL import Image

LandmarkDetector = Callable[[np.ndarray], "np.ndarray | None"]
PREDICTOR_FILE = "shape_predictor_68_face_landmarks.dat"


def centre_crop(image: Image.Image, size: int) -> Image.Image:
    """The largest centred square, resized to size x size (Lanczos)."""
    rgb = image.convert("RGB")
    w, h = rgb.size
    side = min(w, h)
    left, top = (w - side) // 2, (h - side) // 2
    return rgb.crop((left, top, left + side, top + side)).resize((size, size), Image.Resampling.LANCZOS)


def ffhq_quad(landmarks: np.ndarray) -> np.ndarray:
    """The FFHQ crop's corners (4, 2) (top-left, bottom-left, bottom-right, top-right) from 68 landmarks."""
    lm = np.asarray(landmarks, dtype=np.float64)
    if lm.shape != (68, 2):
        raise ValueError(f"expected 68 (x, y) landmarks, got shape {lm.shape}")
    eye_left, eye_right = lm[36:42].mean(0), lm[42:48].mean(0)
    eye_avg, eye_to_eye = (eye_left + eye_right) / 2, eye_right - eye_left
    mouth_avg = (lm[48] + lm[54]) / 2
    eye_to_mouth = mouth_avg - eye_avg
    x = eye_to_eye - np.flipud(eye_to_mouth) * [-1, 1]
    x /= np.hypot(*x)
    x *= max(np.hypot(*eye_to_eye) * 2.0, np.hypot(*eye_to_mouth) * 1.8)
    y = np.flipud(x) * [-1, 1]
    c = eye_avg + eye_to_mouth * 0.1
    return np.stack([c - x - y, c - x + y, c + x + y, c + x - y])


def align_face(image: Image.Image, landmarks: np.ndarray, size: int) -> Image.Image:
    """Resample the FFHQ quad of `landmarks` to a size x size RGB image (reflection outside the photo)."""
    rgb = np.asarray(image.convert("RGB"))
    quad = ffhq_quad(landmarks)
    h, w = rgb.shape[:2]
    pad = int(np.ceil(max(0.0, -quad.min(), quad[:, 0].max() - w, quad[:, 1].max() - h))) + 2
    if pad > 2:
        pad = min(pad, 4 * max(h, w))
        rgb = np.pad(rgb, ((pad, pad), (pad, pad), (0, 0)), mode="reflect" if pad < min(h, w) else "edge")
        quad = quad + pad
    src = Image.fromarray(rgb)
    return src.transform((size, size), Image.Transform.QUAD, (quad + 0.5).flatten().tolist(),
                         Image.Resampling.BILINEAR)


def dlib_detector(predictor_path: str | Path) -> LandmarkDetector:
    """dlib's frontal face detector + 68-point predictor as a LandmarkDetector (the largest face wins).
    Raises ImportError without dlib and FileNotFoundError without the .dat file."""
    path = Path(predictor_path)
    if not path.is_file():
        raise FileNotFoundError(f"no landmark model at {path}")
    import dlib  # optional: only when a predictor file is given

    detector, predictor = dlib.get_frontal_face_detector(), dlib.shape_predictor(str(path))

    def landmarks(rgb: np.ndarray) -> np.ndarray | None:
        faces = detector(rgb, 1)
        if not faces:
            return None
        face = max(faces, key=lambda r: r.width() * r.height())
        return np.array([[p.x, p.y] for p in predictor(rgb, face).parts()], dtype=np.float64)

    return landmarks


def find_detector(predictor_path: str | Path | None) -> tuple[LandmarkDetector | None, str]:
    """(detector, "") when dlib and the predictor file are both here, else (None, why not)."""
    if predictor_path is None:
        return None, f"no landmark model given ({PREDICTOR_FILE})"
    try:
        return dlib_detector(predictor_path), ""
    except FileNotFoundError as exc:
        return None, str(exc)
    except ImportError:
        return None, "dlib is not installed (pip install dlib), so faces cannot be aligned by landmarks"
    except RuntimeError as exc:  # dlib's error for a truncated or foreign .dat file
        return None, f"dlib cannot read the landmark model {predictor_path} ({exc})"


def prepare_face(image: Image.Image, size: int, mode: str, detector: LandmarkDetector | None,
                 reason: str = "") -> tuple[Image.Image, str]:
    """(size x size face image, what was done) for mode `landmarks` | `centre` | `auto`.

    `auto` aligns by landmarks when a detector is here and finds a face, else centre-crops; `landmarks`
    raises ValueError (with the reason) when it cannot align."""
    if mode == "centre":
        return centre_crop(image, size), "centre crop"
    if detector is None:
        if mode == "landmarks":
            raise ValueError(f"align='landmarks' cannot run: {reason}")
        return centre_crop(image, size), f"centre crop ({reason})"
    points = detector(np.asarray(image.convert("RGB")))
    if points is None:
        if mode == "landmarks":
            raise ValueError("align='landmarks': no face found in the content image")
        return centre_crop(image, size), "centre crop (no face found by the landmark model)"
    return align_face(image, points, size), "aligned by facial landmarks"
