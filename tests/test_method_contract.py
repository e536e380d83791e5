"""The contract every registered stylization method keeps, proved once for all of them on tiny models:
a seed repeats a run exactly (also on a fresh instance), a recorded generation regenerates byte for byte,
colour matching moves the output to the target's colours, bad parameters and options are refused by name,
and progress is reported once per step with a sane ETA. Method-specific behaviour stays in each method's
own test file."""
from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image
from synthetic_images import smooth_noise

from generation import ContentRef, StyleRef, StylizeError, create_stylizer, list_methods
from generation.colour import ColourStats
from generation.inputs import resolve_content, resolve_style
from generation.jobs import GenerationRequest, generate
from generation.method import ProgressEvent
from generation.records import differing_outputs, load_record, record_generation, regenerate
from indexer.workspace import Workspace

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@dataclass(frozen=True)
class Case:
    """How to run one method small: its options, parameters, how many progress steps that makes, and one
    method-specific bad parameter with the words its refusal must contain."""

    options: dict[str, Any]
    params: dict[str, Any]
    steps: int
    bad: tuple[dict[str, Any], str]
    seeded: bool = True  # False: the method ignores the seed (recorded, not used)
    workspace: Any = None  # the workspace it is given (`workspace=`; set by the `method` fixture)

    def create(self, name: str, **extra: Any) -> Any:
        """The method's stylizer for these options, given the workspace as every interface gives it."""
        return create_stylizer(name, workspace=self.workspace, **self.options, **extra)


CASES: dict[str, Case] = {
    "fast": Case({}, {"content_size": 64, "style_size": 64}, 1, ({"strength": 1.5}, "strength must be"),
                 seeded=False),
    "instantstyle": Case({"model": "instantstyle/tiny-sd15"}, {"num_inference_steps": 3}, 2,
                         ({"style_scale": -1}, "style_scale must be")),
    "diffstyle": Case({"model": "diffstyle/tiny-pixel"}, {"inversion_steps": 3, "generation_steps": 4, "t_boost": 400},
                      8, ({"gamma": 1.5}, "gamma must be a number in")),  # boosting draws seeded noise
    "dualstylegan": Case({"model": "dualstylegan/tiny"}, {"sample_style": True, "align": "centre", "output_size": 32},
                         1, ({"truncation": 2.0}, "truncation")),  # the seed draws the style
    "parasol": Case({"model": "parasol/tiny"}, {"steps": 2, "lam": 1}, 4, ({"lam": 5}, "lam must be")),
    "styo": Case({"model": "styo/pair"}, {"num_inference_steps": 2}, 2, ({"n_s": 0}, "n_s must be")),
}
METHODS = list_methods()  # the built-in registry (tests register their own stylizers later, in fixtures)


@pytest.fixture(scope="module")
def images(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("contract")
    paths = {"content": root / "content.png", "style": root / "style.png", "faces": root / "faces"}
    smooth_noise(1, (32, 32)).save(paths["content"])
    smooth_noise(2, (32, 32)).save(paths["style"])
    paths["faces"].mkdir()
    for i in range(2):
        smooth_noise(10 + i, (32, 32)).save(paths["faces"] / f"{i}.png")
    return paths


@pytest.fixture(scope="module")
def workspace_with_inputs(images, tmp_path_factory) -> Any:
    """The one workspace every method is given (`workspace=`): the catalog of recorded generations, and the
    models of the methods that keep theirs in a workspace (StyO's `styo/pair`, fine-tuned for 2 steps on the
    contract's content and style). Methods that take no workspace ignore it (the registry never passes it)."""
    from generation.styo import finetune

    ws = Workspace.open(tmp_path_factory.mktemp("contract-ws") / "ws")
    finetune("pair", str(images["content"]), str(images["style"]), str(images["faces"]), base="styo/tiny-sd15",
             settings={"steps": 2, "lr": 1e-3}, ws=ws, progress=False)
    yield ws
    ws.close()


@pytest.fixture
def method(request, workspace_with_inputs, monkeypatch) -> tuple[str, Case]:
    """(name, case); $STYLELENS_HOME points at an empty folder, so a method that read it instead of the
    workspace it is given would not find its model."""
    monkeypatch.setenv("STYLELENS_HOME", str(workspace_with_inputs.home / "not-the-workspace"))
    return request.param, replace(CASES[request.param], workspace=workspace_with_inputs)


def _refs(images: dict[str, Path], **style: Any) -> tuple[ContentRef, list[StyleRef]]:
    content = Image.open(images["content"]).convert("RGB")
    return ContentRef(image=content), [StyleRef(image=Image.open(images["style"]).convert("RGB"), **style)]


def _run(name: str, case: Case, images: dict[str, Path], seed: int = 5, stylizer: Any = None,
         **params: Any) -> Any:
    stylizer = stylizer or case.create(name)
    content, styles = _refs(images)
    return stylizer.stylize(content, styles, {**case.params, **params}, seed=seed)


def _bytes(result: Any) -> bytes:
    return b"".join(np.asarray(im).tobytes() for im in result.images)


def test_every_built_in_method_has_a_contract_case() -> None:
    assert set(METHODS) == set(CASES)


@pytest.mark.parametrize("method", METHODS, indirect=True)
def test_a_method_that_keeps_models_in_a_workspace_is_given_it_explicitly(method, images) -> None:
    """The registry passes `workspace=` exactly to the methods whose options take one (`WorkspaceOptions`);
    such a method holds the workspace it was given and reads nothing from $STYLELENS_HOME (the fixture points
    that elsewhere, so StyO's `styo/pair` is found only through the given workspace)."""
    from generation.registry import _BUILTIN

    name, case = method
    stylizer = case.create(name)
    assert type(stylizer).uses_workspace() == _BUILTIN[name][1]
    assert stylizer.workspace is (case.workspace if _BUILTIN[name][1] else None)
    if name == "styo":
        with pytest.raises(StylizeError, match="none was given"):
            create_stylizer(name, **case.options)


@pytest.mark.parametrize("method", METHODS, indirect=True)
def test_a_seed_repeats_a_run_exactly_also_on_a_fresh_instance(method, images) -> None:
    name, case = method
    stylizer = case.create(name)
    first = _run(name, case, images, stylizer=stylizer)
    assert _bytes(_run(name, case, images, stylizer=stylizer)) == _bytes(first)
    assert _bytes(_run(name, case, images)) == _bytes(first)
    assert first.method == name and first.seed == 5 and first.params["colour_match"] == "none"
    other = _run(name, case, images, seed=6, stylizer=stylizer)
    assert (_bytes(other) != _bytes(first)) == case.seeded


@pytest.mark.parametrize("method", METHODS, indirect=True)
def test_a_recorded_generation_regenerates_byte_for_byte(method, images, workspace_with_inputs, tmp_path) -> None:
    name, case = method
    ws = workspace_with_inputs
    request = GenerationRequest(resolve_content(ws, str(images["content"])), [resolve_style(ws, str(images["style"]))],
                                dict(case.params), 7, None)
    generated = generate(case.create(name), request, tmp_path / "first", progress=False)
    record_id = record_generation(ws, request, generated, dict(case.options))
    rec = load_record(ws, record_id)
    again = regenerate(ws, record_id, tmp_path / "again")
    assert again.params == rec.params == generated.result.params and again.seed == rec.seed == 7
    assert differing_outputs(rec, tmp_path / "again") == []
    assert [p.read_bytes() for p in rec.output_paths()] == \
        [(tmp_path / "again" / f["path"]).read_bytes() for f in rec.outputs["files"]]


@pytest.mark.parametrize("method", METHODS, indirect=True)
def test_colour_matching_moves_the_output_to_the_targets_colours(method, images) -> None:
    name, case = method
    stylizer = case.create(name)
    content, styles = _refs(images)
    for mode, target in (("style", styles[0].image), ("content", content.image)):
        goal = ColourStats.of(target).mean
        plain = np.abs(ColourStats.of(_run(name, case, images, stylizer=stylizer).images[0]).mean - goal).max()
        matched = _run(name, case, images, stylizer=stylizer, colour_match=mode).images[0]
        off = np.abs(ColourStats.of(matched).mean - goal).max()
        assert off < 0.03 and off <= plain, (mode, off, plain)


@pytest.mark.parametrize("method", METHODS, indirect=True)
def test_bad_parameters_and_options_are_refused_by_name(method, images) -> None:
    name, case = method
    stylizer = case.create(name)
    bad, words = case.bad
    for params, message in ((bad, words), ({"colour_match": "sepia"}, "colour_match must be"),
                            ({"no_such_param": 1}, "unknown parameter(s) ['no_such_param']")):
        with pytest.raises(StylizeError) as err:
            _run(name, case, images, stylizer=stylizer, **params)
        assert message in str(err.value), (params, str(err.value))
    with pytest.raises(StylizeError, match=rf"unknown {name} option\(s\) \['no_such_option'\]"):
        case.create(name, no_such_option=1)


@pytest.mark.parametrize("method", METHODS, indirect=True)
def test_progress_is_reported_per_step_with_a_sane_eta(method, images) -> None:
    name, case = method
    events: list[ProgressEvent] = []
    content, styles = _refs(images)
    case.create(name).stylize(content, styles, case.params, seed=5, on_progress=events.append)
    assert len(events) == case.steps
    assert [e.done for e in events] == list(range(1, case.steps + 1))
    assert all(e.total == case.steps and e.eta >= 0 and e.elapsed >= 0 for e in events)
    assert events[-1].eta == 0
    assert all(a.elapsed <= b.elapsed for a, b in zip(events, events[1:]))



@pytest.mark.parametrize("method", ["instantstyle", "parasol"], indirect=True)
def test_generate_reports_every_step_of_every_strip_image(method, images, tmp_path) -> None:
    """What the CLI and the Studio call: a 3-image strip reports each image's steps in order, then the image."""
    name, case = method
    content, styles = _refs(images)
    styles = [styles[0], StyleRef(image=Image.open(images["content"]).convert("RGB"))]
    request = GenerationRequest(content, styles, case.params, 5, [(1.0, 0.0), (0.5, 0.5), (0.0, 1.0)])
    seen: list[tuple] = []
    generate(case.create(name), request, tmp_path / "out", progress=False,
             on_step=lambda done, total: seen.append(("image", done, total)),
             on_progress=lambda e: seen.append(("step", e.done, e.total)))
    assert [x for x in seen if x[0] == "image"] == [("image", n, 3) for n in (1, 2, 3)]
    chunks, chunk = [], []
    for entry in seen:
        if entry[0] == "image":
            chunks.append(chunk)
            chunk = []
        else:
            chunk.append(entry)
    assert len(chunks) == 3 and chunks[0] == [("step", n, case.steps) for n in range(1, case.steps + 1)]
    for steps in chunks[1:]:  # a cached part (e.g. the content's inversion) may be reported as one jump
        done = [d for _kind, d, _total in steps]
        assert done == sorted(set(done)) and done[-1] == steps[-1][2] == case.steps, steps
