"""The paper generator's stage for D_S: a camera aimed at a background billboard, people on the ground before it.

Read from DavHoffmann/Multi-humanDataGeneration `datageneration/generate_multiHumanPose.py` (Blender world: x
towards the camera, -y up, ground y = 0) and restated in ours (ltsh_jax.synth.camera: +y up, ground y = 0):
- lens 60 mm on a 32 mm sensor (`cam_lens`, `cam_sensor`): focal = 60 / 32 x the image's larger side in pixels
  (Blender's automatic sensor fit), a horizontal field of view of 2 atan(16 / 60) = 29.86 degrees at any size;
- the camera ~N(9, 0.1) m in front of the scene centre (`camT_mu`, `camT_stdev` in `init_scene`), raised
  U[0, 1] x that distance above a point 1 m over the ground (`cam_y_offset`), and pitched down to look at the
  billboard's centre, 3 m behind the scene centre and 1 m above the ground (`create_textured_plane`):
  pitch = atan(offset / (distance + 3)), at most atan(9 / 12) = 36.87 degrees for the mean distance;
- people (`random_placement_in_visibl_area`, `ray_back_projection_visibleArea.get_yrange`) at a depth drawn
  uniformly between the billboard and the camera's lower visibility line on the ground, then laterally within
  3/4 of the ground's visible half width at that depth, each at a random yaw U[0, 2 pi) (`random_zrot`).
Ours: scene centre at the origin, camera on +z at yaw 0, billboard in the plane z = -3 facing the camera.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from ltsh_jax.synth.camera import Camera


@dataclasses.dataclass(frozen=True)
class StageConfig:
    """The stage's constants (defaults: the generator's) and how the pitch is drawn.

    pitch_rule "height": the generator's, height offset U[0, 1] x camera distance; "uniform": pitch drawn
    from pitch_range (the paper's text, U[0, 45] degrees) and the height that aims at the billboard's centre.
    """

    lens_mm: float = 60.0
    sensor_mm: float = 32.0
    distance_mean: float = 9.0  # metres, camera to the scene centre along the ground
    distance_std: float = 0.1
    plane_behind: float = 3.0  # metres, the billboard behind the scene centre
    aim_height: float = 1.0  # metres above the ground of the billboard's centre, where the optical axis points
    lateral_fraction: float = 0.75  # of the ground's visible half width at a person's depth
    margin: float = 1.2  # the billboard's side over what it must cover (the generator's 1.2)
    pitch_rule: str = "height"
    pitch_range: tuple[float, float] = (0.0, 45.0)

    def __post_init__(self):
        if self.pitch_rule not in ("height", "uniform"):
            raise ValueError(f"StageConfig.pitch_rule must be 'height' or 'uniform', got {self.pitch_rule!r}")
        if not (self.lens_mm > 0 and self.sensor_mm > 0 and self.distance_mean > 0 and self.plane_behind > 0):
            raise ValueError(f"StageConfig: lens, sensor, distance and plane_behind must be > 0, got {self}")
        if not (0 < self.lateral_fraction <= 1 and self.margin >= 1 and self.distance_std >= 0):
            raise ValueError(f"StageConfig: need 0 < lateral_fraction <= 1, margin >= 1, distance_std >= 0: {self}")
        low, high = self.pitch_range
        if not 0 <= low <= high < 80:
            raise ValueError(f"StageConfig.pitch_range must lie in [0, 80) degrees, low <= high: {self.pitch_range}")


@dataclasses.dataclass(frozen=True)
class Stage:
    """One drawn stage: the camera, the billboard (a square of `side` metres centred at `centre`, facing +z)
    and the ground region people stand in (depth z in [plane_z, near_z], |x| <= lateral_fraction x half width)."""

    camera: Camera
    centre: tuple[float, float, float]
    side: float
    near_z: float
    lateral_fraction: float

    @property
    def plane_z(self) -> float:
        """z of the billboard plane."""
        return self.centre[2]

    def half_width(self, z: float | np.ndarray) -> np.ndarray:
        """The ground's visible half width (metres) at depth z: where the image row showing (0, 0, z) ends."""
        cam = self.camera
        z = np.asarray(z, np.float64)
        ground = np.stack([np.zeros_like(z), np.zeros_like(z), z], axis=-1)
        pixel, _ = cam.project(ground)
        edge = np.stack([np.full_like(z, cam.width - 0.5), pixel[..., 1]], axis=-1)  # the row's right edge
        return np.abs(ground_point(cam, edge)[..., 0])


def focal_pixels(config: StageConfig, width: int, height: int) -> float:
    """Focal length in pixels: lens / sensor x the larger image side (Blender's automatic sensor fit)."""
    return config.lens_mm / config.sensor_mm * max(width, height)


def ground_point(camera: Camera, pixels: np.ndarray) -> np.ndarray:
    """World points [..., 3] where the rays through pixels [..., 2] meet the ground y = 0 (NaN above the horizon)."""
    ray = camera.ray(pixels)
    with np.errstate(divide="ignore", invalid="ignore"):
        t = np.where(ray[..., 1] < -1e-9, -camera.position[1] / ray[..., 1], np.nan)
    return np.asarray(camera.position) + t[..., None] * ray


def sample_stage(rng: np.random.Generator, config: StageConfig, width: int, height: int) -> Stage:
    """Draws the camera distance and its height (or pitch) and derives the camera, billboard and ground region."""
    distance = float(rng.normal(config.distance_mean, config.distance_std))
    reach = distance + config.plane_behind  # camera to billboard along the ground
    if config.pitch_rule == "height":
        offset = float(rng.uniform()) * distance
        pitch = float(np.degrees(np.arctan2(offset, reach)))
    else:
        pitch = float(rng.uniform(*config.pitch_range))
        offset = reach * float(np.tan(np.radians(pitch)))
    camera = Camera(focal=focal_pixels(config, width, height), width=width, height=height,
                    position=(0.0, config.aim_height + offset, distance), pitch=pitch)  # fmt: skip
    plane_z = -config.plane_behind
    bottom = ground_point(camera, np.array([width / 2 - 0.5, height - 0.5]))
    if not bottom[2] > plane_z:
        raise ValueError(f"stage: the image's bottom edge meets the ground behind the billboard (pitch {pitch:.1f})")
    centre = (0.0, config.aim_height, plane_z)
    corners = np.array([[-0.5, -0.5], [width - 0.5, -0.5], [-0.5, height - 0.5], [width - 0.5, height - 0.5]])
    on_plane = plane_points(camera, corners, plane_z)
    reach_xy = np.abs(on_plane[:, :2] - np.asarray(centre[:2])).max()
    return Stage(camera=camera, centre=centre, side=float(2 * config.margin * reach_xy), near_z=float(bottom[2]),
                 lateral_fraction=config.lateral_fraction)  # fmt: skip


def plane_points(camera: Camera, pixels: np.ndarray, plane_z: float) -> np.ndarray:
    """World points [..., 3] where the rays through pixels [..., 2] meet the plane z = plane_z (in front)."""
    ray = camera.ray(pixels)
    t = (plane_z - camera.position[2]) / ray[..., 2]
    if np.any(~(t > 0)):
        raise ValueError("stage: a ray of the image does not meet the billboard in front of the camera")
    return np.asarray(camera.position) + t[..., None] * ray


def sample_ground(rng: np.random.Generator, stage: Stage) -> np.ndarray:
    """A ground point (x, 0, z) of the stage's region: depth uniform, then lateral uniform (the generator's order)."""
    z = float(rng.uniform(stage.plane_z, stage.near_z))
    half = stage.lateral_fraction * float(stage.half_width(z))
    return np.array([float(rng.uniform(-half, half)), 0.0, z])


def billboard_image(texture: np.ndarray, stage: Stage) -> np.ndarray:
    """uint8 [H, W, 3]: the square texture (uint8 [T, T, 3]) on the billboard as the camera sees it (bilinear).

    The generator's billboard is an emissive plane, so the texture is not shaded. Pixel -> billboard is a
    homography: the ray through the pixel meets the plane z = plane_z at (X, Y); the texture spans the square
    of `side` metres around `centre`, its first row at the top. PIL samples at pixel centres (x + 0.5, y + 0.5),
    ours sit at integers: hence the half-pixel shift S.
    """
    from PIL import Image

    cam = stage.camera
    texture = np.asarray(texture, np.uint8)
    tex_h, tex_w = texture.shape[:2]
    cx, cy = cam.width / 2 - 0.5, cam.height / 2 - 0.5
    eye_from_pixel = np.array([[1 / cam.focal, 0, -cx / cam.focal], [0, -1 / cam.focal, cy / cam.focal], [0, 0, -1]])
    ray = cam.rotation().T @ eye_from_pixel  # (u, v, 1) -> world direction d
    px, py, pz = cam.position
    depth = stage.plane_z - pz
    plane = np.stack([depth * ray[0] + px * ray[2], depth * ray[1] + py * ray[2], ray[2]])  # (X d_z, Y d_z, d_z)
    bx, by, _ = stage.centre
    to_texel = np.array([[tex_w / stage.side, 0, tex_w * (0.5 - bx / stage.side)],
                         [0, -tex_h / stage.side, tex_h * (0.5 + by / stage.side)], [0, 0, 1]])  # fmt: skip
    shift = np.array([[1, 0, -0.5], [0, 1, -0.5], [0, 0, 1]])
    homography = to_texel @ plane @ shift
    coeffs = (homography / homography[2, 2]).ravel()[:8]
    warped = Image.fromarray(texture).transform((cam.width, cam.height), Image.Transform.PERSPECTIVE,
                                                tuple(float(c) for c in coeffs), Image.Resampling.BILINEAR)  # fmt: skip
    return np.asarray(warped, np.uint8)
