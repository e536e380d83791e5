#!/usr/bin/env python
"""Scaling benchmarks (issue 18): one subcommand per section, each in its own module, each printing its figures.

  build           (b) sharded build + merge of an on-disk IVF index: time, peak RSS, bytes, recall, latency
                      (scale_build.py)
  rebuild         (b) every index of a real (e.g. grown 1M-image) workspace built from scratch (scale_rebuild.py)
  incremental     (c) a small indexing run into a large workspace (scale_incremental.py)
  cold-cli        (4) a cold `stylelens search` on a large workspace, page cache dropped (scale_cli.py)
  ray-vs-local    (a) Ray vs local indexing throughput on this machine (scale_ray.py)
  gpu-throughput  (d) open_clip ViT-B-32 fp16 images/s on one GPU, decoding included (scale_ray.py)

Run `python scripts/bench_scale.py SECTION --help` for a section's options.
"""
from __future__ import annotations

import importlib
import sys
from pathlib import Path

SECTIONS = {"build": "scale_build", "rebuild": "scale_rebuild", "incremental": "scale_incremental",
            "cold-cli": "scale_cli", "ray-vs-local": "scale_ray", "gpu-throughput": "scale_ray"}


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if not argv or argv[0] not in SECTIONS:
        print(__doc__)
        return 0 if argv[:1] in (["-h"], ["--help"]) else 2
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    result = importlib.import_module(SECTIONS[argv[0]]).main(argv)
    return int(result or 0)


if __name__ == "__main__":
    sys.exit(main())
