"""Deprecated: use `stylelens train dualstylegan {codes,stage2,stage3}` (the same arguments).

Kept so existing scripts keep working; it prints a one-line notice and runs the same stage
(`generation.dualstylegan.stages`).
"""
from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from ui.cli import build_parser  # noqa: E402
from ui.cli_train import train_dualstylegan  # noqa: E402


def main(argv: list[str] | None = None) -> Path:
    """Parse the old arguments as `stylelens train dualstylegan ...` and run that stage."""
    print("stylelens: `scripts/train_dualstylegan.py` is deprecated; use `stylelens train dualstylegan`",
          file=sys.stderr)
    args = build_parser().parse_args(["train", "dualstylegan", *(sys.argv[1:] if argv is None else argv)])
    return train_dualstylegan(args)


if __name__ == "__main__":
    main()
