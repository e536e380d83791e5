"""Helpers for the Studio tests: a small real corpus (indexed with the starter models), and the running
app (`stylelens ui` as a subprocess on a free localhost port) driven by Debian's headless Chromium."""
from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from corpus_factory import write_content_style_families
from sqlalchemy import select

from indexer.catalog.schema import ImageRecord
from indexer.pipeline.run import index_paths
from indexer.workspace import Workspace

PHOTOS = ("chelsea.png", "coffee.png", "rocket.jpg", "astronaut.png", "camera.png", "motorcycle_left.png")
CHROMIUM, CHROMEDRIVER = "/usr/bin/chromium", "/usr/bin/chromedriver"
REPO = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class StudioCorpus:
    """A workspace with a `photos` corpus (content, real photos) and an `art` corpus (style, 3 scenes x 3
    styles of corpus_factory families); `ids` maps file names to catalog ids."""

    home: Path
    photos: Path
    art: Path
    ids: dict[str, int]


def build_corpus(root: Path) -> StudioCorpus:
    """Copy a few of scikit-image's photos, render the families, index both with the starter profile."""
    import skimage.data

    photos, art = root / "photos", root / "art"
    photos.mkdir(parents=True)
    data = Path(skimage.data.__file__).parent
    for name in PHOTOS:
        shutil.copy(data / name, photos / name)
    write_content_style_families(art, n_scenes=3, n_styles=3)
    ws = Workspace.open(root / "ws")
    try:
        index_paths(ws, [str(photos)], "photos", "content", profile="starter", workers=0, progress=False)
        index_paths(ws, [str(art)], "art", "style", workers=0, progress=False)
        with ws.session() as s:
            ids = {Path(path).name: i for path, i in s.execute(select(ImageRecord.path, ImageRecord.id))}
    finally:
        ws.close()
    return StudioCorpus(root / "ws", photos, art, ids)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Studio:
    """`stylelens ui --workspace HOME --port PORT` running in its own process group until `stop()`."""

    def __init__(self, home: Path, log: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
        self._log = open(log, "wb")  # noqa: SIM115 - closed in stop()
        self.process = subprocess.Popen(
            [sys.executable, "-m", "ui.cli", "ui", "--workspace", str(home), "--port", str(self.port)],
            cwd=REPO, env=env, stdout=self._log, stderr=subprocess.STDOUT, start_new_session=True)

    def wait_ready(self, timeout: float = 90.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"the Studio exited with {self.process.returncode}")
            try:
                with urllib.request.urlopen(f"{self.url}/_stcore/health", timeout=2) as reply:
                    if reply.status == 200:
                        return
            except OSError:
                time.sleep(0.3)
        raise TimeoutError(f"the Studio did not answer on {self.url} within {timeout:.0f}s")

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)  # the group this test started, by its id
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
        self._log.close()


def chromium_driver(profile_dir: Path):  # noqa: ANN201 - selenium's WebDriver, imported lazily
    """Headless Debian Chromium through Debian's chromedriver (nothing downloaded), a fresh profile."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--disable-dev-shm-usage", f"--user-data-dir={profile_dir}", "--window-size=1400,1500"):
        options.add_argument(flag)
    return webdriver.Chrome(options=options, service=Service(CHROMEDRIVER))
