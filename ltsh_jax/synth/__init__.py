"""Synthetic humans: the Anny body in JAX, poses, appearance (and, beside them, scenes and rendering)."""
