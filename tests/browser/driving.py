"""Driving the Studio in Chromium: waiting for Streamlit to settle, finding buttons, cards and captions by
what a person sees, typing into widgets, and keeping screenshots in test-artifacts/."""
from __future__ import annotations

import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from browser.studio_support import REPO

ARTIFACTS = REPO / "test-artifacts"
T = TypeVar("T")


def wait_for(condition: Callable[[], T], timeout: float, what: str) -> T:
    """Poll `condition` until it returns something truthy (returned); TimeoutError naming `what`."""
    deadline = time.monotonic() + timeout
    last: Exception | None = None
    while time.monotonic() < deadline:
        try:
            value = condition()
        except Exception as exc:  # noqa: BLE001 - a stale element while Streamlit redraws: poll again
            last, value = exc, None
        if value:
            return value
        time.sleep(0.25)
    raise TimeoutError(f"{what} did not happen within {timeout:.0f}s" + (f" (last error: {last})" if last else ""))


class Page:
    """One browser tab on the Studio, with the helpers a tour needs."""

    def __init__(self, driver: Any, tmp_path: Path) -> None:  # noqa: ANN401 - selenium's WebDriver
        from selenium.webdriver.common.by import By

        self.driver, self.tmp_path, self.by = driver, tmp_path, By

    def find(self, css: str, within: Any = None) -> list:  # noqa: ANN401
        return (within or self.driver).find_elements(self.by.CSS_SELECTOR, css)

    def xpath(self, path: str, within: Any = None) -> list:  # noqa: ANN401
        return (within or self.driver).find_elements(self.by.XPATH, path)

    def idle(self, timeout: float = 120) -> None:
        """Wait until the app is not running (Streamlit's status widget gone) and no spinner shows."""
        time.sleep(0.4)
        wait_for(lambda: not self.find("[data-testid='stStatusWidget']") and not self.find(
            "[data-testid='stSpinner']"), timeout, "the app finishing its run")

    def button(self, label: str, within: Any = None, timeout: float = 60) -> Any:  # noqa: ANN401
        """The visible button whose text is `label`."""
        path = f".//button[normalize-space(.)='{label}' or .//p[normalize-space(text())='{label}']]"
        return wait_for(lambda: next((b for b in self.xpath(path, within) if b.is_displayed()), None), timeout,
                        f"a button {label!r}")

    def click(self, label: str, within: Any = None, timeout: float = 60) -> None:  # noqa: ANN401
        """Click the button `label`, again if Streamlit redrew it under the pointer (a stale element)."""
        def attempt() -> bool:
            button = self.button(label, within, timeout=5)
            self.driver.execute_script("arguments[0].scrollIntoView({block: 'center'})", button)
            button.click()
            return True

        wait_for(attempt, timeout, f"a click on {label!r}")

    def tab(self, label: str) -> None:
        """Open the tab labelled `label`."""
        self.click_xpath(f"//*[@role='tab'][normalize-space(.)='{label}']", f"the tab {label!r}")

    def click_xpath(self, path: str, what: str, timeout: float = 60) -> None:
        """Click the first element at `path`, again if Streamlit redrew it meanwhile."""
        def attempt() -> bool:
            self.xpath(path)[0].click()
            return True

        wait_for(attempt, timeout, f"a click on {what}")

    def all_text(self, css: str) -> list[str]:
        """The visible text of every element matching `css`, read in one go (nothing can go stale)."""
        return self.driver.execute_script(
            "return Array.from(document.querySelectorAll(arguments[0])).map(e => e.innerText)", css)

    def captions(self) -> list[str]:
        return [c for c in self.all_text("[data-testid='stImageCaption']") if c]

    def result_captions(self) -> list[str]:
        return [c for c in self.captions() if c.startswith("#")]

    def card(self, name: str, timeout: float = 60) -> Any:  # noqa: ANN401
        """The grid column (one card each) of the result (caption `#rank name · ...`) showing file `name`."""
        path = ("//div[@data-testid='stColumn'][.//div[@data-testid='stImageCaption'][starts-with(., '#')]"
                f"[contains(., ' {name} ')]][not(.//div[@data-testid='stColumn'])]")
        return wait_for(lambda: next(iter(self.xpath(path)), None), timeout, f"the card of {name}")

    def card_action(self, name: str, action: str) -> Any:  # noqa: ANN401
        """Open the actions menu of `name`'s card and click `action`; returns the card."""
        self.click("Actions", self.card(name))
        self.click(action)  # the menu opens outside the card
        return self.card(name)

    def card_note(self, name: str, timeout: float = 60) -> str:
        """The text of the message shown inside `name`'s card."""
        def note() -> str | None:
            alerts = self.card(name, timeout=5).find_elements(self.by.CSS_SELECTOR, "[data-testid='stAlert']")
            return alerts[0].text if alerts else None

        return wait_for(note, timeout, f"a message in the card of {name}")

    def type_into(self, label: str, text: str, enter: bool = True) -> None:
        """Replace the text of the input labelled `label` and commit it (Enter, else Tab)."""
        from selenium.webdriver.common.keys import Keys

        def attempt() -> bool:
            box = next(e for e in self.find(f"input[aria-label='{label}']") if e.is_displayed())
            box.send_keys(Keys.CONTROL, "a")
            box.send_keys(Keys.DELETE, text, Keys.ENTER if enter else Keys.TAB)
            return True

        wait_for(attempt, 60, f"typing into {label!r}")

    def loaded(self, image: Any) -> bool:  # noqa: ANN401
        return bool(self.driver.execute_script("return arguments[0].complete && arguments[0].naturalWidth > 0",
                                               image))

    def natural_width(self, image: Any) -> int:  # noqa: ANN401
        return int(self.driver.execute_script("return arguments[0].naturalWidth", image))

    def texts(self, css: str) -> str:
        return "\n".join(self.all_text(css))

    def shot(self, name: str) -> Path:
        """Screenshot to pytest's tmp dir and test-artifacts/NAME.png (the folder ignores itself)."""
        shot = self.tmp_path / f"{name}.png"
        self.driver.save_screenshot(str(shot))
        ARTIFACTS.mkdir(exist_ok=True)
        (ARTIFACTS / ".gitignore").write_text("*\n")
        shutil.copy(shot, ARTIFACTS / shot.name)
        return shot
