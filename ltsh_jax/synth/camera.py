"""A pinhole camera over a ground plane: world <-> eye transforms, OpenGL matrices and pixel projection.

World frame (that of ltsh_jax.synth.body_model): metres, +y up, ground at y = 0. The camera stands at
`position`, turned by `yaw` about +y and tilted down by `pitch` degrees (0 = horizontal, looking along
-z when yaw = 0). Eye frame: OpenGL's (x right, y up, looking down -z). Pixels follow the dataset
convention (data_builders/features.py): 0-based, pixel centres at integers, row 0 at the top; the
principal point is the image centre. The OpenGL projection below is the exact same mapping, so a
vertex rendered by ltsh_jax.synth.render lands on the pixel `project` returns.
"""

from __future__ import annotations

import dataclasses

import numpy as np


@dataclasses.dataclass(frozen=True)
class Camera:
    """Intrinsics (focal length in pixels, image size) and pose (position in metres, pitch/yaw in degrees)."""

    focal: float
    width: int
    height: int
    position: tuple[float, float, float] = (0.0, 1.6, 0.0)
    pitch: float = 0.0
    yaw: float = 0.0
    near: float = 0.05
    far: float = 200.0

    def __post_init__(self):
        if self.focal <= 0 or self.width <= 0 or self.height <= 0:
            raise ValueError(f"camera focal, width and height must be positive, got {self}")
        if not 0 < self.near < self.far:
            raise ValueError(f"camera needs 0 < near < far, got near={self.near} far={self.far}")

    def rotation(self) -> np.ndarray:
        """float64 [3, 3]: world -> eye rotation (yaw about +y, then pitch down about +x)."""
        p, y = np.radians(self.pitch), np.radians(self.yaw)
        rot_x = np.array([[1, 0, 0], [0, np.cos(p), -np.sin(p)], [0, np.sin(p), np.cos(p)]])
        rot_y = np.array([[np.cos(y), 0, np.sin(y)], [0, 1, 0], [-np.sin(y), 0, np.cos(y)]])
        return rot_x @ rot_y

    def view_matrix(self) -> np.ndarray:
        """float64 [4, 4]: world -> eye (column vectors)."""
        rot = self.rotation()
        view = np.eye(4)
        view[:3, :3] = rot
        view[:3, 3] = -rot @ np.asarray(self.position, np.float64)
        return view

    def projection_matrix(self) -> np.ndarray:
        """float64 [4, 4]: eye -> clip, matching `project` (principal point at the image centre)."""
        n, f = self.near, self.far
        proj = np.zeros((4, 4))
        proj[0, 0] = 2 * self.focal / self.width
        proj[1, 1] = 2 * self.focal / self.height
        proj[2, 2] = -(f + n) / (f - n)
        proj[2, 3] = -2 * f * n / (f - n)
        proj[3, 2] = -1.0
        return proj

    def to_eye(self, points: np.ndarray) -> np.ndarray:
        """[..., 3] world points -> [..., 3] eye coordinates (depth in front of the camera is -z)."""
        points = np.asarray(points, np.float64)
        return (points - np.asarray(self.position, np.float64)) @ self.rotation().T

    def project(self, points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """World points [..., 3] -> (pixels [..., 2] float64, depth [...] metres along the optical axis).

        Points at or behind the camera plane get depth <= 0 and NaN pixels.
        """
        eye = self.to_eye(points)
        depth = -eye[..., 2]
        with np.errstate(divide="ignore", invalid="ignore"):
            inv = np.where(depth > 1e-9, 1.0 / depth, np.nan)
        u = (self.width / 2 - 0.5) + self.focal * eye[..., 0] * inv
        v = (self.height / 2 - 0.5) - self.focal * eye[..., 1] * inv
        return np.stack([u, v], axis=-1), depth

    def ray(self, pixels: np.ndarray) -> np.ndarray:
        """Pixels [..., 2] -> unit world directions [..., 3] of the rays through them."""
        pixels = np.asarray(pixels, np.float64)
        x = (pixels[..., 0] - (self.width / 2 - 0.5)) / self.focal
        y = -(pixels[..., 1] - (self.height / 2 - 0.5)) / self.focal
        eye = np.stack([x, y, -np.ones_like(x)], axis=-1)
        world = eye @ self.rotation()  # inverse rotation = transpose, applied to row vectors
        return world / np.linalg.norm(world, axis=-1, keepdims=True)

    def linear_depth(self, window_depth: np.ndarray) -> np.ndarray:
        """OpenGL window depth in [0, 1] -> metres along the optical axis; inf where nothing was drawn (1.0)."""
        d = np.asarray(window_depth)
        d = d if np.issubdtype(d.dtype, np.floating) else d.astype(np.float64)
        n, f = self.near, self.far
        t = d.dtype.type
        # 2fn / (f + n - (2d - 1)(f - n)) = fn / (n + (1 - d)(f - n)): 1 - d is exact in floating point near
        # d = 1 (far away), so float32 keeps full precision there (no cancellation)
        with np.errstate(divide="ignore"):
            out = t(f * n) / (t(n) + (t(1.0) - d) * t(f - n))
        out[d >= 1.0] = np.inf
        return out
