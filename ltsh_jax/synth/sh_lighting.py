"""Order-2 spherical-harmonics environment lighting, as the paper's generator shades its people.

The generator (DavHoffmann/Multi-humanDataGeneration `datageneration/generate_multiHumanPose.py`, `set_lights`)
draws 9 coefficients per image, the same for every colour: L00 ~ 0.5 + 0.9 U, L1m1 ~ -0.7 U, the other seven
~ 0.7 U[-1, 1]; its material (`create_sh_material`, the OSL shader `resources/sh.osl` inherited from SURREAL,
gulvarol/surreal `datageneration/spher_harm/sh.osl`) emits albedo x E(n), E the irradiance of Ramamoorthi and
Hanrahan (2001, eq. 13) at the world normal n, in the generator's world (x towards the camera, -y up, z to the
right); we evaluate it at n_g = (n_z, -n_y, n_x) of our world (+y up, camera on +z), the same directions
relative to camera and ground. Half of the generator's draws give E < 0 for some normals (5% of directions on
average), which no environment can: `sample_sh_lighting` raises L00 just enough that E >= 0 everywhere, keeping
the eight directional terms, and `SHLighting` refuses coefficients with negative irradiance. Albedo and E
combine in linear light (sRGB decoded and encoded), as Cycles does with sRGB textures.
"""

from __future__ import annotations

import dataclasses

import numpy as np

C1, C2, C3, C4, C5 = 0.429043, 0.511664, 0.743125, 0.886227, 0.247708  # Ramamoorthi & Hanrahan, eq. 13
NAMES = ("L00", "L1m1", "L10", "L11", "L2m2", "L2m1", "L20", "L21", "L22")  # the generator's sh0 .. sh8
NEGATIVE_TOLERANCE = 1e-6

SH_FRAGMENT_SHADER = """
#version 330
uniform vec3 sh[9];  // per colour: L00, L1m1, L10, L11, L2m2, L2m1, L20, L21, L22 (ltsh_jax.synth.sh_lighting)
uniform vec3 eye_pos;
in vec3 v_pos;
in vec3 v_color;
flat in int v_id;
layout(location = 0) out vec4 out_color;
layout(location = 1) out int out_id;
vec3 to_linear(vec3 c) { return mix(c / 12.92, pow((c + 0.055) / 1.055, vec3(2.4)), step(0.04045, c)); }
vec3 to_srgb(vec3 c) { return mix(c * 12.92, 1.055 * pow(c, vec3(1.0 / 2.4)) - 0.055, step(0.0031308, c)); }
void main() {
    vec3 n = normalize(cross(dFdx(v_pos), dFdy(v_pos)));
    if (dot(n, eye_pos - v_pos) < 0.0) n = -n;  // two-sided: face the viewer
    float x = n.z, y = -n.y, z = n.x;  // the generator's world
    const float c1 = 0.429043, c2 = 0.511664, c3 = 0.743125, c4 = 0.886227, c5 = 0.247708;
    vec3 irradiance = c1 * sh[8] * (x * x - y * y) + c3 * sh[6] * z * z + c4 * sh[0] - c5 * sh[6]
        + 2.0 * c1 * (sh[4] * x * y + sh[7] * x * z + sh[5] * y * z)
        + 2.0 * c2 * (sh[3] * x + sh[1] * y + sh[2] * z);
    vec3 radiance = to_linear(v_color) * max(irradiance, 0.0);  // max: rounding only (coefficients are checked)
    out_color = vec4(to_srgb(clamp(radiance, 0.0, 1.0)), 1.0);
    out_id = v_id;
}
"""


def _quadratic(coefficients: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """E(n_g) = n_g^T A n_g + b . n_g + c per colour: (A [C, 3, 3], b [C, 3], c [C]) of coefficients [C, 9]."""
    L = np.asarray(coefficients, np.float64)
    a = np.stack([
        np.stack([C1 * L[:, 8], C1 * L[:, 4], C1 * L[:, 7]], -1),
        np.stack([C1 * L[:, 4], -C1 * L[:, 8], C1 * L[:, 5]], -1),
        np.stack([C1 * L[:, 7], C1 * L[:, 5], C3 * L[:, 6]], -1),
    ], 1)  # fmt: skip
    b = 2 * C2 * np.stack([L[:, 3], L[:, 1], L[:, 2]], -1)
    return a, b, C4 * L[:, 0] - C5 * L[:, 6]


def _as_colours(coefficients: np.ndarray) -> np.ndarray:
    """[3, 9] float64 from [9] (grey light, as the generator's) or [3, 9] (one row per colour)."""
    coefficients = np.asarray(coefficients, np.float64)
    if coefficients.shape == (9,):
        coefficients = np.tile(coefficients, (3, 1))
    if coefficients.shape != (3, 9):
        raise ValueError(f"spherical-harmonics coefficients must be [9] or [3, 9], got {coefficients.shape}")
    return coefficients


def irradiance(coefficients: np.ndarray, normals: np.ndarray) -> np.ndarray:
    """E [..., 3] at unit normals [..., 3] of our world, from coefficients [9] or [3, 9] (the shader's formula)."""
    a, b, c = _quadratic(_as_colours(coefficients))
    normals = np.asarray(normals, np.float64)
    g = np.stack([normals[..., 2], -normals[..., 1], normals[..., 0]], -1)  # the generator's world
    return np.einsum("...i,kij,...j->...k", g, a, g) + g @ b.T + c


def _fibonacci_sphere(count: int) -> np.ndarray:
    i = np.arange(count) + 0.5
    z = 1 - 2 * i / count
    phi = np.pi * (1 + 5**0.5) * i
    r = np.sqrt(1 - z**2)
    return np.stack([r * np.cos(phi), r * np.sin(phi), z], -1)


def min_irradiance(coefficients: np.ndarray, samples: int = 1024, steps: int = 60) -> np.ndarray:
    """[3]: the smallest irradiance over all normals, per colour (dense sphere, then projected gradient descent)."""
    coefficients = _as_colours(coefficients)
    a, b, c = _quadratic(coefficients)
    sphere = _fibonacci_sphere(samples)  # in the generator's frame: the minimum does not depend on the frame
    out = np.empty(3)
    for k in range(3):
        same = [j for j in range(k) if (coefficients[j] == coefficients[k]).all()]
        if same:  # grey light: one colour's minimum serves all
            out[k] = out[same[0]]
            continue
        values = np.einsum("ni,ij,nj->n", sphere, a[k], sphere) + sphere @ b[k]
        n = sphere[np.argsort(values)[:4]]
        step = 0.25 / (np.abs(a[k]).sum() + np.abs(b[k]).sum() + 1e-12)
        for _ in range(steps):
            grad = 2 * n @ a[k] + b[k]
            grad -= (grad * n).sum(-1, keepdims=True) * n  # along the sphere
            n = n - step * grad
            n /= np.linalg.norm(n, axis=-1, keepdims=True)
        refined = np.einsum("ni,ij,nj->n", n, a[k], n) + n @ b[k]
        out[k] = min(values.min(), refined.min()) + c[k]
    return out


@dataclasses.dataclass(frozen=True)
class SHLighting:
    """Spherical-harmonics lighting: coefficients [3, 9] (per colour, order of NAMES, the generator's frame).

    ValueError when they give negative irradiance for some normal (no environment does).
    """

    coefficients: tuple[tuple[float, ...], ...]

    def __post_init__(self):
        coefficients = _as_colours(self.coefficients)
        if not np.isfinite(coefficients).all():
            raise ValueError(f"spherical-harmonics coefficients must be finite, got {coefficients}")
        lowest = min_irradiance(coefficients)
        if (lowest < -NEGATIVE_TOLERANCE).any():
            raise ValueError(
                f"spherical-harmonics coefficients give negative irradiance {lowest.min():.4f} for some normal "
                f"(colour {int(lowest.argmin())}); raise {NAMES[0]} by at least {-lowest.min() / C4:.4f}"
            )
        object.__setattr__(self, "coefficients", tuple(tuple(float(x) for x in row) for row in coefficients))


def sample_sh_lighting(rng: np.random.Generator) -> SHLighting:
    """The generator's draw (`set_lights`), with L00 raised where needed so that irradiance stays >= 0."""
    coefficients = 0.7 * (2 * rng.random(9) - 1)
    coefficients[0] = 0.5 + 0.9 * rng.random()  # "first coeff is ambient"
    coefficients[1] = -0.7 * rng.random()  # L1m1 < 0: light from above in the generator's -y-up world
    lowest = float(min_irradiance(coefficients)[0])
    if lowest < 0:
        coefficients[0] += (-lowest + NEGATIVE_TOLERANCE / 2) / C4
    return SHLighting(tuple(tuple(float(x) for x in coefficients) for _ in range(3)))
