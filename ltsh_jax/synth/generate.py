"""One synthetic image with its labels, from a seed: people, layout, background, rendering, ground truth.

The stages (each timed into `Synthesizer.timings`, seconds summed over calls, for benchmarks/synthesis.py):
- posing: Poisson count, shapes, poses, appearances (on the rest meshes), the batched body model (JAX; padded
  to a multiple of POSE_BUCKET people so that only a few batch shapes are ever compiled);
- placing: camera (or the generator's stage, ltsh_jax.synth.stage), placement without penetration
  (ltsh_jax.synth.scene);
- rendering: background (on the stage: a square texture drawn on its billboard, or a procedural place drawn in the
  stage's camera, ltsh_jax.synth.places), lighting, the moderngl frame (ltsh_jax.synth.render);
- blurring (config motion_blur "vector" only): a box blur per person along an invented motion
  (ltsh_jax.synth.motion_blur), drawn after every other draw so that the sharp image and its labels are those of
  the same seed without blur;
- labelling: keypoints with visibility, head boxes, objpos, scale (ltsh_jax.synth.labels).
Everything random flows from the seed given to `Synthesizer.generate`, so an image is a pure function of
(seed, config, body model, backgrounds).
"""

from __future__ import annotations

import collections
import dataclasses
import time
from collections.abc import Callable

import numpy as np

from ltsh_jax.synth import motion_blur, scene
from ltsh_jax.synth import stage as stages
from ltsh_jax.synth.backgrounds import procedural_background
from ltsh_jax.synth.camera import Camera
from ltsh_jax.synth.labels import PeopleLabels, depth_tolerances, label_people, standing_height
from ltsh_jax.synth.places import procedural_places
from ltsh_jax.synth.render import Frame, Mesh, Renderer, sample_lighting
from ltsh_jax.synth.sh_lighting import sample_sh_lighting

POSE_BUCKET = 8
MAX_CAMERAS = 20
# The billboard texture's side over the image's. About 60% of the billboard is in view, so a texel covers about
# 1.6 pixels; 1.5 (a texel a pixel) costs 45 ms more per 640 px image for the procedural texture, and photos
# (SUN397 as TFDS stores it: 120,000 pixels) are coarser than that anyway.
BILLBOARD_TEXTURE = 1.0
Background = Callable[[np.random.Generator, int, int], np.ndarray]


@dataclasses.dataclass(frozen=True)
class SyntheticImage:
    """A generated image (uint8 [H, W, 3]), its buffers, the labels of its P people and the scene facts."""

    frame: Frame
    labels: PeopleLabels
    camera: Camera
    placement: scene.Placement
    num_requested: int
    vertices: list[np.ndarray]  # world vertices of each placed person (for tests)
    joints: np.ndarray  # [P, 16, 3] world joints
    stage: stages.Stage | None = None  # the generator's stage, when the config has one
    blur: np.ndarray | None = None  # [P, 2] each person's blur vector in pixels (config motion_blur "vector")


class BodyModelPeople:
    """Random people from the Anny body model: shapes, poses (ltsh_jax.synth.poses), appearances."""

    def __init__(self, model=None, clothing: str = "basic"):
        from ltsh_jax.synth import body_model

        if clothing not in ("basic", "rich"):
            raise ValueError(f"clothing must be 'basic' or 'rich', got {clothing!r}")
        self.clothing = clothing
        self.model = model if model is not None else body_model.load_body_model()
        self.faces = np.asarray(self.model.faces, np.int32)

    def __call__(self, rng: np.random.Generator, count: int) -> tuple[np.ndarray, np.ndarray, list[np.ndarray]]:
        """(vertices [N, V, 3], joints [N, 16, 3], colours per person [V, 3]) of `count` people, body frame."""
        from ltsh_jax.synth import appearance, body_model, poses

        model = self.model
        shapes = np.stack([body_model.sample_shape(rng) for _ in range(count)]).astype(np.float32)
        rotations = np.stack([poses.sample_pose(rng, model) for _ in range(count)]).astype(np.float32)
        padded = -(-count // POSE_BUCKET) * POSE_BUCKET  # few distinct batch shapes: few compilations
        shapes_p = np.concatenate([shapes, np.repeat(shapes[:1], padded - count, 0)])
        rotations_p = np.concatenate([rotations, np.repeat(rotations[:1], padded - count, 0)])
        rest = body_model.rest_bodies(model, shapes_p)  # the shape half once, for posing and appearance
        posed = body_model.pose_rest_bodies(model, rest, rotations_p)
        rest_vertices = np.asarray(rest.vertices + rest.offset[:, None, :])
        colors = [
            np.asarray(appearance.sample_appearance(rng, model, rest_vertices[i], self.clothing)) for i in range(count)
        ]
        return np.asarray(posed.vertices)[:count], np.asarray(posed.joints)[:count], colors


class Synthesizer:
    """Generates D_S-style images; owns the renderer (one GL context) and the people sampler.

    people: a callable (rng, count) -> (vertices [N, V, 3], joints [N, 16, 3] MPII-16, colours [V, 3] each)
    in the body frame, with a `faces` attribute [F, 3]; default BodyModelPeople(clothing=config.clothing) (Anny).
    background: (rng, width, height) -> uint8 image; one with an `on_stage(rng, stage)` method draws in the stage's
    camera instead of on its billboard. Default: a procedural place on a stage (ltsh_jax.synth.places), else the
    flat procedural background (the earlier configs' look, kept byte-identical).
    """

    def __init__(
        self,
        config: scene.SceneConfig | None = None,
        *,
        people=None,
        background: Background | None = None,
        renderer: Renderer | None = None,
    ):
        self.config = config if config is not None else scene.SceneConfig()
        config = self.config
        self.people = people if people is not None else BodyModelPeople(clothing=config.clothing)
        if background is None:
            background = procedural_places if config.stage is not None else procedural_background
        self.background = background
        self.renderer = renderer if renderer is not None else Renderer(config.width, config.height)
        self.timings: dict[str, float] = collections.defaultdict(float)

    def generate(self, seed: int | np.random.SeedSequence) -> SyntheticImage:
        """The image of `seed` (an int or a SeedSequence, e.g. spawned from a dataset seed and an index)."""
        rng = np.random.default_rng(seed)
        config = self.config
        clock = time.perf_counter()
        count = scene.sample_num_humans(rng, config.lam, config.max_humans, config.count_floor)
        vertices, joints, colors = self.people(rng, count)
        now = time.perf_counter()
        self.timings["posing"] += now - clock
        clock = now

        drawn_stage = None
        for _ in range(MAX_CAMERAS):  # a camera where nobody fits (rare) is drawn again
            if config.stage is not None:
                drawn_stage = stages.sample_stage(rng, config.stage, config.width, config.height)
                camera = drawn_stage.camera
            else:
                camera = scene.sample_camera(rng, config)
            placement = scene.place_humans(rng, camera, list(vertices), joints, config, drawn_stage)
            if placement.kept:
                break
        else:
            raise RuntimeError(f"no human could be placed in view for {MAX_CAMERAS} cameras; check the SceneConfig")
        stature = standing_height(joints[placement.kept]) if placement.kept else np.zeros(0)
        now = time.perf_counter()
        self.timings["placing"] += now - clock
        clock = now

        on_stage = getattr(self.background, "on_stage", None)
        if drawn_stage is not None and on_stage is not None:
            background = on_stage(rng, drawn_stage)
        elif drawn_stage is not None:
            side = round(BILLBOARD_TEXTURE * max(config.width, config.height))
            background = stages.billboard_image(self.background(rng, side, side), drawn_stage)
        else:
            background = self.background(rng, config.width, config.height)
        lighting = sample_sh_lighting(rng) if config.lighting == "sh" else sample_lighting(rng)
        faces = self.people.faces
        meshes = [Mesh(v, faces, colors[i]) for v, i in zip(placement.vertices, placement.kept, strict=True)]
        frame = self.renderer.render(meshes, camera, lighting=lighting, background=background)
        now = time.perf_counter()
        self.timings["rendering"] += now - clock
        clock = now

        blur = None
        if config.motion_blur == "vector":  # the last draws: the sharp frame and the labels are those without blur
            blur = motion_blur.sample_image_motions(
                rng, camera, placement.joints[:, scene.PELVIS], config.blur_strength
            )
            color = motion_blur.blur_people(frame.color, frame.instance, frame.depth, background, blur)
            frame = dataclasses.replace(frame, color=color)  # instance and depth: the sharp render's, for the labels
            now = time.perf_counter()
            self.timings["blurring"] += now - clock
            clock = now

        tolerances = depth_tolerances(placement.vertices, placement.joints)
        labels = label_people(camera, frame.instance, frame.depth, placement.joints, tolerances, stature)
        self.timings["labelling"] += time.perf_counter() - clock
        return SyntheticImage(
            frame=frame,
            labels=labels,
            camera=camera,
            placement=placement,
            num_requested=count,
            vertices=placement.vertices,
            joints=placement.joints,
            stage=drawn_stage,
            blur=blur,
        )
