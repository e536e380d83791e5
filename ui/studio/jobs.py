"""Long jobs (indexing) run in a background thread of the server, so they go on while the person switches
pages; a page watches a job by polling it. One worker: one indexing run at a time (the library's lock
refuses a second one anyway, with a message)."""
from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

import streamlit as st


@st.cache_resource
def _executor() -> ThreadPoolExecutor:
    return ThreadPoolExecutor(max_workers=1, thread_name_prefix="stylelens-job")


def submit(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Future:
    """Run `fn(*args, **kwargs)` in the background; its Future holds the result or the error."""
    return _executor().submit(fn, *args, **kwargs)
