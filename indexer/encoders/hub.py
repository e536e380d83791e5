"""Hugging Face cache and reachability helpers that never hang: env read at call time, short timeouts."""
from __future__ import annotations

import os
import threading
import urllib.error
import urllib.request
from pathlib import Path

_TRUE = {"1", "true", "yes", "on"}


def hf_offline() -> bool:
    """True when HF_HUB_OFFLINE (or TRANSFORMERS_OFFLINE) is set in the environment right now."""
    return any(os.environ.get(k, "").strip().lower() in _TRUE for k in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE"))


def hf_cache_dir() -> Path:
    """The hub cache huggingface_hub would use, computed from the current environment."""
    if os.environ.get("HF_HUB_CACHE"):
        return Path(os.environ["HF_HUB_CACHE"]).expanduser()
    home = os.environ.get("HF_HOME") or os.path.join(os.environ.get("XDG_CACHE_HOME", "~/.cache"), "huggingface")
    return Path(home).expanduser() / "hub"


def hf_endpoint() -> str:
    """The hub endpoint (HF_ENDPOINT or https://huggingface.co), without a trailing slash."""
    return os.environ.get("HF_ENDPOINT", "https://huggingface.co").rstrip("/")


def cached_hf_file(repo_id: str, filenames: tuple[str, ...]) -> Path | None:
    """The first of `filenames` already in the local hub cache for `repo_id`, or None. No network."""
    from huggingface_hub import try_to_load_from_cache

    for name in filenames:
        hit = try_to_load_from_cache(repo_id, name, cache_dir=str(hf_cache_dir()))
        if isinstance(hit, str) and os.path.isfile(hit):
            return Path(hit)
    return None


def probe_url(url: str, timeout: float = 3.0) -> tuple[bool, str]:
    """(reachable, detail) for a HEAD request, bounded by `timeout` seconds in total (DNS included).

    Any HTTP answer (even 401/404) counts as reachable: the host is there.
    """
    result: list[tuple[bool, str]] = []

    def _run() -> None:
        try:
            req = urllib.request.Request(url, method="HEAD", headers={"User-Agent": "stylelens"})
            with urllib.request.urlopen(req, timeout=timeout) as resp:
                result.append((True, f"HTTP {resp.status}"))
        except urllib.error.HTTPError as exc:
            result.append((True, f"HTTP {exc.code}"))
        except Exception as exc:  # URLError, timeout, SSL, DNS...
            result.append((False, f"{type(exc).__name__}: {exc}"))

    thread = threading.Thread(target=_run, daemon=True)
    thread.start()
    thread.join(timeout)
    if not result:
        return False, f"no answer within {timeout:g} s"
    return result[0]


def download_hf_file(repo_id: str, filename: str, timeout: float = 10.0) -> Path:
    """Download one file into the hub cache (after a successful probe); bounded connect timeouts."""
    from huggingface_hub import hf_hub_download

    return Path(hf_hub_download(repo_id, filename, cache_dir=str(hf_cache_dir()), etag_timeout=timeout))
