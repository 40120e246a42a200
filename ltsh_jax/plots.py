"""What every plot of the project shares: pyplot on the Agg backend (no display), and saving a figure as a PNG.

matplotlib is imported on first use, so modules that can plot do not pay for it at import.
"""

from __future__ import annotations

import pathlib
from typing import Any


def pyplot() -> Any:
    """matplotlib.pyplot, on the Agg backend (files only, works without a display)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def save_png(fig: Any, path: str | pathlib.Path) -> pathlib.Path:
    """Lays the figure out, writes it to path (100 dpi, parent folders made) and closes it; returns the path."""
    path = pathlib.Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    pyplot().close(fig)
    return path
