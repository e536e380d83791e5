"""`python -m generation.dualstylegan.convert DIR`: write safetensors (+ JSON) next to the released DualStyleGAN
files under DIR (encoder.pt, STYLE/generator.pt, sampler.pt, exstyle_code.npy, refined_exstyle_code.npy), read
with the safe loaders; the stylizer then prefers them. The originals are kept."""
from __future__ import annotations

import argparse
import sys

from ..base import StylizeError
from .checkpoints import convert_folder


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("folder", help="the checkpoint folder (official layout)")
    args = parser.parse_args(argv)
    try:
        written = convert_folder(args.folder)
    except StylizeError as exc:
        print(f"convert: {exc}", file=sys.stderr)
        return 1
    for path in written:
        print(path)
    if not written:
        print(f"convert: no released DualStyleGAN files under {args.folder}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
