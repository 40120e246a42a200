"""D_M (ltsh_mixed) and D_Style (ltsh_stylized) built on the real MPII samples, with stick people for bodies.

Stick people (ltsh_jax/synth/stick_people.py) stand in for the Anny body model, so these tests check the
compositing, labels and stylization without depending on it.
"""

from __future__ import annotations

import hashlib
import json
import pathlib

import numpy as np
import pytest
import tensorflow_datasets as tfds
from PIL import Image
from scipy import ndimage

from data_builders.build import build
from data_builders.ltsh_mixed import LtshMixedConfig
from data_builders.ltsh_stylized import LtshStylizedConfig
from ltsh_jax.data import decoding, sources
from ltsh_jax.data.bad_input import BadInputError
from ltsh_jax.synth import generate, mixed, motion_blur
from ltsh_jax.synth.stick_people import StickPeople
from tests.egl import skip_without_egl
from tests.paths import REAL_MPII

REAL = REAL_MPII
RECORDS = {r["image"]: r for r in json.loads((REAL / "test_mpii.json").read_text())}
tfds.disable_progress_bar()


CONFIGS = {
    "ltsh_mixed": LtshMixedConfig(name="test", num_renders=2),
    "ltsh_stylized": LtshStylizedConfig(name="test", num_renders=1, max_images=2, max_side=160),
}


@pytest.fixture(scope="module")
def builds(tmp_path_factory):
    """D_M (5 photos x 2 renders) and D_Style (2 photos x 1 render, transfer at 160 px), decoded, by key."""
    skip_without_egl()
    out = {}
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(generate, "BodyModelPeople", StickPeople)
        for name, config in CONFIGS.items():
            builder = build(name, data_dir=tmp_path_factory.mktemp(name), manual_dir=REAL, config=config)
            source = builder.as_data_source(split="train")
            out[name] = {}
            for i in range(len(source)):
                raw = source[i]
                out[name][raw["image/filename"].decode()] = out[name].get(raw["image/filename"].decode(), [])
                out[name][raw["image/filename"].decode()].append(sources.decode_example(raw))
            out[name + "/builder"] = builder
    return out


def photo(name: str) -> np.ndarray:
    return decoding.decode_image((REAL / name).read_bytes())


def test_real_keypoints_equal_the_source_and_synthetic_people_are_flagged(builds):
    mixed_examples = builds["ltsh_mixed"]
    assert sorted(mixed_examples) == sorted(RECORDS) and all(len(v) == 2 for v in mixed_examples.values())
    for name, examples in mixed_examples.items():
        record = RECORDS[name]
        joints, vis = np.asarray(record["joints"]), np.asarray(record["joints_vis"])
        for ex in examples:
            assert not ex.is_synthetic[0] and ex.is_synthetic[1:].all() and len(ex.is_synthetic) >= 2
            np.testing.assert_array_equal(ex.keypoints[0][vis == 1], (joints[vis == 1] - 1.0).astype(np.float32))
            np.testing.assert_array_equal(ex.visibility[0], np.where(vis == 1, 2, 0))
            assert ex.scales[0] == np.float32(record["scale"])
            assert (ex.group_id[1:] == -1).all()
        first, second = examples
        assert not np.array_equal(first.image, second.image)  # two renders, different humans


def test_composite_instances_scales_and_covered_joints(builds):
    covered_total = 0
    for name, examples in builds["ltsh_mixed"].items():
        original = photo(name)
        real_scale = np.float32(RECORDS[name]["scale"])
        for ex in examples:
            synthetic = ex.instance_mask > 0
            assert synthetic.any() and ex.image.shape == original.shape
            # the photo is untouched beyond the synthetic humans' motion blur (at most MAX_LENGTH_PX / 2 + 1 px away)
            far = ndimage.distance_transform_edt(~synthetic) > motion_blur.MAX_LENGTH_PX / 2 + 1.5
            np.testing.assert_array_equal(ex.image[far], original[far])
            ids = set(np.unique(ex.instance_mask)) - {0}
            assert ids <= set(range(2, len(ex.is_synthetic) + 1))  # only synthetic people (index >= 1) are drawn
            low, high = mixed.MixConfig().scale_jitter
            assert np.all(ex.scales[1:] >= real_scale * low * 0.999)
            assert np.all(ex.scales[1:] <= real_scale * high * 1.001)
            visible = ex.visibility[1:] == 2
            kp = np.rint(ex.keypoints[1:][visible]).astype(int)
            owner = np.nonzero(visible)[0] + 2
            np.testing.assert_array_equal(ex.instance_mask[kp[:, 1], kp[:, 0]], owner)  # visible = on its own pixels
            real = np.concatenate([ex.keypoints[:1], ex.visibility[:1, :, None]], -1)
            covered = mixed.covered_joints(ex.instance_mask, real)
            np.testing.assert_array_equal(ex.covered_by_synthetic[:1], covered)  # stored flag = recomputed one
            assert not ex.covered_by_synthetic[1:].any()  # only real people are flagged
            covered_total += int(covered.sum())
    assert covered_total > 0  # some real joints are covered by synthetic humans in these 10 renders


def test_covered_joints_by_hand():
    instance = np.zeros((4, 5), np.int32)
    instance[1, 2] = 3
    keypoints = np.zeros((1, 16, 3))
    keypoints[0, 0] = (2.4, 0.6, 2)  # rounds to (2, 1): covered
    keypoints[0, 1] = (2.6, 1.0, 1)  # rounds to (3, 1): not
    keypoints[0, 2] = (2.0, 1.0, 0)  # not labelled
    keypoints[0, 3] = (7.0, 1.0, 2)  # outside
    got = mixed.covered_joints(instance, keypoints)
    assert got[0].tolist() == [True] + [False] * 15


def test_stylized_keeps_dm_outside_the_synthetic_humans_and_the_labels(builds):
    styled = builds["ltsh_stylized"]
    assert len(styled) == 2
    for name, (ex,) in styled.items():
        # Render 0 of D_M (same seed, same example); the data source does not keep the render order.
        (dm,) = [d for d in builds["ltsh_mixed"][name] if np.array_equal(d.instance_mask, ex.instance_mask)]
        np.testing.assert_array_equal(ex.keypoints, dm.keypoints)
        np.testing.assert_array_equal(ex.instance_mask, dm.instance_mask)
        synthetic = ex.instance_mask > 0
        np.testing.assert_array_equal(ex.image[~synthetic], dm.image[~synthetic])
        assert np.abs(ex.image[synthetic].astype(int) - dm.image[synthetic]).mean() > 2.0  # restyled


def test_annotation_outside_the_image_is_bad_input(tmp_path):
    record = dict(RECORDS["004645041.jpg"])
    record["joints"] = [list(j) for j in record["joints"]]
    record["joints"][record["joints_vis"].index(1)] = [5000.0, 10.0]
    (tmp_path / "004645041.jpg").write_bytes((REAL / "004645041.jpg").read_bytes())
    (tmp_path / "train.json").write_text(json.dumps([record]))
    with pytest.raises(BadInputError, match="004645041"):
        build("ltsh_mixed", data_dir=tmp_path / "data", manual_dir=tmp_path, config=LtshMixedConfig(name="bad"))


@pytest.mark.parametrize("name,config_cls", [("ltsh_mixed", LtshMixedConfig), ("ltsh_stylized", LtshStylizedConfig)])
def test_image_symlinked_outside_the_folder_is_bad_input(tmp_path, name, config_cls):
    """D_M and D_Style read the MPII folder through the same confinement as D_R: a symlink leading out is refused."""
    manual = tmp_path / "mpii"
    manual.mkdir()
    (tmp_path / "secret.jpg").write_bytes((REAL / "004645041.jpg").read_bytes())
    (manual / "004645041.jpg").symlink_to(tmp_path / "secret.jpg")
    (manual / "train.json").write_text(json.dumps([RECORDS["004645041.jpg"]]))
    with pytest.raises(BadInputError, match=r"train\.json record 0: .*secret\.jpg, outside the folder .*unsafe_path"):
        build(name, data_dir=tmp_path / "data", manual_dir=manual, config=config_cls(name="bad"))


def test_mix_bad_input():
    mixer = mixed.Mixer(people=StickPeople(), context=object())  # no render reached
    image = np.zeros((20, 30, 3), np.uint8)
    with pytest.raises(ValueError, match="uint8"):
        mixer.mix(image.astype(float), np.zeros((1, 16, 3)), np.zeros((1, 2)), np.ones(1), seed=0)
    with pytest.raises(ValueError, match="finite positive scales"):
        mixer.mix(image, np.zeros((1, 16, 3)), np.zeros((1, 2)), np.zeros(1), seed=0)


def test_a_render_is_a_function_of_its_seed(builds):
    record = RECORDS["052475643.jpg"]
    image = photo("052475643.jpg")
    keypoints = np.concatenate(
        [np.asarray(record["joints"]) - 1.0, 2.0 * np.asarray(record["joints_vis"])[:, None]], 1
    )[None]
    mixer = mixed.Mixer(people=StickPeople())
    try:
        args = (image, keypoints, np.asarray([record["center"]]) - 1.0, np.asarray([record["scale"]]))
        first, again, other = mixer.mix(*args, seed=3), mixer.mix(*args, seed=3), mixer.mix(*args, seed=4)
    finally:
        mixer.release()
    np.testing.assert_array_equal(first.frame.color, again.frame.color)
    np.testing.assert_array_equal(first.labels.keypoints, again.labels.keypoints)
    assert not np.array_equal(first.frame.color, other.frame.color)


def test_user_mask_of_the_wrong_size_is_bad_input(tmp_path, monkeypatch):
    monkeypatch.setattr(generate, "BodyModelPeople", StickPeople)
    masks = tmp_path / "masks"
    masks.mkdir()
    name = sorted(RECORDS)[0]
    Image.fromarray(np.zeros((10, 12), np.uint8)).save(masks / (pathlib.Path(name).stem + ".png"))
    config = LtshStylizedConfig(name="bad_mask", num_renders=1, max_images=1, masks_dir=str(masks))
    with pytest.raises(BadInputError, match=r"is 10x12, but image .* is 720x1280"):
        build("ltsh_stylized", data_dir=tmp_path / "data", manual_dir=REAL, config=config)


def _file_hashes(data_dir: pathlib.Path) -> dict[str, str]:
    """sha256 of every record file and annotation index of a built dataset, by file name."""
    files = sorted([*data_dir.glob("*.array_record-*"), *data_dir.glob("annotations-*.npz")])
    assert files, f"nothing built under {data_dir}"
    return {f.name: hashlib.sha256(f.read_bytes()).hexdigest() for f in files}


@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_rebuild_is_byte_identical(builds, tmp_path, monkeypatch, name):
    """Every render, stylization and label is a function of its example's seed: a rebuild writes the same bytes."""
    monkeypatch.setattr(generate, "BodyModelPeople", StickPeople)
    again = build(name, data_dir=tmp_path, manual_dir=REAL, config=CONFIGS[name])
    first = pathlib.Path(builds[name + "/builder"].data_dir)
    assert first != pathlib.Path(again.data_dir)
    assert _file_hashes(first) == _file_hashes(pathlib.Path(again.data_dir))


@pytest.mark.parametrize("name,config_cls", [("ltsh_mixed", LtshMixedConfig), ("ltsh_stylized", LtshStylizedConfig)])
def test_no_renders_is_a_clear_error(tmp_path, name, config_cls):
    with pytest.raises(ValueError, match=rf"{name}/none: num_renders must be >= 1"):
        build(name, data_dir=tmp_path, manual_dir=REAL, config=config_cls(name="none", num_renders=0))


def test_synthetic_humans_are_lit_by_the_generators_sh_draw_as_in_d_s():
    """D_M shades its humans with D_S reference's spherical-harmonics lighting: the composite equals a D_S-style render
    of the placed meshes with the recorded coefficients, and their brightness follows the constant term L00."""
    skip_without_egl()
    from ltsh_jax.synth.render import Mesh, Renderer
    from ltsh_jax.synth.sh_lighting import SHLighting

    record = RECORDS["052475643.jpg"]
    image = photo("052475643.jpg")
    keypoints = np.concatenate(
        [np.asarray(record["joints"]) - 1.0, 2.0 * np.asarray(record["joints_vis"])[:, None]], 1
    )[None]

    class Recorded(StickPeople):
        def __call__(self, rng, count):
            out = super().__call__(rng, count)
            self.colors = out[2]
            return out

    people = Recorded()
    mixer = mixed.Mixer(mixed.MixConfig(motion_blur="none"), people=people)  # sharp: compared with a plain render
    args = (image, keypoints, np.asarray([record["center"]]) - 1.0, np.asarray([record["scale"]]))
    try:
        result = mixer.mix(*args, seed=5)
        meshes = [
            Mesh(v, people.faces, people.colors[i])
            for v, i in zip(result.placement.vertices, result.placement.kept, strict=True)
        ]
        old_look = mixed.Mixer(
            mixed.MixConfig(lighting="directional", motion_blur="none"), people=people, context=mixer._context
        )
        directional = old_look.mix(*args, seed=5)
        renderer = Renderer(image.shape[1], image.shape[0], context=mixer._context)
        lighting = result.lighting
        assert isinstance(lighting, SHLighting)
        first = np.asarray(lighting.coefficients)[0]
        assert 0.5 <= first[0] and first[1] <= 0  # the generator's L00 ~ 0.5 + 0.9 U (raised if needed), L1m1 <= 0
        again = renderer.render(meshes, result.camera, lighting=lighting, background=image)
        dim = renderer.render(meshes, result.camera, lighting=SHLighting((0.4,) + (0.0,) * 8), background=image)
        bright = renderer.render(meshes, result.camera, lighting=SHLighting((1.0,) + (0.0,) * 8), background=image)
    finally:
        mixer.release()
    np.testing.assert_array_equal(again.color, result.frame.color)  # the D_S renderer, same inputs: same pixels
    np.testing.assert_array_equal(directional.frame.instance > 0, result.frame.instance > 0)  # same people, same place
    drawn = result.frame.instance > 0
    assert np.abs(directional.frame.color[drawn].astype(int) - result.frame.color[drawn]).mean() > 3  # shading differs
    assert bright.color[drawn].astype(float).mean() > dim.color[drawn].astype(float).mean() + 30  # follows L00


def test_mix_config_rejects_an_unknown_lighting():
    with pytest.raises(ValueError, match="MixConfig.lighting"):
        mixed.MixConfig(lighting="flash")
