"""Scene layout for D_S: how many humans, the camera, and where each posed human stands.

The paper (section 3.2): humans per image ~ Poisson(lambda = 9), at least one; camera pitch ~
U[0, 45] degrees; 640x640 images; images with inter-penetrating humans rejected. Here a human whose
placement would penetrate an already placed one is placed again elsewhere (up to `placement_tries`
times, then dropped), so the count stays Poisson; every rejected placement is counted and reported.
Penetration is tested on tight capsules fitted to each posed mesh (`body_capsules`): one capsule per
bone of the MPII-16 skeleton, its radius a high percentile of the distances of the vertices nearest
to that bone. Ground: y = 0; a human stands on it (its lowest vertex), at a random heading, its
feet projecting to a random pixel, between `distance_range` metres from the camera, its pelvis in view.
With a `stage` (SceneConfig.stage, ltsh_jax.synth.stage: the paper generator's camera and billboard) the
camera comes from the stage instead, and a human's ground point is drawn in the stage's region between the
billboard and the image's bottom edge; a human reaching behind the billboard is placed again, as the generator
moves people that collide with its plane. `count_floor` gives the generator's rule for the number of humans.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from ltsh_jax.synth import motion_blur as motion_blur_lib
from ltsh_jax.synth import stage as stages
from ltsh_jax.synth.camera import Camera

PELVIS = 6  # MPII-16 id
# Capsules between MPII-16 joints: legs, hips, torso, neck, head, shoulders, arms.
CAPSULE_BONES = (
    (1, 0), (2, 1), (4, 5), (3, 4), (2, 3), (6, 7), (2, 7), (3, 7),
    (7, 8), (8, 9), (12, 13), (12, 11), (11, 10), (13, 14), (14, 15),
)  # fmt: skip
# Bones whose far end is a wrist or an ankle: the hand or foot beyond gets a capsule of its own.
EXTREMITY_BONES = tuple(i for i, (_, b) in enumerate(CAPSULE_BONES) if b in (0, 5, 10, 15))
RADIUS_PERCENTILE = 90.0
CAPSULE_STRIDE = 8  # capsules are fitted to every 8th vertex (a dense mesh: the percentiles barely move)


@dataclasses.dataclass(frozen=True)
class SceneConfig:
    """Generative factors of a synthetic image (defaults: D_S, section 3.2 of the paper)."""

    width: int = 640
    height: int = 640
    lam: float = 9.0  # Poisson mean of the number of humans
    max_humans: int = 30
    pitch_range: tuple[float, float] = (0.0, 45.0)  # degrees, uniform
    camera_height_range: tuple[float, float] = (1.2, 4.0)  # metres, uniform
    fov_range: tuple[float, float] = (45.0, 75.0)  # horizontal field of view, degrees, uniform
    distance_range: tuple[float, float] = (2.0, 16.0)  # metres, camera to a human's feet along the ground
    placement_tries: int = 30
    stage: stages.StageConfig | None = None  # the generator's stage instead of the ranges above (pitch, height, fov)
    count_floor: int | None = None  # None: Poisson redrawn until >= 1; k: draws below k become k (the generator's 2)
    lighting: str = "directional"  # or "sh": the generator's spherical-harmonics lighting (ltsh_jax.synth.sh_lighting)
    clothing: str = "basic"  # or "rich": ltsh_jax.synth.appearance.sample_outfit (materials, sleeve lengths, shoes)
    motion_blur: str = "none"  # or "vector": a box blur per person along an invented motion (synth.motion_blur)
    blur_strength: tuple[float, float] = motion_blur_lib.GENERATOR_STRENGTH  # mean, std of the factor, both >= 0

    def __post_init__(self):
        if not self.lam > 0:
            raise ValueError(f"SceneConfig.lam: the Poisson mean of humans per image must be > 0, got {self.lam}")
        if self.lighting not in ("directional", "sh"):
            raise ValueError(f"SceneConfig.lighting must be 'directional' or 'sh', got {self.lighting!r}")
        if self.clothing not in ("basic", "rich"):
            raise ValueError(f"SceneConfig.clothing must be 'basic' or 'rich', got {self.clothing!r}")
        motion_blur_lib.check_settings("SceneConfig", self.motion_blur, self.blur_strength)
        if self.count_floor is not None and not 1 <= self.count_floor <= self.max_humans:
            raise ValueError(f"SceneConfig.count_floor must lie in [1, max_humans], got {self.count_floor}")
        if self.max_humans < 1 or self.placement_tries < 1:
            raise ValueError("SceneConfig.max_humans and placement_tries must be >= 1")
        for name in ("pitch_range", "camera_height_range", "fov_range", "distance_range"):
            low, high = getattr(self, name)
            if not low <= high:
                raise ValueError(f"SceneConfig.{name}: low > high ({low}, {high})")


def sample_num_humans(
    rng: np.random.Generator, lam: float, max_humans: int | None = None, floor: int | None = None
) -> int:
    """A draw of Poisson(lam), clipped to max_humans: redrawn while 0 (floor None), or raised to `floor`.

    The floor is the generator's rule (generate_multiHumanPose.py: `if nrOfPeople <= 1: nrOfPeople = 2`).
    """
    if not lam > 0:
        raise ValueError(f"lambda (mean humans per image) must be > 0, got {lam}")
    if floor is not None:
        count = max(int(rng.poisson(lam)), floor)
    else:
        count = 0
        while count == 0:
            count = int(rng.poisson(lam))
    return count if max_humans is None else min(count, max_humans)


def sample_camera(rng: np.random.Generator, config: SceneConfig) -> Camera:
    """Camera at (0, height, 0), yaw 0, pitch / height / field of view drawn uniformly from the config's ranges."""
    pitch = rng.uniform(*config.pitch_range)
    height = rng.uniform(*config.camera_height_range)
    fov = np.radians(rng.uniform(*config.fov_range))
    focal = config.width / 2 / np.tan(fov / 2)
    return Camera(focal=float(focal), width=config.width, height=config.height, position=(0.0, float(height), 0.0),
                  pitch=float(pitch))  # fmt: skip


def body_capsules(vertices: np.ndarray, joints: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Tight capsules of a posed body: (starts [S, 3], ends [S, 3], radii [S]), CAPSULE_BONES then extremities.

    Each vertex goes to its nearest bone segment; a bone's radius is the RADIUS_PERCENTILE-th percentile
    of the distances of its vertices that project inside the segment. The vertices beyond a wrist or an
    ankle (hands, feet) get a capsule of their own, from the joint towards their centroid.
    """
    vertices = np.asarray(vertices, np.float32)
    joints = np.asarray(joints, np.float32)
    starts = joints[[a for a, _ in CAPSULE_BONES]]
    ends = joints[[b for _, b in CAPSULE_BONES]]
    seg = ends - starts  # [S, 3]
    rel = vertices[:, None, :] - starts[None]  # [V, S, 3]
    t_raw = (rel * seg[None]).sum(-1) / np.maximum((seg**2).sum(-1), 1e-12)  # [V, S]
    dist = np.linalg.norm(rel - np.clip(t_raw, 0.0, 1.0)[..., None] * seg[None], axis=-1)
    nearest = dist.argmin(axis=1)
    rows = np.arange(len(vertices))
    t_near, d_near = t_raw[rows, nearest], dist[rows, nearest]
    radii = _grouped_percentile(d_near, nearest, (t_near > 0) & (t_near < 1), len(CAPSULE_BONES), default=0.02)
    extra = [_extremity(vertices[(nearest == s) & (t_near >= 1)], ends[s]) for s in EXTREMITY_BONES]
    extra = [e for e in extra if e is not None]
    if extra:
        starts = np.concatenate([starts, [e[0] for e in extra]])
        ends = np.concatenate([ends, [e[1] for e in extra]])
        radii = np.concatenate([radii, [e[2] for e in extra]])
    return starts, ends, radii


def _grouped_percentile(values: np.ndarray, groups: np.ndarray, keep: np.ndarray, count: int, default: float):
    """Per group 0..count-1, the RADIUS_PERCENTILE-th percentile (lower) of the kept values; `default` if none."""
    values, groups = values[keep], groups[keep]
    order = np.lexsort((values, groups))
    sizes = np.bincount(groups, minlength=count)
    firsts = np.concatenate([[0], np.cumsum(sizes)[:-1]])
    picks = firsts + np.floor((sizes - 1).clip(0) * RADIUS_PERCENTILE / 100).astype(np.int64)
    sorted_values = values[order]
    return np.where(sizes > 0, sorted_values[np.minimum(picks, max(len(values) - 1, 0))] if len(values) else 0,
                    default)  # fmt: skip


def _extremity(points: np.ndarray, joint: np.ndarray) -> tuple[np.ndarray, np.ndarray, float] | None:
    """A capsule from `joint` over the points beyond it (a hand or a foot), or None if there are too few."""
    if len(points) < 8:
        return None
    axis = points.mean(axis=0) - joint
    length = np.linalg.norm(axis)
    if length < 1e-6:
        return None
    axis /= length
    extent = float(((points - joint) @ axis).max())
    along = np.clip((points - joint) @ axis, 0.0, extent)  # closest points on the segment joint..end
    distances = np.linalg.norm(points - joint - along[:, None] * axis, axis=1)
    radius = float(
        np.partition(distances, int((len(distances) - 1) * RADIUS_PERCENTILE / 100))[
            int((len(distances) - 1) * RADIUS_PERCENTILE / 100)
        ]
    )
    end = joint + axis * extent
    return joint, end, radius


def segment_distances(p1: np.ndarray, q1: np.ndarray, p2: np.ndarray, q2: np.ndarray) -> np.ndarray:
    """Distances between segments p1-q1 [..., 3] and p2-q2 [..., 3] (broadcast), Ericson's closest points."""
    d1, d2, r = q1 - p1, q2 - p2, p1 - p2
    a = (d1 * d1).sum(-1)
    e = (d2 * d2).sum(-1)
    f = (d2 * r).sum(-1)
    c = (d1 * r).sum(-1)
    b = (d1 * d2).sum(-1)
    eps = 1e-12
    a_ok, e_ok = a > eps, e > eps
    safe_a, safe_e = np.where(a_ok, a, 1.0), np.where(e_ok, e, 1.0)
    denom = a * e - b * b
    s = np.where(denom > eps, np.clip((b * f - c * e) / np.where(denom > eps, denom, 1.0), 0, 1), 0.0)
    t = (b * s + f) / safe_e
    t_clamped = np.clip(t, 0, 1)
    s = np.where(t != t_clamped, np.clip((t_clamped * b - c) / safe_a, 0, 1), s)  # t clamped: s again
    # degenerate segments (points): the other segment's closest point to it
    s = np.where(~e_ok, np.clip(-c / safe_a, 0, 1), s)
    t_clamped = np.where(~e_ok, 0.0, np.where(~a_ok, np.clip(f / safe_e, 0, 1), t_clamped))
    s = np.where(~a_ok, 0.0, s)
    closest1 = p1 + s[..., None] * d1
    closest2 = p2 + t_clamped[..., None] * d2
    return np.linalg.norm(closest1 - closest2, axis=-1)


def capsules_overlap(a: tuple[np.ndarray, ...], b: tuple[np.ndarray, ...]) -> bool:
    """True when any capsule of body a intersects any capsule of body b."""
    (sa, ea, ra), (sb, eb, rb) = a, b
    dist = segment_distances(sa[:, None], ea[:, None], sb[None], eb[None])
    return bool((dist < ra[:, None] + rb[None]).any())


def _rotation_y(angle: float) -> np.ndarray:
    c, s = np.cos(angle), np.sin(angle)
    return np.array([[c, 0, s], [0, 1, 0], [-s, 0, c]])


@dataclasses.dataclass
class Placement:
    """Humans placed in a scene: world vertices and joints of the kept ones, their source indices, counts."""

    vertices: list[np.ndarray]
    joints: np.ndarray  # [P, 16, 3]
    kept: list[int]  # index of each placed human in the input lists
    attempts: int = 0
    rejected_overlap: int = 0
    rejected_view: int = 0
    dropped: int = 0
    capsules: tuple[np.ndarray, ...] | None = dataclasses.field(default=None, repr=False)  # of every kept body

    @classmethod
    def empty(cls, joints_shape: tuple[int, ...]) -> Placement:
        """No human placed yet; joints_shape: the per-human joints shape, e.g. (16, 3)."""
        return cls(vertices=[], joints=np.zeros((0, *joints_shape)), kept=[])

    @property
    def rejection_rate(self) -> float:
        """Fraction of placement attempts rejected because the human would penetrate another."""
        return self.rejected_overlap / max(self.attempts, 1)

    def try_keep(self, index: int, local_vertices: np.ndarray, local_joints: np.ndarray,
                 local_capsules: tuple[np.ndarray, ...], rotation: np.ndarray, offset: np.ndarray) -> bool:  # fmt: skip
        """Keeps human `index` moved by x -> x @ rotation.T + offset unless it penetrates a kept one (counted)."""
        starts, ends, radii = local_capsules
        capsules = (starts @ rotation.T + offset, ends @ rotation.T + offset, radii)
        if self.capsules is not None and capsules_overlap(capsules, self.capsules):  # against every kept body at once
            self.rejected_overlap += 1
            return False
        self.capsules = capsules if self.capsules is None else tuple(
            np.concatenate(pair) for pair in zip(self.capsules, capsules, strict=True))  # fmt: skip
        self.vertices.append(local_vertices @ rotation.T + offset)
        self.joints = np.concatenate([self.joints, (local_joints @ rotation.T + offset)[None]])
        self.kept.append(index)
        return True


def place_humans(
    rng: np.random.Generator,
    camera: Camera,
    vertices: list[np.ndarray],
    joints: np.ndarray,
    config: SceneConfig,
    stage: stages.Stage | None = None,
) -> Placement:
    """Places posed humans (body frame: +y up, pelvis over x = z = 0) on the ground in view, without penetration.

    With a stage, ground points come from its region (stages.sample_ground) and bodies stay before its billboard.
    """
    placed = Placement.empty(np.shape(joints)[1:])
    cam = np.asarray(camera.position, np.float64)
    for index, (body, body_joints) in enumerate(zip(vertices, np.asarray(joints, np.float64), strict=True)):
        body = np.asarray(body, np.float64)
        centre = np.array([body_joints[PELVIS, 0], body[:, 1].min(), body_joints[PELVIS, 2]])
        local_v, local_j = body - centre, body_joints - centre  # stands on y = 0, pelvis over the origin
        local_caps = body_capsules(local_v[::CAPSULE_STRIDE], local_j)
        for _ in range(config.placement_tries):
            placed.attempts += 1
            if stage is not None:
                ground = stages.sample_ground(rng, stage)
                rot = _rotation_y(rng.uniform(0, 2 * np.pi))
                starts, ends, radii = local_caps
                backmost = np.minimum((starts @ rot.T)[:, 2], (ends @ rot.T)[:, 2]) - radii
                if ground[2] + backmost.min() < stage.plane_z:
                    placed.rejected_view += 1  # reaches behind the billboard
                    continue
            else:
                pixel = rng.uniform((0, 0), (config.width, config.height)) - 0.5
                ray = camera.ray(pixel)
                yaw = rng.uniform(0, 2 * np.pi)
                if ray[1] > -1e-6:  # above the horizon: no ground there
                    placed.rejected_view += 1
                    continue
                ground = cam + ray * (-cam[1] / ray[1])
                if not config.distance_range[0] <= np.hypot(ground[0], ground[2]) <= config.distance_range[1]:
                    placed.rejected_view += 1
                    continue
                rot = _rotation_y(yaw)
            pelvis_px, pelvis_depth = camera.project(local_j[PELVIS] @ rot.T + ground)
            if not (pelvis_depth > camera.near and 0 <= pelvis_px[0] <= camera.width - 1
                    and 0 <= pelvis_px[1] <= camera.height - 1):  # fmt: skip
                placed.rejected_view += 1
                continue
            if placed.try_keep(index, local_v, local_j, local_caps, rot, ground):
                break
        else:
            placed.dropped += 1
    return placed
