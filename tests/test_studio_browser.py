"""The Studio in a real browser, as a tour: `stylelens ui` serves a small starter-indexed corpus on a free
localhost port and headless Debian Chromium (1400 × 1500) searches, opens the full-size viewer, asks for
more like this style, picks two styles, reloads (the URL keeps them), moves the Refine slider, generates a
strip with `fast`, adds a result to a collection, exports it and finds the run in History. Each step
asserts what is on screen (counts, captions, pictures loaded, where feedback appears); screenshots go to
test-artifacts/<step>.png (repo root; the folder ignores itself).

Needs /usr/bin/chromium and /usr/bin/chromedriver (Debian: apt-get install chromium chromium-driver) and
selenium. Without them the test skips with the reason, unless STYLELENS_REQUIRE_BROWSER is set (CI sets
it), where it fails instead.
"""
from __future__ import annotations

import importlib.util
import os
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import pytest
from browser.driving import Page, wait_for
from browser.studio_support import CHROMEDRIVER, CHROMIUM, Studio, StudioCorpus, build_corpus, chromium_driver

ABOVE_THE_FOLD = 900  # px from the top of the page: what a laptop shows without scrolling


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


def _url_params(page: Page) -> dict[str, list[str]]:
    return parse_qs(urlparse(page.driver.current_url).query)


def _search(page: Page, corpus: StudioCorpus) -> None:
    """Text search: the cat first, 15 results in rows of six, thumbnails loaded, the query in the URL."""
    box = wait_for(lambda: page.find("input[aria-label='Query']"), 120, "the query box appearing")[0]
    from selenium.webdriver.common.keys import Keys

    box.send_keys("a cat", Keys.ENTER)
    first = wait_for(lambda: next(iter(c for c in page.result_captions() if c.startswith("#1 "))), 180,
                     "the first result")
    assert first.startswith("#1 chelsea.png · ") and f"id {corpus.ids['chelsea.png']}" in first
    page.idle()
    assert len(page.result_captions()) == len(corpus.ids) == 15  # one page of 24 holds them all
    images = page.find("[data-testid='stFullScreenFrame'] img")
    tops = [round(i.rect["y"]) for i in images[:7]]
    assert len(set(tops[:6])) == 1 and tops[6] > tops[0], tops  # six cards to a row at 1400 px
    wait_for(lambda: all(page.loaded(i) for i in images[:6]), 60, "the first row's thumbnails loading")
    assert 0 < page.natural_width(images[0]) <= 256
    assert len(page.xpath("//button[.//p[text()='Actions']]")) == 15  # one menu per card, not five buttons
    assert _url_params(page)["q"] == ["a cat"]
    page.shot("studio-search")


def _viewer_then_more_like_style(page: Page, corpus: StudioCorpus) -> None:
    """The viewer shows the full picture, where it is, both scores; "more like this style" searches."""
    cat = corpus.ids["chelsea.png"]
    page.click("View", page.card("chelsea.png"))
    dialog = wait_for(lambda: page.find("[role='dialog']"), 60, "the viewer opening")[0]
    wait_for(lambda: "style similarity" in dialog.text, 120, "both scores in the viewer")
    text = dialog.text
    assert f"chelsea.png\n· id {cat} · corpus photos" in text or f"chelsea.png · id {cat} · corpus photos" in text
    assert str(corpus.photos / "chelsea.png") in text and "451 × 300 px" in text
    assert "content similarity" in text and "style similarity" in text
    picture = page.find("img", dialog)[0]
    wait_for(lambda: page.loaded(picture), 30, "the full-size picture loading")
    assert page.natural_width(picture) == 451  # full resolution, not the 256 px thumbnail
    page.shot("studio-viewer")
    page.click("More like this style", dialog)
    wait_for(lambda: not page.find("[role='dialog']"), 60, "the viewer closing")
    wait_for(lambda: any(c.startswith("query: id ") for c in page.captions()), 120, "the query shown as a picture")
    page.idle()
    assert f"query: id {cat}" in page.captions()  # the query is a picture now, not only "id:N"
    assert page.result_captions()[0].startswith("#1 chelsea.png · 1.000")
    assert _url_params(page)["mode"] == ["style"] and _url_params(page)["q"] == [f"id:{cat}"]


def _pick_two_styles_and_reload(page: Page, corpus: StudioCorpus, studio: Studio) -> None:
    """A shared link restores the search; two styles picked from cards; a reload keeps them."""
    a = corpus.ids["scene0_style0_v0.png"]
    page.driver.get(f"{studio.url}/?q=id:{a}&mode=style")
    wait_for(lambda: next(iter(page.result_captions()), "").startswith("#1 scene0_style0_v0.png"), 180,
             "the search restored from the link")
    page.idle()
    for name, n in (("scene0_style0_v0.png", 1), ("scene0_style2_v0.png", 2)):
        page.card_action(name, "Use as style")
        note = page.card_note(name)  # in the card clicked, not at the top of the page
        assert f"is now a picked style ({n} picked" in note
    page.idle()
    assert len(_url_params(page)["pick"]) == 2
    page.driver.refresh()
    wait_for(lambda: "Styles picked: 2" in page.texts("[data-testid='stSidebar']"), 120, "the picks after a reload")
    wait_for(lambda: page.result_captions(), 120, "the results after a reload")
    assert page.result_captions()[0].startswith("#1 scene0_style0_v0.png")  # and the search came back too


def _refine(page: Page, corpus: StudioCorpus) -> None:
    """Stylize a photo, then on Refine the slider is above the fold and moving it changes the results."""
    page.card_action("chelsea.png", "Stylize")
    wait_for(lambda: "Refine" in page.texts("h1"), 120, "the Refine page")
    page.idle()
    page.type_into("Positions on the path", "3")
    page.idle()
    slider = wait_for(lambda: page.find("[data-testid='stSlider']"), 120, "the slider")[0]
    assert slider.rect["y"] < ABOVE_THE_FOLD, slider.rect
    first = page.result_captions()[0]
    assert first.startswith("#1 scene0_style0_v0.png · 1.000")
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.keys import Keys

    page.driver.execute_script("arguments[0].focus()", page.find("input[type='range']", slider)[0])
    ActionChains(page.driver).send_keys(Keys.END).perform()
    wait_for(lambda: page.result_captions()[0].startswith("#1 scene0_style2_v0.png"), 120, "the results moving")
    page.idle()
    assert "A 0.00 B 1.00" in page.texts("[data-testid='stSlider']")
    page.shot("studio-refine")


def _generate(page: Page) -> None:
    """A 3-step strip with `fast` at 64 px: the strip comes up, loaded, wide enough for three images."""
    page.tab("Generate")
    page.type_into("content size", "64", enter=False)
    page.type_into("style size", "64", enter=False)
    page.idle()
    page.click("Generate a 3-step strip")
    caption = wait_for(lambda: next((c for c in page.captions() if c.startswith("interpolation strip (fast")), None),
                       300, "the strip")
    assert caption == "interpolation strip (fast, record 1)"
    strip = page.xpath("//div[@data-testid='stImageCaption'][starts-with(., 'interpolation strip')]"
                       "/ancestor::div[@data-testid='stImage'][1]//img")[0]
    wait_for(lambda: page.loaded(strip), 30, "the strip loading")
    assert page.natural_width(strip) >= 3 * 64
    assert "3 of 3 images" in page.texts("[data-testid='stProgress']")
    page.shot("studio-generate")


def _collect_and_export(page: Page, studio: Studio, corpus: StudioCorpus, out: Path) -> None:
    """Create a collection, add a result from Refine's grid (note in the card), export it from Collections."""
    page.tab("Walk the style space")
    page.click_xpath("//summary[contains(., 'Collection for')]", "the collection chooser")
    page.type_into("New collection", "keepers", enter=False)
    page.click("Create")
    page.idle()
    page.card_action("scene0_style2_v0.png", "Add to collection")
    note = page.card_note("scene0_style2_v0.png")
    assert note.startswith("Added scene0_style2_v0.png") and note.endswith("to keepers")
    page.driver.get(f"{studio.url}/collections_page")
    wait_for(lambda: "keepers: 1 items" in page.texts("h3"), 120, "the collection")
    page.type_into("Output folder", str(out))
    page.idle()
    page.click("Export")
    wait_for(lambda: "Exported 1 items of keepers as imagefolder" in page.texts("[data-testid='stAlert']"), 120,
             "the export")
    assert any(p.name == "scene0_style2_v0.png" or p.suffix == ".png" for p in out.rglob("*"))
    page.shot("studio-collections")


def _history(page: Page, studio: Studio) -> None:
    page.driver.get(f"{studio.url}/history_page")
    wait_for(lambda: "#1 interpolate · fast · 3 images" in page.driver.find_element(page.by.TAG_NAME, "body").text,
             120, "the run in History")
    image = page.find("[data-testid='stFullScreenFrame'] img")[0]
    wait_for(lambda: page.loaded(image), 30, "the run's picture loading")
    page.shot("studio-history")


def test_studio_tour(browser_ready: None, tmp_path: Path) -> None:
    corpus = build_corpus(tmp_path / "data")
    studio = Studio(corpus.home, tmp_path / "studio.log")
    driver = None
    try:
        studio.wait_ready()
        driver = chromium_driver(tmp_path / "chromium-profile")
        page = Page(driver, tmp_path)
        driver.get(studio.url)
        _search(page, corpus)
        _viewer_then_more_like_style(page, corpus)
        _pick_two_styles_and_reload(page, corpus, studio)
        _refine(page, corpus)
        _generate(page)
        _collect_and_export(page, studio, corpus, tmp_path / "export")
        _history(page, studio)
        assert not page.find("[data-testid='stException']")
    except Exception:
        if driver is not None:
            Page(driver, tmp_path).shot("studio-failure")
            (tmp_path / "studio-failure.html").write_text(driver.page_source)
        raise
    finally:
        if driver is not None:
            driver.quit()
        studio.stop()
