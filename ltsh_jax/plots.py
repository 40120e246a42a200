"""What every plot of the project shares: pyplot on the Agg backend (no display), and saving a figure as a PNG.

matplotlib is imported on first use, so modules that can plot do not pay for it at import.
"""

from __future__ import annotations

import io
import os
from typing import Any

from etils import epath

from ltsh_jax import paths


def pyplot() -> Any:
    """matplotlib.pyplot, on the Agg backend (files only, works without a display)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def save_png(fig: Any, path: str | os.PathLike) -> epath.Path:
    """Lays the figure out, writes it to path (100 dpi, parent folders made; a local file or a cloud URI,
    replaced atomically, ltsh_jax.paths) and closes it; returns the path."""
    fig.tight_layout()
    png = io.BytesIO()
    fig.savefig(png, format="png", dpi=100)
    pyplot().close(fig)
    return paths.write_atomically(path, png.getvalue())
