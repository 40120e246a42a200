"""D_M compositing: Poisson(4) synthetic humans rendered over an MPII photograph (paper section 3.3).

The photo keeps its own resolution and a fixed camera (pitch 0, horizontal field of view `fov`,
principal point at the centre). Each synthetic human copies the scale of one annotated real person of
the photo (drawn at random, size jittered) and stands near it: its pelvis projects to a pixel beside
that person's centre (objpos), within `spread` of its height sideways; its depth is what makes its
projected standing height equal to the target, so the label `scale` of the synthetic human is that
target. A human whose capsules would penetrate an already placed one is placed again (up to
`placement_tries`, then dropped and counted). The photo is the background of the render, so every
synthetic human is in front of the real people; a real joint is covered when the pixel it rounds
to shows a synthetic human (`covered_joints`; recomputable from the stored instance mask).
The synthetic humans wear D_S reference's clothing (the same people sampler, clothing "rich") and are lit as D_S's
`reference` (lighting "sh": the generator's spherical-harmonics draw, ltsh_jax.synth.sh_lighting, as
`generate_mpii_mixed.py` lights its people) or by one directional light ("directional", the earlier look), and
blurred as D_S `reference` (motion_blur "vector": a box blur per person along an invented motion,
ltsh_jax.synth.motion_blur; the photo itself is never blurred; "none": sharp). The blur is drawn after every other
draw, so the placement and the labels are those of the same seed without blur; the photo's pixels change only
within a blur length of a synthetic human.
"""

from __future__ import annotations

import collections
import dataclasses
import time

import numpy as np

from ltsh_jax.synth import motion_blur as motion_blur_lib
from ltsh_jax.synth import scene
from ltsh_jax.synth.camera import Camera
from ltsh_jax.synth.labels import PeopleLabels, depth_tolerances, label_people, standing_height
from ltsh_jax.synth.render import Frame, Lighting, Mesh, Renderer, create_context, sample_lighting
from ltsh_jax.synth.sh_lighting import SHLighting, sample_sh_lighting

PELVIS = 6  # MPII-16
MPII_SCALE_PX = 200.0
MAX_DRAWS = 10
# Penetration capsules are fitted to every 8th vertex: the radius percentiles barely move, the fit is 8x cheaper.
CAPSULE_VERTEX_STRIDE = 8


@dataclasses.dataclass(frozen=True)
class MixConfig:
    """Generative factors of D_M (defaults: the paper's Poisson(4) humans; the rest chosen here)."""

    lam: float = 4.0
    max_humans: int = 12
    fov: float = 60.0  # horizontal field of view of the fixed camera, degrees
    scale_jitter: tuple[float, float] = (0.85, 1.15)  # target height = real person's height x U[...]
    spread: float = 1.0  # sideways offset from the real person's centre, in target heights, U[-spread, spread]
    vertical_jitter: float = 0.1  # vertical offset, in target heights, N(0, .)
    placement_tries: int = 20
    lighting: str = "sh"  # the generator's spherical harmonics (as D_S reference), or "directional"
    clothing: str = "rich"  # as D_S reference (ltsh_jax.synth.appearance.sample_outfit), or "basic"
    motion_blur: str = "vector"  # as D_S reference (ltsh_jax.synth.motion_blur), or "none"
    blur_strength: tuple[float, float] = motion_blur_lib.GENERATOR_STRENGTH  # mean, std of the factor, both >= 0

    def __post_init__(self):
        if self.lighting not in ("sh", "directional"):
            raise ValueError(f"MixConfig.lighting must be 'sh' or 'directional', got {self.lighting!r}")
        if self.clothing not in ("rich", "basic"):
            raise ValueError(f"MixConfig.clothing must be 'rich' or 'basic', got {self.clothing!r}")
        motion_blur_lib.check_settings("MixConfig", self.motion_blur, self.blur_strength)
        if not self.lam > 0 or self.max_humans < 1 or self.placement_tries < 1:
            raise ValueError(f"MixConfig needs lam > 0, max_humans >= 1, placement_tries >= 1; got {self}")
        if not 0 < self.fov < 180 or not 0 < self.scale_jitter[0] <= self.scale_jitter[1]:
            raise ValueError(f"MixConfig.fov must lie in (0, 180) and scale_jitter be 0 < low <= high; got {self}")


@dataclasses.dataclass(frozen=True)
class MixedImage:
    """A D_M image (uint8 [H, W, 3]), its render buffers, the synthetic people's labels and the covered real joints."""

    frame: Frame  # frame.color is the composite; frame.instance: 0 = photo, k + 1 = synthetic person k
    labels: PeopleLabels  # of the synthetic people, in instance order
    covered: np.ndarray  # bool [P_real, 16]: the real joint's pixel shows a synthetic human
    camera: Camera
    placement: scene.Placement
    num_requested: int
    lighting: Lighting | SHLighting | None = None  # how the synthetic humans were shaded
    blur: np.ndarray | None = None  # [P, 2] each synthetic person's blur vector in pixels (motion_blur "vector")


def fixed_camera(width: int, height: int, fov: float) -> Camera:
    """The D_M camera: at the origin (1.6 m high, irrelevant without a ground), pitch 0, horizontal `fov` degrees."""
    focal = width / 2 / np.tan(np.radians(fov) / 2)
    return Camera(focal=float(focal), width=int(width), height=int(height), position=(0.0, 1.6, 0.0), pitch=0.0)


def covered_joints(instance: np.ndarray, keypoints: np.ndarray) -> np.ndarray:
    """bool [P, 16]: labelled joints (keypoints [P, 16, 3]) inside the image whose rounded pixel has instance > 0."""
    keypoints = np.asarray(keypoints, np.float64)
    height, width = instance.shape
    cols, rows = np.rint(keypoints[..., 0]).astype(np.int64), np.rint(keypoints[..., 1]).astype(np.int64)
    inside = (keypoints[..., 2] > 0) & (cols >= 0) & (cols < width) & (rows >= 0) & (rows < height)
    return inside & (instance[np.clip(rows, 0, height - 1), np.clip(cols, 0, width - 1)] > 0)


def _rotation_y(angle: float) -> np.ndarray:
    c, s = np.cos(angle), np.sin(angle)
    return np.array([[c, 0, s], [0, 1, 0], [-s, 0, c]])


def _pixel_to_world(camera: Camera, pixel: np.ndarray, depth: float) -> np.ndarray:
    """The world point that projects to `pixel` at `depth` metres along the optical axis."""
    x = (pixel[0] - (camera.width / 2 - 0.5)) / camera.focal * depth
    y = -(pixel[1] - (camera.height / 2 - 0.5)) / camera.focal * depth
    return np.array([x, y, -depth]) @ camera.rotation() + np.asarray(camera.position, np.float64)


def place_near_real_people(
    rng: np.random.Generator,
    camera: Camera,
    vertices: list[np.ndarray],
    joints: np.ndarray,
    real_objpos: np.ndarray,
    real_scale: np.ndarray,
    config: MixConfig,
) -> scene.Placement:
    """Places posed humans (body frame, metres) beside the photo's real people, at their scale, without penetration."""
    placed = scene.Placement.empty(np.shape(joints)[1:])
    stature = standing_height(joints)
    for index, (body, body_joints) in enumerate(zip(vertices, np.asarray(joints, np.float64), strict=True)):
        body = np.asarray(body, np.float64)
        local_v, local_j = body - body_joints[PELVIS], body_joints - body_joints[PELVIS]
        local_caps = scene.body_capsules(local_v[::CAPSULE_VERTEX_STRIDE], local_j)
        for _ in range(config.placement_tries):
            placed.attempts += 1
            ref = int(rng.integers(len(real_scale)))
            target = real_scale[ref] * MPII_SCALE_PX * rng.uniform(*config.scale_jitter)
            offset = np.array([rng.uniform(-config.spread, config.spread), rng.normal(0, config.vertical_jitter)])
            pixel = real_objpos[ref] + offset * target
            if not (0 <= pixel[0] <= camera.width - 1 and 0 <= pixel[1] <= camera.height - 1):
                placed.rejected_view += 1
                continue
            depth = camera.focal * stature[index] / target
            pelvis = _pixel_to_world(camera, pixel, depth)
            rot = _rotation_y(rng.uniform(0, 2 * np.pi))
            if placed.try_keep(index, local_v, local_j, local_caps, rot, pelvis):
                break
        else:
            placed.dropped += 1
    return placed


class Mixer:
    """Renders D_M images; owns one GL context (a renderer per image size) and the people sampler.

    people: callable (rng, count) -> (vertices [N, V, 3], joints [N, 16, 3], colours per person [V, 3]) in the
    body frame, with `faces` [F, 3] (ltsh_jax.synth.generate.BodyModelPeople, the default, or a test double).
    """

    def __init__(self, config: MixConfig | None = None, *, people=None, context=None):
        self.config = config if config is not None else MixConfig()
        if people is None:
            from ltsh_jax.synth.generate import BodyModelPeople  # noqa: PLC0415  (needs the body model)

            people = BodyModelPeople(clothing=self.config.clothing)
        self.people = people
        self._context = context
        self._renderers: dict[tuple[int, int], Renderer] = {}
        self.timings: dict[str, float] = collections.defaultdict(float)  # "blurring": seconds summed over calls

    def renderer(self, width: int, height: int) -> Renderer:
        """The renderer of this image size (created once, sharing the context)."""
        if self._context is None:
            self._context = create_context()
        key = (int(width), int(height))
        if key not in self._renderers:
            self._renderers[key] = Renderer(*key, context=self._context)
        return self._renderers[key]

    def mix(
        self,
        photo: np.ndarray,
        keypoints: np.ndarray,
        objpos: np.ndarray,
        scale: np.ndarray,
        seed: int | np.random.SeedSequence,
    ) -> MixedImage:
        """The D_M image of `seed` over `photo` (uint8 [H, W, 3]); real people: keypoints [P, 16, 3], objpos, scale."""
        photo = np.asarray(photo)
        if photo.ndim != 3 or photo.shape[-1] != 3 or photo.dtype != np.uint8:
            raise ValueError(f"the photo must be uint8 [H, W, 3], got {photo.dtype} {photo.shape}")
        keypoints = np.asarray(keypoints, np.float64)
        scale = np.asarray(scale, np.float64).reshape(-1)
        objpos = np.asarray(objpos, np.float64).reshape(-1, 2)
        if keypoints.ndim != 3 or keypoints.shape[0] < 1 or not len(scale) == len(objpos) == keypoints.shape[0]:
            raise ValueError("mix needs P >= 1 real people with keypoints [P, 16, 3], objpos [P, 2], scale [P]")
        if not (np.isfinite(scale).all() and (scale > 0).all() and np.isfinite(objpos).all()):
            raise ValueError(f"real people need finite positive scales and finite objpos, got {scale}, {objpos}")
        rng = np.random.default_rng(seed)
        height, width = photo.shape[:2]
        camera = fixed_camera(width, height, self.config.fov)
        for _ in range(MAX_DRAWS):  # all humans dropped (rare: crowded or tiny photos): draw the humans again
            count = scene.sample_num_humans(rng, self.config.lam, self.config.max_humans)
            vertices, joints, colors = self.people(rng, count)
            placement = place_near_real_people(
                rng, camera, list(vertices), np.asarray(joints), objpos, scale, self.config
            )
            if placement.kept:
                break
        else:
            raise RuntimeError(f"no synthetic human could be placed in {MAX_DRAWS} draws; check the MixConfig")
        faces = self.people.faces
        meshes = [Mesh(v, faces, colors[i]) for v, i in zip(placement.vertices, placement.kept, strict=True)]
        lighting = sample_sh_lighting(rng) if self.config.lighting == "sh" else sample_lighting(rng)
        frame = self.renderer(width, height).render(meshes, camera, lighting=lighting, background=photo)
        blur = None
        if self.config.motion_blur == "vector":  # the last draws; the photo is the sharp background
            clock = time.perf_counter()
            pelvis = placement.joints[:, PELVIS]
            blur = motion_blur_lib.sample_image_motions(rng, camera, pelvis, self.config.blur_strength)
            color = motion_blur_lib.blur_people(frame.color, frame.instance, frame.depth, photo, blur)
            frame = dataclasses.replace(frame, color=color)  # instance and depth: the sharp render's, for the labels
            self.timings["blurring"] += time.perf_counter() - clock
        stature = standing_height(np.asarray(joints)[placement.kept]) if placement.kept else np.zeros(0)
        tolerances = depth_tolerances(placement.vertices, placement.joints)
        labels = label_people(camera, frame.instance, frame.depth, placement.joints, tolerances, stature)
        return MixedImage(
            frame=frame,
            labels=labels,
            covered=covered_joints(frame.instance, keypoints),
            camera=camera,
            placement=placement,
            num_requested=count,
            lighting=lighting,
            blur=blur,
        )

    def release(self) -> None:
        """Frees the renderers and the context."""
        for renderer in self._renderers.values():
            parts = (
                renderer.fbo,
                renderer._color,
                renderer._ids,
                renderer._depth,
                renderer.program,
                renderer.sh_program,
            )
            for obj in parts:
                obj.release()
        self._renderers.clear()
        if self._context is not None:
            self._context.release()
            self._context = None
