"""End-to-end indexing throughput against the bare encoder forward, measured in the same process.

Corpus: JPEGs of realistic size (longer side 1024) cut from scikit-image's sample photos with random
crops, flips and colour jitter, so decoding costs what it costs on real photos.
Baseline: every space's `embed_images` on already-decoded, already-preprocessed batches (models loaded).
End to end: `index_paths` on a fresh workspace over the same files: scan, hash, decode in worker
processes, preprocess, forward, catalog writes and the index snapshot.
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image, ImageEnhance

sys.path.insert(0, str(Path(__file__).parent))
from sample_corpus import write_photos  # noqa: E402


def write_bench_corpus(directory: Path, n: int, side: int = 1024, seed: int = 0) -> list[Path]:
    photos = [Image.open(p).convert("RGB") for p in sorted(write_photos(directory / "_src").glob("*"))]
    rng = np.random.default_rng(seed)
    out_dir = directory / "jpegs"
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(n):
        src = photos[i % len(photos)]
        w, h = src.size
        cw, ch = int(w * rng.uniform(0.6, 1.0)), int(h * rng.uniform(0.6, 1.0))
        x, y = int(rng.integers(0, w - cw + 1)), int(rng.integers(0, h - ch + 1))
        img = src.crop((x, y, x + cw, y + ch))
        scale = side / max(img.size)
        img = img.resize((max(1, round(img.width * scale)), max(1, round(img.height * scale))), Image.BICUBIC)
        if rng.random() < 0.5:
            img = img.transpose(Image.FLIP_LEFT_RIGHT)
        img = ImageEnhance.Color(img).enhance(float(rng.uniform(0.7, 1.3)))
        path = out_dir / f"img{i:05d}.jpg"
        img.save(path, quality=90)
        paths.append(path)
    return paths


def bench_end_to_end(n_images: int = 256, profile: str = "starter", batch_size: int = 32,
                     workers: int | None = None, rounds: int = 5) -> dict:
    """Index `n_images` photos; images/s end to end and of the bare forward, and their ratio.

    Shared machines drift (other tenants, clock changes), so each round times a bare and an end-to-end
    run back to back (in alternating order) and the reported ratio is the median of the per-round ratios.
    """
    from indexer.encoders import create_encoder, profile_spaces
    from indexer.imaging.decode import decode_file
    from indexer.pipeline.run import index_paths
    from indexer.workspace import Workspace

    with tempfile.TemporaryDirectory(prefix="stylelens-bench-") as tmp:
        root = Path(tmp)
        paths = write_bench_corpus(root / "corpus", n_images)
        encoders = [create_encoder(eid) for eid in profile_spaces(profile).values()]
        decoded = [decode_file(str(p)).image for p in paths]
        inputs = [np.stack([enc.preprocess(im) for im in decoded]) for enc in encoders]
        for enc, x in zip(encoders, inputs):  # warm-up: first calls allocate and tune
            enc.embed_images(x[:batch_size])
        def run_bare() -> float:
            start = time.perf_counter()
            for enc, x in zip(encoders, inputs):
                for i in range(0, len(x), batch_size):
                    enc.embed_images(x[i:i + batch_size])
            return time.perf_counter() - start

        def run_e2e(r: int) -> float:
            ws = Workspace.open(root / f"ws{r}")
            start = time.perf_counter()
            summary = index_paths(ws, [str(root / "corpus" / "jpegs")], "bench", profile=profile,
                                  workers=workers, batch_size=batch_size, progress=False)
            seconds = time.perf_counter() - start
            ws.close()
            assert summary.added == n_images, summary
            return seconds

        bare, e2e = [], []
        for r in range(rounds):
            if r % 2:
                e2e.append(run_e2e(r))
                bare.append(run_bare())
            else:
                bare.append(run_bare())
                e2e.append(run_e2e(r))
    ratios = [b / e for b, e in zip(bare, e2e)]
    return {
        "images": n_images, "profile": profile, "encoders": [e.encoder_id for e in encoders], "rounds": rounds,
        "bare_forward_img_s": n_images / float(np.median(bare)), "end_to_end_img_s": n_images / float(np.median(e2e)),
        "ratio": float(np.median(ratios)), "round_ratios": ratios,
    }


def print_end_to_end(r: dict) -> None:
    print(f"\nEnd-to-end indexing, {r['images']} JPEGs (1024 px), profile {r['profile']} ({', '.join(r['encoders'])})")
    print(f"  bare forward (decoded, preprocessed tensors): {r['bare_forward_img_s']:8.1f} images/s")
    print(f"  end to end (scan, decode, forward, catalog):  {r['end_to_end_img_s']:8.1f} images/s")
    print(f"  ratio end-to-end / bare forward:              {r['ratio']:8.2f}   (target >= 0.80; median of "
          f"{r['rounds']} paired rounds: {', '.join(f'{x:.2f}' for x in r['round_ratios'])})")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--images", type=int, default=256)
    parser.add_argument("--profile", default="starter")
    parser.add_argument("--workers", type=int)
    args = parser.parse_args()
    print_end_to_end(bench_end_to_end(args.images, args.profile, workers=args.workers))
    return 0


if __name__ == "__main__":
    sys.exit(main())
