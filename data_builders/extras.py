"""What an optional extra is for, as one clear error when a build path needs a package that is not installed."""

from __future__ import annotations

BEAM_HINT = "Beam builds need Apache Beam: pip install 'ltsh_jax[beam]' (a checkout: pip install -r requirements.txt)"


def require_beam() -> None:
    """ImportError naming the `[beam]` extra unless apache_beam imports."""
    try:
        import apache_beam  # noqa: F401
    except ImportError as error:
        raise ImportError(f"{BEAM_HINT} ({error})") from error
