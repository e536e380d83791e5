"""The Studio in a real browser: `stylelens ui` serves a small starter-indexed corpus on a free localhost
port, headless Debian Chromium types a text search, and the right photo's thumbnail comes up first.

Needs /usr/bin/chromium and /usr/bin/chromedriver (Debian: apt-get install chromium chromium-driver) and
selenium. Without them the test skips with the reason, unless STYLELENS_REQUIRE_BROWSER is set (CI sets
it), where it fails instead. The screenshot is kept at test-artifacts/studio-search.png (repo root;
the folder ignores itself) and in pytest's tmp dir.
"""
from __future__ import annotations

import importlib.util
import os
import shutil
import time
from pathlib import Path

import pytest
from browser.studio_support import CHROMEDRIVER, CHROMIUM, REPO, Studio, build_corpus, chromium_driver

ARTIFACTS = REPO / "test-artifacts"
SCREENSHOT = ARTIFACTS / "studio-search.png"


def _missing() -> list[str]:
    missing = [path for path in (CHROMIUM, CHROMEDRIVER) if not os.access(path, os.X_OK)]
    return missing + ([] if importlib.util.find_spec("selenium") else ["the selenium package"])


@pytest.fixture(scope="module")
def browser_ready() -> None:
    missing = _missing()
    if missing:
        reason = (f"the browser test needs {', '.join(missing)} "
                  "(apt-get install chromium chromium-driver; pip install selenium)")
        if os.environ.get("STYLELENS_REQUIRE_BROWSER"):
            pytest.fail(f"STYLELENS_REQUIRE_BROWSER is set but {reason}")
        pytest.skip(reason)


def wait_for(condition, timeout: float, what: str):  # noqa: ANN001, ANN201 - a polled callable and its value
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.25)
    raise TimeoutError(f"{what} did not happen within {timeout:.0f}s")


def keep_screenshot(driver, tmp_path: Path) -> Path:  # noqa: ANN001 - selenium WebDriver
    shot = tmp_path / SCREENSHOT.name
    driver.save_screenshot(str(shot))
    ARTIFACTS.mkdir(exist_ok=True)
    (ARTIFACTS / ".gitignore").write_text("*\n")
    shutil.copy(shot, SCREENSHOT)
    return shot


def test_text_search_in_the_browser_shows_the_cat_first(browser_ready: None, tmp_path: Path) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    corpus = build_corpus(tmp_path / "data")
    studio = Studio(corpus.home, tmp_path / "studio.log")
    driver = None
    try:
        studio.wait_ready()
        driver = chromium_driver(tmp_path / "chromium-profile")
        driver.get(studio.url)
        box = wait_for(lambda: driver.find_elements(By.CSS_SELECTOR, "input[aria-label='Query']"), 90,
                       "the query box appearing")[0]
        box.send_keys("a cat", Keys.ENTER)

        def first_caption() -> str | None:
            found = driver.find_elements(By.CSS_SELECTOR, "[data-testid='stImageCaption']")
            return found[0].text if found and found[0].text.startswith("#1 ") else None

        caption = wait_for(first_caption, 120, "the first result")
        assert caption.startswith("#1 chelsea.png · ") and f"id {corpus.ids['chelsea.png']}" in caption
        images = driver.find_elements(By.CSS_SELECTOR, "[data-testid='stFullScreenFrame'] img")
        wait_for(lambda: driver.execute_script(
            "return arguments[0].complete && arguments[0].naturalWidth > 0", images[0]), 30, "the thumbnail loading")
        assert 0 < driver.execute_script("return arguments[0].naturalWidth", images[0]) <= 256
        assert driver.find_elements(By.XPATH, "//button[.//p[text()='More like this style']]")
        shot = keep_screenshot(driver, tmp_path)
        assert shot.stat().st_size > 10_000
    finally:
        if driver is not None:
            driver.quit()
        studio.stop()
