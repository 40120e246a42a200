"""Offscreen rasterisation of coloured meshes with moderngl over EGL: colour, instance ids and depth.

One `Renderer` owns one OpenGL context (Mesa llvmpipe on CPU machines, the vendor EGL on GPU ones)
and one framebuffer, reused for every frame: creating a context costs far more than a frame.
A frame draws several meshes (people) at once; each gets an instance id k + 1 in the integer
attachment (0 = background), so occlusion between people is resolved by the depth test, exactly
as in the colour image. Shading: Lambert with one randomised directional light, an ambient term
and a light tint (`Lighting`), or order-2 spherical-harmonics environment lighting as the paper's
generator (`SHLighting`, ltsh_jax.synth.sh_lighting); normals come from screen-space derivatives (flat
per triangle), so no per-vertex normal has to be computed on the host. The background is composited where the
instance id is 0. Pixel grid and projection: ltsh_jax.synth.camera.
"""

from __future__ import annotations

import dataclasses
import shutil
import subprocess
from collections.abc import Sequence

import numpy as np

from ltsh_jax.synth.camera import Camera
from ltsh_jax.synth.sh_lighting import SH_FRAGMENT_SHADER, SHLighting

EGL_PACKAGES = ("libegl1", "libegl-mesa0", "libgl1-mesa-dri", "libgbm1")

_VERTEX_SHADER = """
#version 330
uniform mat4 mvp;
in vec3 in_pos;
in vec3 in_color;
in int in_id;
out vec3 v_pos;
out vec3 v_color;
flat out int v_id;
void main() {
    v_pos = in_pos;
    v_color = in_color;
    v_id = in_id;
    gl_Position = mvp * vec4(in_pos, 1.0);
}
"""

_FRAGMENT_SHADER = """
#version 330
uniform vec3 light_dir;
uniform vec3 light_color;
uniform float ambient;
uniform vec3 eye_pos;
in vec3 v_pos;
in vec3 v_color;
flat in int v_id;
layout(location = 0) out vec4 out_color;
layout(location = 1) out int out_id;
void main() {
    vec3 n = normalize(cross(dFdx(v_pos), dFdy(v_pos)));
    if (dot(n, eye_pos - v_pos) < 0.0) n = -n;  // two-sided: face the viewer
    float diffuse = max(dot(n, light_dir), 0.0);
    vec3 shade = v_color * (ambient + (1.0 - ambient) * diffuse) * light_color;
    out_color = vec4(clamp(shade, 0.0, 1.0), 1.0);
    out_id = v_id;
}
"""


class RendererUnavailableError(RuntimeError):
    """The OpenGL (EGL) context cannot start."""


@dataclasses.dataclass(frozen=True)
class Lighting:
    """A directional light (unit world vector towards the light), its RGB tint and an ambient fraction."""

    direction: tuple[float, float, float] = (0.3, 0.8, 0.5)
    color: tuple[float, float, float] = (1.0, 1.0, 1.0)
    ambient: float = 0.35


def sample_lighting(rng: np.random.Generator) -> Lighting:
    """A random light from the upper hemisphere, a mild colour tint and an ambient level."""
    azimuth = rng.uniform(0, 2 * np.pi)
    elevation = rng.uniform(np.radians(15), np.radians(85))
    direction = (np.cos(elevation) * np.cos(azimuth), np.sin(elevation), np.cos(elevation) * np.sin(azimuth))
    tint = np.clip(1.0 + rng.normal(0, 0.08, 3), 0.75, 1.15) * rng.uniform(0.8, 1.2)
    return Lighting(tuple(float(x) for x in direction), tuple(float(x) for x in tint), float(rng.uniform(0.2, 0.55)))


@dataclasses.dataclass(frozen=True)
class Mesh:
    """One mesh in world coordinates: vertices float [V, 3] metres, faces int [F, 3], colours [V, 3] in [0, 1]."""

    vertices: np.ndarray
    faces: np.ndarray
    colors: np.ndarray


@dataclasses.dataclass(frozen=True)
class Frame:
    """A rendered frame: colour uint8 [H, W, 3], instance int32 [H, W] (0 = background, k + 1 = mesh k),
    depth float32 [H, W] metres along the optical axis (inf on the background)."""

    color: np.ndarray
    instance: np.ndarray
    depth: np.ndarray


def _missing_debian_packages() -> list[str]:
    if shutil.which("dpkg-query") is None:
        return list(EGL_PACKAGES)
    missing = []
    for package in EGL_PACKAGES:
        result = subprocess.run(
            ["dpkg-query", "-W", "-f=${Status}", package], capture_output=True, text=True, check=False
        )
        if "install ok installed" not in result.stdout:
            missing.append(package)
    return missing


def create_context(backend: str = "egl"):
    """A standalone moderngl context; RendererUnavailableError naming the missing Debian packages if none starts."""
    try:
        import moderngl
    except ImportError as e:
        raise RendererUnavailableError(
            f"moderngl is not installed ({e}); pip install 'moderngl>=5.13,<6' (a dependency of ltsh_jax)"
        ) from None
    try:
        return moderngl.create_standalone_context(backend=backend)
    except Exception as e:  # noqa: BLE001 - glcontext raises bare Exceptions
        missing = _missing_debian_packages()
        hint = (
            f"missing Debian packages: {' '.join(missing)} (as root: apt-get install {' '.join(missing)}; "
            "in a checkout: scripts/install_system_packages.sh)"
            if missing
            else f"the Debian packages {' '.join(EGL_PACKAGES)} are installed; check the EGL driver"
        )
        raise RendererUnavailableError(f"cannot start an OpenGL context with backend={backend!r} ({e}); {hint}") from e


class Renderer:
    """Renders lists of meshes at one image size, reusing one context and framebuffer."""

    def __init__(self, width: int, height: int, *, context=None):
        self.width, self.height = int(width), int(height)
        self.ctx = context if context is not None else create_context()
        self.program = self.ctx.program(vertex_shader=_VERTEX_SHADER, fragment_shader=_FRAGMENT_SHADER)
        self.sh_program = self.ctx.program(vertex_shader=_VERTEX_SHADER, fragment_shader=SH_FRAGMENT_SHADER)
        size = (self.width, self.height)
        self._color = self.ctx.renderbuffer(size, components=4)
        self._ids = self.ctx.renderbuffer(size, components=1, dtype="i4")
        self._depth = self.ctx.depth_renderbuffer(size)
        self.fbo = self.ctx.framebuffer(color_attachments=[self._color, self._ids], depth_attachment=self._depth)

    def release(self) -> None:
        """Frees the GL objects and the context."""
        for obj in (self.fbo, self._color, self._ids, self._depth, self.program, self.sh_program):
            obj.release()
        self.ctx.release()

    def render(
        self,
        meshes: Sequence[Mesh],
        camera: Camera,
        *,
        lighting: Lighting | SHLighting = Lighting(),
        background: np.ndarray | None = None,
    ) -> Frame:
        """Draws `meshes` seen by `camera`; background uint8 [H, W, 3] where no mesh is (black if None)."""
        if (camera.width, camera.height) != (self.width, self.height):
            raise ValueError(f"camera is {camera.width}x{camera.height}, renderer {self.width}x{self.height}")
        self.fbo.use()
        self.fbo.clear(0.0, 0.0, 0.0, 0.0, depth=1.0)
        self.ctx.enable(self.ctx.DEPTH_TEST)
        if meshes:
            self._draw(meshes, camera, lighting)
        shape = (self.height, self.width)
        color = np.frombuffer(self.fbo.read(components=3, attachment=0), np.uint8).reshape(*shape, 3)[::-1]
        ids = np.frombuffer(self.fbo.read(components=1, attachment=1, dtype="i4"), np.int32).reshape(shape)[::-1]
        raw_depth = self.fbo.read(components=1, attachment=-1, dtype="f4")
        window_depth = np.frombuffer(raw_depth, np.float32).reshape(shape)[::-1]
        if background is not None:
            background = np.asarray(background, np.uint8)
            if background.shape != (*shape, 3):
                raise ValueError(f"background must be uint8 {(*shape, 3)}, got {background.shape}")
            color = np.where((ids == 0)[..., None], background, color)
        else:
            color = np.ascontiguousarray(color)
        depth = camera.linear_depth(window_depth)  # float32, like the depth buffer
        return Frame(color=color, instance=np.ascontiguousarray(ids), depth=depth)

    def _draw(self, meshes: Sequence[Mesh], camera: Camera, lighting: Lighting | SHLighting) -> None:
        positions, colors, ids, faces = [], [], [], []
        offset = 0
        for k, mesh in enumerate(meshes):
            vertices = np.asarray(mesh.vertices, np.float32)
            if vertices.ndim != 2 or vertices.shape[1] != 3:
                raise ValueError(f"mesh {k}: vertices must be [V, 3], got {vertices.shape}")
            mesh_colors = np.broadcast_to(np.asarray(mesh.colors, np.float32), vertices.shape)
            positions.append(vertices)
            colors.append(mesh_colors)
            ids.append(np.full(len(vertices), k + 1, np.int32))
            faces.append(np.asarray(mesh.faces, np.int32) + offset)
            offset += len(vertices)
        vbo_pos = self.ctx.buffer(np.concatenate(positions).tobytes())
        vbo_col = self.ctx.buffer(np.concatenate(colors).tobytes())
        vbo_id = self.ctx.buffer(np.concatenate(ids).tobytes())
        ibo = self.ctx.buffer(np.concatenate(faces).tobytes())
        program = self.sh_program if isinstance(lighting, SHLighting) else self.program
        vao = self.ctx.vertex_array(
            program,
            [(vbo_pos, "3f", "in_pos"), (vbo_col, "3f", "in_color"), (vbo_id, "i", "in_id")],
            index_buffer=ibo,
            index_element_size=4,
        )
        mvp = camera.projection_matrix() @ camera.view_matrix()
        program["mvp"].write(mvp.T.astype(np.float32).tobytes())  # GLSL matrices are column-major
        if isinstance(lighting, SHLighting):
            program["sh"].write(np.asarray(lighting.coefficients, np.float32).T.copy().tobytes())  # 9 x vec3
        else:
            direction = np.asarray(lighting.direction, np.float64)
            program["light_dir"].value = tuple(float(x) for x in direction / np.linalg.norm(direction))
            program["light_color"].value = tuple(float(x) for x in lighting.color)
            program["ambient"].value = float(lighting.ambient)
        program["eye_pos"].value = tuple(float(x) for x in camera.position)
        vao.render()
        for obj in (vao, vbo_pos, vbo_col, vbo_id, ibo):
            obj.release()
