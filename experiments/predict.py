"""Poses for your own photos: a trained run and a folder of images in, people per image out.

    python -m experiments.predict --workdir=RUN --images=DIR --output=OUT

Reads RUN's config (RUN/config.json, or --config) and its latest checkpoint, finds the people in every
.jpg/.jpeg/.png of DIR and writes OUT/predictions.json (MPII annolist, names relative to DIR),
OUT/predictions_coco.json (COCO keypoint results; ids in OUT/images.json), OUT/images.json and
OUT/overlays/<stem>.jpg with the skeletons drawn. A file that does not decode is named, skipped and counted.

People are looked for at any size by CMU's OpenPose scale search (scales 0.5, 1, 1.5, 2 x the training crop:
people of about 1/3 to 4/3 of each photo's height with the paper's configs; see
ltsh_jax/evaluation/predict_images.py); --people_height=PIXELS shows each photo so that people that tall come
out at their training size instead (scales 0.7, 1, 1.3 around it, as the MPII evaluation), for people
smaller or larger than the search covers. --scales replaces either set of scales.
"""

import sys

from absl import app, flags, logging
from ml_collections import config_flags

from experiments import configs
from ltsh_jax.evaluation.predict_images import PhotoSettings, predict_folder
from ltsh_jax.train.run_config import load_run_config

_CONFIG = config_flags.DEFINE_config_file("config", None, "The run's training config (default: RUN/config.json).")
_WORKDIR = flags.DEFINE_string("workdir", None, "The training run's directory (its latest checkpoint is used).")
_IMAGES = flags.DEFINE_string("images", None, "Folder of .jpg/.jpeg/.png photos (not searched recursively).")
_OUTPUT = flags.DEFINE_string("output", None, "Where the JSON files and overlays/ go.")
_SCALES = flags.DEFINE_list(
    "scales", [], "Scales (default: 0.5,1,1.5,2 x the training crop; 0.7,1,1.3 with --people_height)."
)
_PEOPLE_HEIGHT = flags.DEFINE_float(
    "people_height", 0.0, "The people's height in pixels of the photos, if known (0: search over sizes)."
)
_FLIP = flags.DEFINE_bool("flip", True, "Average the maps with those of the mirrored photo.")
_MIN_PARTS = flags.DEFINE_integer(
    "min_parts", PhotoSettings.min_parts, "Drop found people with fewer parts (3: the paper's MPI test; 4: CMU's)."
)
flags.mark_flags_as_required(["workdir", "images", "output"])


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {argv[1:]}")
    logging.set_verbosity(logging.WARNING)  # orbax's INFO lines would bury the progress bar
    try:
        settings = PhotoSettings(
            scales=tuple(float(s) for s in _SCALES.value),
            people_height=_PEOPLE_HEIGHT.value,
            flip=_FLIP.value,
            min_parts=_MIN_PARTS.value,
        )
        config = _CONFIG.value or load_run_config(_WORKDIR.value)
        summary = predict_folder(config, _WORKDIR.value, _IMAGES.value, _OUTPUT.value, settings)
    except (FileNotFoundError, ValueError) as error:
        sys.exit(f"error: {error}")
    print(summary.line())


def run() -> None:
    """`ltsh-predict`, the same as `python -m experiments.predict`; --config may also name a shipped config."""
    app.run(main, argv=configs.resolve_config_flag(sys.argv))


if __name__ == "__main__":
    run()
