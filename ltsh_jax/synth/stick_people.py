"""Closed stick-figure meshes with known joints: people for synthesis tests that need no body model.

A stick person is a closed tube (radius RADIUS, SIDES sides, capped) around every bone of
ltsh_jax.synth.scene.CAPSULE_BONES, a ball of the same radius at every joint (so every joint lies
inside its own mesh) and a head sphere: every vertex lies within RADIUS of the skeleton except the
head's, so the scene's capsules enclose the mesh.
"""

from __future__ import annotations

import numpy as np

from ltsh_jax.synth.scene import CAPSULE_BONES

RADIUS, SIDES, HEAD_RADIUS = 0.06, 10, 0.12
# A standing person in the body frame (metres, +y up, facing +z, feet at y = 0), MPII-16 order.
STANDING = np.array([
    [-0.1, 0.08, 0], [-0.1, 0.5, 0], [-0.1, 0.92, 0], [0.1, 0.92, 0], [0.1, 0.5, 0], [0.1, 0.08, 0],
    [0, 0.95, 0], [0, 1.45, 0], [0, 1.55, 0], [0, 1.74, 0],
    [-0.25, 0.9, 0], [-0.25, 1.15, 0], [-0.2, 1.42, 0], [0.2, 1.42, 0], [0.25, 1.15, 0], [0.25, 0.9, 0],
])  # fmt: skip


def _tube(a: np.ndarray, b: np.ndarray, radius: float) -> tuple[np.ndarray, np.ndarray]:
    axis = b - a
    axis = axis / np.linalg.norm(axis)
    helper = np.array([1.0, 0, 0]) if abs(axis[0]) < 0.9 else np.array([0, 1.0, 0])
    u = np.cross(axis, helper)
    u /= np.linalg.norm(u)
    w = np.cross(axis, u)
    angles = np.linspace(0, 2 * np.pi, SIDES, endpoint=False)
    ring = radius * (np.cos(angles)[:, None] * u + np.sin(angles)[:, None] * w)
    vertices = np.concatenate([a + ring, b + ring, [a, b]])
    faces = []
    for i in range(SIDES):
        j = (i + 1) % SIDES
        faces += [[i, j, SIDES + j], [i, SIDES + j, SIDES + i]]  # the side
        faces += [[2 * SIDES, j, i], [2 * SIDES + 1, SIDES + i, SIDES + j]]  # the caps
    return vertices, np.array(faces)


def _sphere(centre: np.ndarray, radius: float, rings: int = 6, sides: int = 10) -> tuple[np.ndarray, np.ndarray]:
    theta = np.linspace(0, np.pi, rings + 1)[1:-1]
    phi = np.linspace(0, 2 * np.pi, sides, endpoint=False)
    body = np.stack([np.sin(theta)[:, None] * np.cos(phi), np.cos(theta)[:, None] * np.ones_like(phi),
                     np.sin(theta)[:, None] * np.sin(phi)], -1).reshape(-1, 3)  # fmt: skip
    vertices = np.concatenate([[[0, 1, 0]], body, [[0, -1, 0]]]) * radius + centre
    faces, last = [], len(vertices) - 1
    for i in range(sides):
        j = (i + 1) % sides
        faces.append([0, 1 + j, 1 + i])
        faces.append([last, 1 + (rings - 2) * sides + i, 1 + (rings - 2) * sides + j])
        for r in range(rings - 2):
            a, b = 1 + r * sides, 1 + (r + 1) * sides
            faces += [[a + i, a + j, b + j], [a + i, b + j, b + i]]
    return vertices, np.array(faces)


def stick_mesh(joints: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(vertices [V, 3], faces [F, 3]) of the stick person with these MPII-16 joints (fixed topology)."""
    parts = [_tube(joints[a], joints[b], RADIUS) for a, b in CAPSULE_BONES]
    parts += [_sphere(joint, RADIUS) for joint in joints]
    parts.append(_sphere((joints[8] + joints[9]) / 2 + [0, 0.02, 0], HEAD_RADIUS))
    vertices, faces, offset = [], [], 0
    for v, f in parts:
        vertices.append(v)
        faces.append(f + offset)
        offset += len(v)
    return np.concatenate(vertices), np.concatenate(faces).astype(np.int32)


def random_pose(rng: np.random.Generator) -> np.ndarray:
    """STANDING with the arms moved at random (fixed bone lengths), so that some joints hide behind the body."""
    joints = STANDING.copy()
    for shoulder, elbow, wrist in ((12, 11, 10), (13, 14, 15)):
        upper = np.linalg.norm(STANDING[elbow] - STANDING[shoulder])
        lower = np.linalg.norm(STANDING[wrist] - STANDING[elbow])
        d1 = rng.normal(size=3)
        d2 = rng.normal(size=3)
        joints[elbow] = joints[shoulder] + upper * d1 / np.linalg.norm(d1)
        joints[wrist] = joints[elbow] + lower * d2 / np.linalg.norm(d2)
    return joints


class StickPeople:
    """A people sampler for ltsh_jax.synth.generate.Synthesizer: stick people with random arms and colours."""

    def __init__(self, clothing: str = "basic"):  # clothing: accepted as BodyModelPeople's; stick people are plain
        self.faces = stick_mesh(STANDING)[1]

    def __call__(self, rng: np.random.Generator, count: int):
        """(vertices [N, V, 3], joints [N, 16, 3], colours) in the body frame."""
        joints = np.stack([random_pose(rng) for _ in range(count)])
        vertices = np.stack([stick_mesh(j)[0] for j in joints])
        colors = [np.broadcast_to(rng.uniform(0.2, 1.0, 3), v.shape).copy() for v in vertices]
        return vertices, joints, colors
