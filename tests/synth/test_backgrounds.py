"""Backgrounds: procedural ones are deterministic and varied; photo folders and a prepared TFDS sun397 reject
small and bad images."""

from __future__ import annotations

import io
import json
import shutil
import sys

import numpy as np
import pytest
from PIL import Image

from ltsh_jax.synth import backgrounds


def test_procedural_backgrounds_are_deterministic_sized_and_varied():
    a = backgrounds.procedural_background(np.random.default_rng(5), 96, 64)
    b = backgrounds.procedural_background(np.random.default_rng(5), 96, 64)
    assert a.shape == (64, 96, 3) and a.dtype == np.uint8
    np.testing.assert_array_equal(a, b)
    others = [backgrounds.procedural_background(np.random.default_rng(s), 96, 64) for s in range(6)]
    means = np.array([o.reshape(-1, 3).mean(0) for o in others])
    assert np.ptp(means, axis=0).max() > 30  # different colours from seed to seed
    assert all(o.std() > 3 for o in others)  # not flat


def _write(path, size, colour=(10, 200, 30)):
    Image.new("RGB", size, colour).save(path)


def test_folder_backgrounds_fit_and_reject_small_images(tmp_path):
    _write(tmp_path / "big.png", (600, 520), (10, 200, 30))
    _write(tmp_path / "small.jpg", (300, 700), (250, 0, 0))
    source = backgrounds.folder_backgrounds(tmp_path)
    rng = np.random.default_rng(0)
    for _ in range(6):
        out = source(rng, 640, 640)
        assert out.shape == (640, 640, 3)
        np.testing.assert_array_equal(out[320, 320], (10, 200, 30))  # never the small red one
    assert source.rejected_small > 0


def test_reject_hook_and_all_rejected(tmp_path):
    _write(tmp_path / "a.png", (512, 512))
    source = backgrounds.folder_backgrounds(tmp_path, reject=lambda image: True, max_tries=5)
    with pytest.raises(ValueError, match="5 background images in a row rejected.*by the hook: 5"):
        source(np.random.default_rng(0), 64, 64)


def test_unreadable_image_is_named(tmp_path):
    (tmp_path / "broken.jpg").write_bytes(b"not a jpeg")
    source = backgrounds.folder_backgrounds(tmp_path)
    with pytest.raises(ValueError, match="broken.jpg: cannot read background image"):
        source(np.random.default_rng(0), 64, 64)


def test_missing_or_empty_folder(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        backgrounds.folder_backgrounds(tmp_path / "nope")
    with pytest.raises(FileNotFoundError, match="holds no image"):
        backgrounds.folder_backgrounds(tmp_path)


def test_sun397_not_prepared_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="sun397"):
        backgrounds.sun397_backgrounds(tmp_path)


# --- TFDS sun397 as `tfds build sun397 --file_format=array_record` leaves it (no TensorFlow, no network) ---
# Originals (width, height) -> colour. TFDS stores every original over 120,000 pixels downscaled to ~120,000
# pixels and the rest as they are, so the "large" ones (min side >= 512, downscaled) are the only ones to use.
LARGE = {(1024, 768): (40, 170, 40), (800, 800): (40, 40, 200), (2000, 600): (220, 200, 30)}
SMALL = {(300, 200): (230, 30, 30), (512, 200): (200, 40, 200), (340, 340): (40, 210, 210)}
VALIDATION = {(2000, 600): LARGE[(2000, 600)], (300, 200): SMALL[(300, 200)]}
RAMP = 12  # each image is its colour plus a horizontal ramp of +-RAMP, so crops differ while the colour stays known


def _original_png(size, colour) -> bytes:
    width, _ = size
    ramp = np.linspace(-RAMP, RAMP, width)[None, :, None]
    pixels = np.clip(np.array(colour)[None, None, :] + ramp, 0, 255) * np.ones((size[1], 1, 1))
    buffer = io.BytesIO()
    Image.fromarray(pixels.astype(np.uint8)).save(buffer, "PNG")
    return buffer.getvalue()


@pytest.fixture(scope="module")
def sun397_dir(tmp_path_factory):
    """A data_dir holding a fake sun397 built by the registered builder's own config, features and image coding."""
    import tensorflow_datasets as tfds

    registered = tfds.builder_cls("sun397")
    process_image_file = sys.modules[registered.__module__]._process_image_file  # the real builder's resize + JPEG

    class FakeSun397(registered, skip_registration=True):
        name = "sun397"
        __module__ = registered.__module__  # dataset_info.json then names the module a real build names

        def _split_generators(self, dl_manager):
            all_images = {**LARGE, **SMALL}
            return {
                "train": self._examples(all_images),
                "test": self._examples(all_images),
                "validation": self._examples(VALIDATION),
            }

        def _examples(self, images):
            config = self.builder_config
            for i, (size, colour) in enumerate(images.items()):
                file_name = f"/a/abbey/sun_fake{i}.jpg"
                image = process_image_file(
                    io.BytesIO(_original_png(size, colour)),
                    None,
                    file_name,
                    quality=config.quality,
                    target_pixels=config.target_pixels,
                )
                yield file_name, {"file_name": file_name, "image": image, "label": "/a/abbey"}

    data_dir = tmp_path_factory.mktemp("tfds")
    FakeSun397(data_dir=str(data_dir), file_format="array_record").download_and_prepare(
        download_config=tfds.download.DownloadConfig(try_download_gcs=False)
    )
    return data_dir


def _colour_of(image: np.ndarray, colours) -> tuple:
    """The one colour of `colours` that `image` shows (its median within the ramp and JPEG error), else fail."""
    median = np.median(image.reshape(-1, 3), axis=0)
    matches = [c for c in colours if np.abs(median - c).max() <= RAMP + 6]
    assert len(matches) == 1, f"median colour {median} is none of {colours}"
    return matches[0]


def test_fake_sun397_is_what_tfds_sees_as_prepared(sun397_dir):
    import tensorflow_datasets as tfds

    builder = tfds.builder("sun397", data_dir=str(sun397_dir))
    assert builder.is_prepared()
    assert (builder.builder_config.name, str(builder.version)) == ("tfds", "4.0.0")  # the defaults
    assert builder.info.file_format.value == "array_record"
    assert (sun397_dir / "sun397/tfds/4.0.0/sun397-train.array_record-00000-of-00001").is_file()
    source = builder.as_data_source(split="train")
    stored = {
        _colour_of(source[i]["image"], [*LARGE.values(), *SMALL.values()]): source[i]["image"].shape[:2]
        for i in range(len(source))
    }
    for (width, height), colour in SMALL.items():  # under 120,000 pixels: stored as they are
        assert stored[colour] == (height, width)
    for (width, height), colour in LARGE.items():  # downscaled to ~120,000 pixels, aspect kept, so none is 512x512
        h, w = stored[colour]
        assert 0.98 * 120_000 <= h * w <= 120_000 * 1.02 and min(h, w) < 512
        assert abs(w / h - width / height) < 0.02 * width / height


def test_sun397_backgrounds_use_only_photos_tfds_downscaled(sun397_dir):
    source = backgrounds.sun397_backgrounds(sun397_dir)
    assert source.count == len(LARGE) + len(SMALL)
    rng = np.random.default_rng(0)
    used = []
    for _ in range(30):
        out = source(rng, 160, 120)
        assert out.shape == (120, 160, 3) and out.dtype == np.uint8
        used.append(_colour_of(out, [*LARGE.values(), *SMALL.values()]))
    assert set(used) == set(LARGE.values())  # every large photo, never a small one
    assert source.rejected_small > 0


def test_sun397_backgrounds_split_and_seed(sun397_dir):
    validation = backgrounds.sun397_backgrounds(sun397_dir, split="validation")
    rng = np.random.default_rng(1)
    assert {_colour_of(validation(rng, 64, 64), list(VALIDATION.values())) for _ in range(5)} == {LARGE[(2000, 600)]}

    def draws(seed):
        source = backgrounds.sun397_backgrounds(sun397_dir)  # a fresh reader: nothing carried over between readers
        rng = np.random.default_rng(seed)
        return [source(rng, 96, 80) for _ in range(6)]

    for a, b in zip(draws(7), draws(7), strict=True):
        np.testing.assert_array_equal(a, b)
    assert any(not np.array_equal(a, b) for a, b in zip(draws(7), draws(8), strict=True))


def test_sun397_reject_hook_sees_only_large_photos_and_is_honoured(sun397_dir):
    blue = LARGE[(800, 800)]
    seen = []

    def has_people(image: np.ndarray) -> bool:  # stands in for a person detector: "the blue photo shows people"
        seen.append(image.shape)
        return np.abs(np.median(image.reshape(-1, 3), axis=0) - blue).max() <= RAMP + 6

    source = backgrounds.sun397_backgrounds(sun397_dir, reject=has_people)
    rng = np.random.default_rng(3)
    used = {_colour_of(source(rng, 64, 64), list(LARGE.values())) for _ in range(20)}
    assert used == set(LARGE.values()) - {blue}
    assert source.rejected_by_hook > 0 and source.rejected_small > 0
    assert seen and all(h * w >= 0.98 * 120_000 for h, w, _ in seen)  # size check first: small ones never reach it


def test_sun397_with_the_plain_512_rule_rejects_everything(sun397_dir):
    source = backgrounds.sun397_backgrounds(sun397_dir, min_side=512, min_pixels=0, max_tries=10)
    with pytest.raises(ValueError, match="10 background images in a row rejected"):
        source(np.random.default_rng(0), 64, 64)


def test_sun397_stored_as_tfrecord_is_a_clear_error(sun397_dir, tmp_path):
    # `tfds build sun397` writes tfrecord unless told otherwise: no random access, so say how to rebuild.
    shutil.copytree(sun397_dir / "sun397", tmp_path / "sun397")
    version_dir = tmp_path / "sun397/tfds/4.0.0"
    info_path = version_dir / "dataset_info.json"
    info = json.loads(info_path.read_text())
    info["fileFormat"] = "tfrecord"
    info_path.write_text(json.dumps(info))
    for shard in version_dir.glob("*.array_record-*"):
        shard.rename(shard.with_name(shard.name.replace(".array_record-", ".tfrecord-")))
    with pytest.raises(ValueError, match=r"stored as tfrecord.*--file_format=array_record"):
        backgrounds.sun397_backgrounds(tmp_path)


def test_ltsh_synthetic_builds_on_sun397_backgrounds(sun397_dir, tmp_path, monkeypatch):
    """`sun397_dir` in the D_S config: every image's background is one of the photos TFDS downscaled."""
    from data_builders.build import build
    from data_builders.ltsh_synthetic import LtshSyntheticConfig
    from ltsh_jax.data import decoding, sources
    from ltsh_jax.synth import generate
    from ltsh_jax.synth.stick_people import StickPeople
    from tests.egl import skip_without_egl

    skip_without_egl()
    monkeypatch.setattr(generate, "BodyModelPeople", StickPeople)
    config = LtshSyntheticConfig(name="sun", num_train=3, num_validation=0, width=96, height=96, lam=1.0,
                                 sun397_dir=str(sun397_dir))  # fmt: skip
    builder = build("ltsh_synthetic", data_dir=tmp_path, config=config)
    source = builder.as_data_source(split="train")
    for i in range(len(source)):
        image = decoding.decode_image(source[i]["image"])
        example = sources.decode_example(source[i])
        people = np.zeros(image.shape[:2], bool)
        for keypoints in example.keypoints:  # keep away from every person's joints
            for x, y in keypoints[:, :2]:
                people[max(0, int(y) - 20) : int(y) + 20, max(0, int(x) - 20) : int(x) + 20] = True
        assert (~people).sum() > 500
        _colour_of(image[~people][None], list(LARGE.values()))
    with pytest.raises(ValueError, match="not both"):
        both = LtshSyntheticConfig(name="both", background_dir=str(tmp_path), sun397_dir=str(sun397_dir))
        build("ltsh_synthetic", data_dir=tmp_path / "both", config=both)
