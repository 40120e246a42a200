"""Tests that render need an EGL context; on a machine that cannot start one they skip, saying why."""

from __future__ import annotations

import pytest

from ltsh_jax.synth.render import Renderer, RendererUnavailableError, create_context


def skip_without_egl() -> None:
    """Skips the calling test or fixture when no EGL context can start (the message names the missing packages)."""
    try:
        create_context().release()
    except RendererUnavailableError as e:  # pragma: no cover - machines without EGL
        pytest.skip(str(e))


def renderer_or_skip(width: int, height: int) -> Renderer:
    """A Renderer of width x height, or a skip as in `skip_without_egl`."""
    try:
        return Renderer(width, height)
    except RendererUnavailableError as e:  # pragma: no cover - machines without EGL
        pytest.skip(str(e))
