"""The base every stylization method fills in, as diffusers' `DiffusionPipeline` carries loading, device
moves and progress for every pipeline: each method keeps only what is its paper's.

A method declares
- `Options`: a frozen dataclass of its `create(**options)` keywords (`MethodOptions` plus its own); unknown
  or mistyped options are refused by name (`check_options`);
- `resolve_spec(options)`: its model spec (ids, where the weights live) from the options;
- `load()`: the networks, called once, on first use (`loaded`), on `self.device` in `self.dtype`;
- `_run(...)`: the paper's algorithm (`Stylizer`).
A method that keeps models in the caller's workspace (WORKSPACE/models/<method>, WORKSPACE/parasol) declares
`WorkspaceOptions`: the workspace (an `indexer.layout.WorkspaceLayout`) is then one of its options, given
explicitly (the registry passes `workspace=` to methods registered with `uses_workspace=True`); no method
reads $STYLELENS_HOME. The base resolves device and dtype, caches per-input work (`cache`), reports per-step progress with an ETA
to a terminal bar and to the caller's `on_progress` (`progress`), and builds the registry entry (`create`).
Missing weights are `generation.weights.WeightsMissingError`; saved model configs go through
`generation.model_config`.
"""
from __future__ import annotations

import dataclasses
import time
from abc import abstractmethod
from collections import OrderedDict
from collections.abc import Hashable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, Generic, TypeVar

from PIL import Image

from indexer.layout import WorkspaceLayout

from .base import ContentRef, ProgressCallback, ProgressEvent, StyleRef, StylizeError, Stylizer
from .weights import WeightsMissingError

if TYPE_CHECKING:
    import torch

__all__ = ["Method", "MethodOptions", "Progress", "ProgressEvent", "ResultCache", "WeightsMissingError",
           "WorkspaceOptions", "check_options", "output_size"]

V = TypeVar("V")


@dataclass(frozen=True)
class MethodOptions:
    """Options every method takes: `model` (an id or folder; None = the method's default), `device` ("auto":
    CUDA when present) and `dtype` ("auto": float16 on CUDA, float32 elsewhere, float32 for tiny models)."""

    model: str | None = None
    device: str = "auto"
    dtype: str | torch.dtype = "auto"


@dataclass(frozen=True)
class WorkspaceOptions(MethodOptions):
    """`MethodOptions` plus `workspace`: the caller's workspace (a `WorkspaceLayout`, or an opened `Workspace`)
    where the method keeps its models; None when there is none (models are then found by folder only)."""

    workspace: WorkspaceLayout | None = None


def check_options(options_cls: type, values: Mapping[str, Any], method: str) -> Any:
    """`options_cls` built from `values`, refusing unknown keys by name; None and "" mean the default."""
    known = [f.name for f in dataclasses.fields(options_cls)]
    unknown = sorted(set(values) - set(known))
    if unknown:
        raise StylizeError(f"unknown {method} option(s) {unknown}; known: {known}")
    return options_cls(**{k: v for k, v in values.items() if v is not None and v != ""})


def output_size(params: Any, default: int, multiple: int) -> tuple[int, int]:
    """(height, width) of a run: `params.height` / `params.width`, or the model's `default`; each must be a
    multiple of `multiple` (the model's total downsampling)."""
    height, width = params.height or default, params.width or default
    for name, v in (("height", height), ("width", width)):
        if v % multiple:
            raise StylizeError(f"{name} {v} is not a multiple of {multiple}, which this model needs")
    return int(height), int(width)


class Progress:
    """Per-step progress of one run: a tqdm bar on a terminal, and the caller's callback with an ETA
    (the mean time of the steps so far times the steps left). A context manager; `update(n)` per step."""

    def __init__(self, total: int, desc: str, callback: ProgressCallback | None = None) -> None:
        from tqdm.auto import tqdm

        self.total, self.done, self._callback = int(total), 0, callback
        self._start = time.monotonic()
        self._bar = tqdm(total=self.total, desc=desc, leave=False, disable=None)  # None: a terminal only

    def update(self, n: int = 1, total: int | None = None) -> None:
        """`n` more steps done (a cache hit may skip several at once); `total` corrects the step count."""
        if total is not None and total != self.total:
            self.total = self._bar.total = int(total)
        self.done += n
        self._bar.update(n)
        if self._callback is not None and n > 0:
            elapsed = time.monotonic() - self._start
            left = max(self.total - self.done, 0)
            self._callback(ProgressEvent(self.done, self.total, elapsed, elapsed / max(self.done, 1) * left))

    def close(self) -> None:
        self._bar.close()

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class ResultCache(Generic[V]):
    """A small least-recently-used cache of per-input work (an image's inversion, an exemplar's codes)."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._items: OrderedDict[Hashable, V] = OrderedDict()

    def get(self, key: Hashable) -> V | None:
        if key not in self._items:
            return None
        self._items.move_to_end(key)
        return self._items[key]

    def put(self, key: Hashable, value: V) -> V:
        self._items[key] = value
        while len(self._items) > self.size:
            self._items.popitem(last=False)
        return value

    def clear(self) -> None:
        self._items.clear()

    def __contains__(self, key: Hashable) -> bool:
        return key in self._items

    def __len__(self) -> int:
        return len(self._items)


class Method(Stylizer):
    """A stylization method: options, model spec, lazy loading, device/dtype, caches and progress."""

    Options: ClassVar[type] = MethodOptions

    def __init__(self, spec: Any, options: Any = None, **overrides: Any) -> None:
        """`options` an `Options` (default: all defaults); `overrides` replace some of its fields."""
        from indexer.encoders.runtime import resolve_device

        options = dataclasses.replace(options if options is not None else self.Options(), **overrides)
        self.spec, self.options = spec, options
        self.device = resolve_device(options.device)
        self.dtype = self.resolve_dtype(options.dtype) if hasattr(options, "dtype") else None
        self._loaded: Any = None
        self._caches: dict[str, ResultCache[Any]] = {}

    # -- the registry entry ---------------------------------------------------------------------------

    @classmethod
    def uses_workspace(cls) -> bool:
        """Whether the method's options take the caller's `workspace` (its `Options` are `WorkspaceOptions`)."""
        return issubclass(cls.Options, WorkspaceOptions)

    @property
    def workspace(self) -> WorkspaceLayout | None:
        """The workspace the method was given (None when it takes none or was given none)."""
        return getattr(self.options, "workspace", None)

    @classmethod
    def create(cls, **options: Any) -> Method:
        """The stylizer for `options` (checked against `Options`); weights load on first use."""
        checked = check_options(cls.Options, options, cls.name)
        return cls(cls.resolve_spec(checked), checked)

    @classmethod
    @abstractmethod
    def resolve_spec(cls, options: Any) -> Any:
        """The model spec `options` name (a StylizeError for an unknown model)."""

    # -- loading ---------------------------------------------------------------------------------------

    def resolve_dtype(self, dtype: str | torch.dtype) -> torch.dtype | None:
        """The dtype to run in: float32 for tiny models (built in float32) unless one is asked for."""
        import torch

        from .diffusion import resolve_dtype

        if dtype == "auto" and getattr(self.spec, "tiny", False):
            return torch.float32
        return resolve_dtype(dtype, self.device)

    @property
    def loaded(self) -> Any:
        """The loaded model (loaded on first use, so creating a stylizer stays cheap)."""
        if self._loaded is None:
            self._loaded = self.load()
        return self._loaded

    @abstractmethod
    def load(self) -> Any:
        """Load the networks onto `self.device` in `self.dtype`; WeightsMissingError when files are missing."""

    # -- caches and progress ---------------------------------------------------------------------------

    def cache(self, name: str, size: int = 8) -> ResultCache[Any]:
        """The instance's cache called `name` (made on first use)."""
        if name not in self._caches:
            self._caches[name] = ResultCache(size)
        return self._caches[name]

    def progress(self, total: int, desc: str | None = None) -> Progress:
        """A progress reporter for `total` steps of this run (to the bar and the caller's `on_progress`)."""
        return Progress(total, desc or self.name, self._on_progress)

    @abstractmethod
    def _run(self, content: ContentRef, styles: list[StyleRef], params: Any, seed: int) -> list[Image.Image]:
        """The method's algorithm; `params` are resolved (`resolve_params`) and validated."""
