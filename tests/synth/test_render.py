"""The camera and the moderngl renderer on meshes whose images are known by hand (quads, boxes, spheres)."""

from __future__ import annotations

import numpy as np
import pytest

from ltsh_jax.synth import render
from ltsh_jax.synth.camera import Camera
from ltsh_jax.synth.render import Lighting, Mesh, RendererUnavailableError
from tests.egl import renderer_or_skip

SIZE = 64


@pytest.fixture(scope="module")
def renderer():
    r = renderer_or_skip(SIZE, SIZE)
    yield r
    r.release()


def quad(z: float, half: float, centre=(0.0, 0.0)) -> tuple[np.ndarray, np.ndarray]:
    cx, cy = centre
    v = np.array([[cx - half, cy - half, z], [cx + half, cy - half, z], [cx + half, cy + half, z],
                  [cx - half, cy + half, z]], np.float32)  # fmt: skip
    return v, np.array([[0, 1, 2], [0, 2, 3]], np.int32)


def box(centre, half) -> tuple[np.ndarray, np.ndarray]:
    corners = np.array([[x, y, z] for x in (-1, 1) for y in (-1, 1) for z in (-1, 1)], np.float32)
    faces = []
    for axis in range(3):
        for sign in (-1, 1):
            ids = [i for i, c in enumerate(corners) if c[axis] == sign]
            a, b, c, d = ids[0], ids[1], ids[3], ids[2]  # a cycle around the face
            faces += [[a, b, c], [a, c, d]]
    return corners * half + np.asarray(centre, np.float32), np.array(faces, np.int32)


def icosphere(centre, radius, subdivisions=2) -> tuple[np.ndarray, np.ndarray]:
    t = (1 + 5**0.5) / 2
    v = [[-1, t, 0], [1, t, 0], [-1, -t, 0], [1, -t, 0], [0, -1, t], [0, 1, t], [0, -1, -t], [0, 1, -t],
         [t, 0, -1], [t, 0, 1], [-t, 0, -1], [-t, 0, 1]]  # fmt: skip
    f = [[0, 11, 5], [0, 5, 1], [0, 1, 7], [0, 7, 10], [0, 10, 11], [1, 5, 9], [5, 11, 4], [11, 10, 2], [10, 7, 6],
         [7, 1, 8], [3, 9, 4], [3, 4, 2], [3, 2, 6], [3, 6, 8], [3, 8, 9], [4, 9, 5], [2, 4, 11], [6, 2, 10],
         [8, 6, 7], [9, 8, 1]]  # fmt: skip
    v = [list(np.asarray(p) / np.linalg.norm(p)) for p in v]
    for _ in range(subdivisions):
        cache, new_f = {}, []

        def mid(a, b, cache=cache):
            key = (min(a, b), max(a, b))
            if key not in cache:
                m = (np.asarray(v[a]) + np.asarray(v[b])) / 2
                v.append(list(m / np.linalg.norm(m)))
                cache[key] = len(v) - 1
            return cache[key]

        for a, b, c in f:
            ab, bc, ca = mid(a, b), mid(b, c), mid(c, a)
            new_f += [[a, ab, ca], [b, bc, ab], [c, ca, bc], [ab, bc, ca]]
        f = new_f
    return np.asarray(v, np.float32) * radius + np.asarray(centre, np.float32), np.asarray(f, np.int32)


def test_projection_matches_hand_computed_pixels():
    cam = Camera(focal=100, width=SIZE, height=SIZE, position=(0, 0, 0))
    pixels, depth = cam.project(np.array([[0, 0, -2.0], [1, 1, -2.0], [0, 0, 1.0]]))
    np.testing.assert_allclose(pixels[0], [31.5, 31.5])  # the image centre between pixels 31 and 32
    np.testing.assert_allclose(pixels[1], [31.5 + 50, 31.5 - 50])  # +y is up, rows grow downwards
    assert depth[0] == 2.0 and depth[2] < 0 and np.isnan(pixels[2]).all()


def test_pitch_turns_the_view_down_and_rays_invert_projection():
    cam = Camera(focal=80, width=SIZE, height=SIZE, position=(0, 2.0, 0), pitch=45.0)
    # looking 45 degrees down from 2 m: the optical axis meets the ground 2 m ahead
    pixels, depth = cam.project(np.array([0.0, 0.0, -2.0]))
    np.testing.assert_allclose(pixels, [31.5, 31.5], atol=1e-9)
    np.testing.assert_allclose(depth, 2 * np.sqrt(2))
    rng = np.random.default_rng(0)
    points = rng.uniform([-3, 0, -8], [3, 2, -1], (20, 3))
    pix, dep = cam.project(points)
    back = np.asarray(cam.position) + cam.ray(pix) * (dep / (cam.ray(pix) @ -cam.rotation()[2]))[:, None]
    np.testing.assert_allclose(back, points, atol=1e-9)


def test_quad_covers_the_pixels_its_corners_project_to(renderer):
    cam = Camera(focal=40, width=SIZE, height=SIZE, position=(0, 0, 0))
    v, f = quad(-4.0, 1.0)  # corners at 31.5 +- 10 px
    frame = renderer.render([Mesh(v, f, np.full((4, 3), 0.5))], cam)
    ys, xs = np.nonzero(frame.instance)
    assert (xs.min(), xs.max(), ys.min(), ys.max()) == (22, 41, 22, 41)
    assert set(np.unique(frame.instance)) == {0, 1}
    np.testing.assert_allclose(frame.depth[frame.instance == 1], 4.0, rtol=1e-4)
    assert np.isinf(frame.depth[frame.instance == 0]).all()


def test_nearer_mesh_wins_and_background_fills_the_rest(renderer):
    cam = Camera(focal=40, width=SIZE, height=SIZE, position=(0, 0, 0))
    far_v, far_f = quad(-6.0, 3.0)
    near_v, near_f = quad(-3.0, 0.5, centre=(0.5, 0.0))
    background = np.full((SIZE, SIZE, 3), 7, np.uint8)
    meshes = [Mesh(far_v, far_f, np.array([1.0, 0, 0])), Mesh(near_v, near_f, np.array([0, 1.0, 0]))]
    frame = renderer.render(meshes, cam, lighting=Lighting(direction=(0, 0, 1), ambient=1.0), background=background)
    pix, _ = cam.project(np.array([[0.5, 0.0, -3.0], [-2.0, 0.0, -6.0]]))
    (nx, ny), (fx, fy) = np.round(pix).astype(int)
    assert frame.instance[ny, nx] == 2 and frame.instance[fy, fx] == 1
    np.testing.assert_allclose(frame.depth[ny, nx], 3.0, rtol=1e-4)
    assert tuple(frame.color[ny, nx]) == (0, 255, 0) and tuple(frame.color[fy, fx]) == (255, 0, 0)
    assert (frame.color[frame.instance == 0] == 7).all()


def test_box_depth_and_lambert_shading(renderer):
    cam = Camera(focal=60, width=SIZE, height=SIZE, position=(0, 0, 0))
    v, f = box((0, 0, -5.0), 1.0)  # the front face at z = -4 faces the camera
    frame = renderer.render(
        [Mesh(v, f, np.full((8, 3), 1.0))], cam, lighting=Lighting(direction=(0, 0, 1), ambient=0.2)
    )
    np.testing.assert_allclose(frame.depth[31, 31], 4.0, rtol=1e-4)
    assert frame.color[31, 31].min() >= 253  # light along the normal: full brightness
    dim = renderer.render([Mesh(v, f, np.full((8, 3), 1.0))], cam, lighting=Lighting(direction=(1, 0, 0), ambient=0.2))
    np.testing.assert_allclose(dim.color[31, 31], 0.2 * 255, atol=2)  # light grazing the face: ambient only


def test_sphere_silhouette_centroid_is_its_projected_centre(renderer):
    cam = Camera(focal=50, width=SIZE, height=SIZE, position=(0, 1.5, 0), pitch=30.0)
    centre = np.array([0.4, 0.3, -4.0])
    v, f = icosphere(centre, 0.6)
    frame = renderer.render([Mesh(v, f, np.full((len(v), 3), 0.8))], cam)
    ys, xs = np.nonzero(frame.instance == 1)
    (u, w), depth = cam.project(centre)
    assert abs(xs.mean() - u) < 0.6 and abs(ys.mean() - w) < 1.5  # perspective shifts the disc a little
    nearest = frame.depth[frame.instance == 1].min()
    assert depth - 0.6 - 0.05 < nearest < depth - 0.5


def test_renderer_rejects_a_camera_of_another_size(renderer):
    with pytest.raises(ValueError, match="renderer 64x64"):
        renderer.render([], Camera(focal=10, width=32, height=32))


def test_missing_egl_names_the_debian_packages(monkeypatch):
    import moderngl

    def broken(**kwargs):
        raise Exception("eglGetDisplay failed")  # noqa: TRY002 - what glcontext raises

    monkeypatch.setattr(moderngl, "create_standalone_context", broken)
    monkeypatch.setattr(render, "_missing_debian_packages", lambda: ["libegl1", "libgbm1"])
    with pytest.raises(RendererUnavailableError, match="libegl1 libgbm1"):
        render.create_context()
