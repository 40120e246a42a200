"""MPII multi-person evaluation: JSON I/O, group restriction, AP, visibility bins, reports, CLI (mpii.py)."""
