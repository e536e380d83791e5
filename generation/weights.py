"""The one weights-missing error of every method, and its message in each interface's own words.

A method says *what* cannot load, *which files* are missing (per repo id or folder), *where* it looked and
which of its options would point elsewhere (`fixes`). The message is rendered for an interface: the library
spells options `model=<folder>`, the CLI `--model <folder>`, the Studio names the form field. The lines
stay lines (one per source, then the fix), so every interface can show them as they are.
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

from .base import StylizeError

Interface = Literal["library", "cli", "studio"]
INTERFACES: tuple[Interface, ...] = ("library", "cli", "studio")
HF_CACHE = "the local Hugging Face cache or the given folder"  # kept for callers; messages name the folder
STUDIO_FIELDS = ("model",)  # the options the Studio offers as a field (its Model list); others are CLI/library


def hf_cache_place() -> str:
    """Where hub models are looked for, with the real folder ($HF_HUB_CACHE / $HF_HOME respected)."""
    try:
        from huggingface_hub import constants

        return f"the Hugging Face cache ({constants.HF_HUB_CACHE}) or the given folder"
    except ImportError:  # pragma: no cover - huggingface_hub comes with diffusers
        return HF_CACHE


def spell_option(option: str, value: str, interface: Interface) -> str:
    """How `interface` asks for `option` set to `value` ("" for a switch): `allow_download=True`,
    `--allow-download`, the "Allow download" field."""
    if interface == "cli":
        flag = "--" + option.replace("_", "-")
        return f"{flag} {value}" if value else flag
    if interface == "studio":
        label = option.replace("_", " ").capitalize()
        return f"the \"{label}\" field" + (f" ({value})" if value else "")
    if interface != "library":
        raise ValueError(f"interface must be one of {INTERFACES}, got {interface!r}")
    return f"{option}={value or 'True'}"


def _source_lines(missing: Sequence[tuple[str, str]], hub: bool) -> list[str]:
    """One line per source listing its missing files, then (`hub`) how to fetch the hub ones."""
    from .diffusion.hub import is_local

    by_source: dict[str, list[str]] = {}
    for src, f in missing:
        by_source.setdefault(src, []).append(f)
    lines = [f"  - {src}: {', '.join(files)}" for src, files in by_source.items()]
    downloads = [f"  hf download {src} {' '.join(files)}" for src, files in by_source.items()
                 if hub and not is_local(src)]
    if downloads:
        lines += ["Fix: on a machine with hub access run", *downloads,
                  "(`huggingface-cli download` with older huggingface_hub) and copy the HF cache here;"]
    return lines


class WeightsMissingError(StylizeError):
    """Files a model needs are not here. One type for every method; `message(interface)` words the fix
    in that interface's own options (`str()` is the library's wording).

    what: the model, e.g. "DiffStyle model 'diffstyle/celebahq'"; missing: (repo id or folder, file) pairs;
    where: where they were looked for; fixes: (option, value) pairs that point elsewhere ("" = a switch);
    notes: method-specific lines (a licence, a download page), kept as given; hub: add `hf download` lines;
    reason: set instead of `where` when loading failed for another reason (the loader's message).
    """

    def __init__(self, what: str, missing: Sequence[tuple[str, str]] = (), *, where: str | None = None,
                 fixes: Sequence[tuple[str, str]] = (), notes: Sequence[str] = (), hub: bool = True,
                 reason: str | None = None) -> None:
        self.what, self.missing, self.where = what, list(missing), where or hf_cache_place()
        self.fixes, self.notes, self.hub, self.reason = list(fixes), list(notes), hub, reason
        super().__init__(self.message("library"))

    @property
    def files(self) -> list[str]:
        """The missing files, as `source/file`."""
        return [f"{src}/{f}" for src, f in self.missing]

    def message(self, interface: Interface = "library") -> str:
        """The whole message for `interface`, line breaks kept."""
        if self.reason is not None:
            lines = [f"{self.what} could not load ({self.reason})"]
        else:
            downloads = " (downloads are off)" if self.hub else ""
            lines = [f"{self.what} cannot load: these files are not in {self.where}{downloads}:"]
        lines += _source_lines(self.missing, self.hub)
        lines += self.notes
        fixes = [(o, v) for o, v in self.fixes if interface != "studio" or o in STUDIO_FIELDS]
        if fixes and interface == "studio":
            lines.append("or choose another model in the \"Model\" list.")
        elif fixes:
            lines.append("or pass " + ", ".join(spell_option(o, v, interface) for o, v in fixes) + ".")
        return "\n".join(lines)
