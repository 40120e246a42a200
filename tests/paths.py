"""Where the tests find the repository and the shared real samples (../shared beside the checkout)."""

import pathlib

REPO = pathlib.Path(__file__).resolve().parents[1]
REAL_SAMPLES = REPO.parent / "shared" / "data" / "real_samples"
REAL_MPII = REAL_SAMPLES / "mpii"
