"""Running the Studio under Streamlit's AppTest on the small real corpus (`browser.studio_support`):
fixtures and the helpers that read what a page shows. Test modules import the fixtures by name."""
from __future__ import annotations

import pytest
from browser.studio_support import StudioCorpus, build_corpus
from streamlit.testing.v1 import AppTest

from indexer.workspace import Workspace
from ui.studio import APP_FILE

TIMEOUT = 120  # the first run imports torch and loads the models; the machine is small and shared


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> StudioCorpus:
    return build_corpus(tmp_path_factory.mktemp("studio"))


@pytest.fixture
def studio(corpus: StudioCorpus, monkeypatch: pytest.MonkeyPatch) -> AppTest:
    monkeypatch.setenv("STYLELENS_HOME", str(corpus.home))
    monkeypatch.delenv("STYLELENS_DB_URL", raising=False)
    return run(AppTest.from_file(str(APP_FILE), default_timeout=TIMEOUT))


@pytest.fixture
def ws(corpus: StudioCorpus):  # noqa: ANN201 - yields a Workspace
    workspace = Workspace.open(corpus.home)
    yield workspace
    workspace.close()


def run(target) -> AppTest:  # noqa: ANN001 - the app, or one of its widgets after an interaction
    """Run the app and insist that nothing surfaced as a traceback."""
    at = target.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def captions(at: AppTest) -> list[str]:
    return [c for image in at.image for c in image.captions]


def result_captions(at: AppTest) -> list[str]:
    return [c for c in captions(at) if c.startswith("#")]


def texts(elements) -> str:  # noqa: ANN001 - an AppTest element list
    return "\n".join(str(e.value) for e in elements)
