"""Labels of rendered synthetic people: visibility from the buffers, head boxes, objpos, scale; scene invariants."""

from __future__ import annotations

import numpy as np
import pytest

from ltsh_jax.data.schema import NOT_LABELLED, OCCLUDED, VISIBLE
from ltsh_jax.synth import labels as L
from ltsh_jax.synth.camera import Camera
from ltsh_jax.synth.generate import Synthesizer
from ltsh_jax.synth.render import Mesh
from ltsh_jax.synth.scene import SceneConfig
from ltsh_jax.synth.stick_people import STANDING, StickPeople, stick_mesh
from tests.egl import renderer_or_skip

SIZE = 160


@pytest.fixture(scope="module")
def renderer():
    r = renderer_or_skip(SIZE, SIZE)
    yield r
    r.release()


def render_people(renderer, camera, joints_list):
    meshes, vertices = [], []
    for joints in joints_list:
        v, f = stick_mesh(joints)
        meshes.append(Mesh(v, f, np.full((len(v), 3), 0.7)))
        vertices.append(v)
    frame = renderer.render(meshes, camera)
    joints = np.stack(joints_list)
    tol = L.depth_tolerances(vertices, joints)
    return frame, L.label_people(camera, frame.instance, frame.depth, joints, tol)


def at(joints, x=0.0, z=0.0, yaw_180=False):
    out = joints.copy()
    if yaw_180:
        out[:, [0, 2]] *= -1
    return out + [x, 0, z]


CAMERA = Camera(focal=120, width=SIZE, height=SIZE, position=(0, 1.0, 0))


def test_person_in_front_occludes_the_one_behind(renderer):
    behind, front = at(STANDING, z=-6.0), at(STANDING, z=-4.0)
    frame, lab = render_people(renderer, CAMERA, [behind, front])
    v = lab.keypoints[..., 2]
    assert (v[1] == VISIBLE).sum() >= 14  # the front person: all but joints on a thin edge
    for j in (L.PELVIS, L.THORAX, L.UPPER_NECK):  # on the body's centre line: hidden by the front person
        assert v[0, j] == OCCLUDED and lab.occlusion_reason[0, j] == L.REASON_OTHERS
    pixels, _ = CAMERA.project(behind)
    np.testing.assert_allclose(lab.keypoints[0, :, :2], pixels, atol=1e-4)  # coordinates kept when occluded


def test_joint_behind_its_own_torso_is_self_occluded(renderer):
    person = STANDING.copy()
    person[10] = [0.0, 1.2, -0.2]  # right wrist behind the torso (the person faces the camera, +z)
    person[11] = [-0.1, 1.25, -0.1]
    frame, lab = render_people(renderer, CAMERA, [at(person, z=-4.0)])
    assert lab.keypoints[0, 10, 2] == OCCLUDED and lab.occlusion_reason[0, 10] == L.REASON_SELF
    assert lab.keypoints[0, L.PELVIS, 2] == VISIBLE
    turned, _ = render_people(renderer, CAMERA, [at(person, z=-4.0, yaw_180=True)])[1], None
    assert turned.keypoints[0, 10, 2] == VISIBLE  # seen from the back the wrist is in front


def test_joints_outside_the_image_are_not_labelled(renderer):
    frame, lab = render_people(renderer, CAMERA, [at(STANDING, x=-0.3, z=-1.2)])  # too close: feet below the frame
    v = lab.keypoints[..., 2]
    pixels, _ = CAMERA.project(at(STANDING, x=-0.3, z=-1.2))
    outside = (pixels[:, 1] > SIZE - 0.5) | (pixels[:, 0] < -0.5)
    assert outside.any() and (v[0, outside] == NOT_LABELLED).all()
    assert (lab.keypoints[0, outside, :2] == 0).all() and (v[0, ~outside] > 0).all()


def test_head_box_objpos_and_scale_follow_the_projection():
    near, far = at(STANDING, z=-3.0), at(STANDING, z=-6.0)
    joints = np.stack([near, far])
    lab = L.label_people(CAMERA, np.zeros((SIZE, SIZE), np.int32), np.full((SIZE, SIZE), np.inf), joints,
                         np.full((2, 16), 0.1))  # fmt: skip
    pixels, _ = CAMERA.project(joints)
    head = lab.head_box[0]
    side = np.linalg.norm(pixels[0, L.HEAD_TOP] - pixels[0, L.UPPER_NECK])
    np.testing.assert_allclose(head[2:] - head[:2], [side, side], rtol=1e-5)
    np.testing.assert_allclose((head[:2] + head[2:]) / 2, (pixels[0, L.HEAD_TOP] + pixels[0, L.UPPER_NECK]) / 2,
                               rtol=1e-5)  # fmt: skip
    np.testing.assert_allclose(lab.objpos, (pixels[:, L.PELVIS] + pixels[:, L.THORAX]) / 2, rtol=1e-5)
    # stature by hand: legs 0.42 + 0.42, hips 0.03, pelvis-thorax 0.5, thorax-neck 0.1, neck-head top 0.19
    stature = 0.42 + 0.42 + 0.03 + 0.5 + 0.1 + 0.19
    np.testing.assert_allclose(L.standing_height(joints), stature, rtol=1e-6)
    np.testing.assert_allclose(lab.scale, 120 * stature / np.array([3.0, 6.0]) / 200, rtol=1e-5)
    assert (lab.keypoints[..., 2] == OCCLUDED).all()  # an empty frame: nothing shows them (edge case)


def test_invariants_over_generated_scenes(renderer):
    config = SceneConfig(width=SIZE, height=SIZE, lam=6.0, distance_range=(2.0, 8.0))
    checked = check_invariants(Synthesizer(config, people=StickPeople(), renderer=renderer), range(6))
    assert min(checked.values()) > 0, checked  # every kind of case was met


@pytest.mark.slow
def test_invariants_with_the_body_model():
    for module in ("body_model", "poses", "appearance"):
        pytest.importorskip(f"ltsh_jax.synth.{module}")
    synthesizer = Synthesizer()
    checked = check_invariants(synthesizer, range(3))
    synthesizer.renderer.release()
    assert checked["visible"] > 50 and checked["others"] > 0, checked


def check_invariants(synthesizer, seeds) -> dict[str, int]:
    """Asserts the label invariants on the images of `seeds`; counts the cases checked."""
    checked = {"visible": 0, "others": 0, "self": 0, "pelvis": 0}
    for seed in seeds:
        result = synthesizer.generate(seed)
        lab, frame = result.labels, result.frame
        assert 0 <= result.camera.pitch <= 45 and lab.keypoints.shape[0] == len(result.placement.kept) >= 1
        pixels, depth = result.camera.project(result.joints)
        for p in range(lab.keypoints.shape[0]):
            for j in range(16):
                v = lab.keypoints[p, j, 2]
                if v == NOT_LABELLED:
                    continue
                col, row = np.round(lab.keypoints[p, j, :2]).astype(int)
                seen = frame.instance[row, col]
                if v == VISIBLE:  # a visible joint lies on its own person's pixels
                    assert seen == p + 1
                    checked["visible"] += 1
                elif lab.occlusion_reason[p, j] == L.REASON_OTHERS:  # occluded by others: not on its own pixels
                    assert seen not in (0, p + 1) and frame.depth[row, col] < depth[p, j]
                    checked["others"] += 1
                elif lab.occlusion_reason[p, j] == L.REASON_SELF:  # by itself: its own surface well in front
                    assert seen == p + 1 and frame.depth[row, col] < depth[p, j] - L.TOLERANCE_MARGIN
                    checked["self"] += 1
            ys, xs = np.nonzero(frame.instance == p + 1)
            if (lab.keypoints[p, :, 2] == VISIBLE).sum() >= 8:  # a mostly visible person
                px, py = pixels[p, L.PELVIS]
                assert xs.min() - 0.5 <= px <= xs.max() + 0.5 and ys.min() - 0.5 <= py <= ys.max() + 0.5
                checked["pelvis"] += 1
    return checked
