"""The paper's settings (docs/reference.md) as one ConfigDict; every experiment config starts from it."""

import ml_collections

# The first 4 conv layers, frozen whenever synthetic data is used.
FREEZE_FIRST_FOUR = r"^backbone/conv(1_[12]|2_[12])/"


def _source_fields(section: ml_collections.ConfigDict, source: str) -> None:
    """Where a source's records come from: 'mpii_json' (dir, annotation_file) or 'tfds' (name, split, ...)."""
    section.source = source
    section.dir = ""  # mpii_json: folder of images + one MPII JSON file
    section.annotation_file = ""
    section.on_bad_input = "raise"  # mpii_json: stop at a bad record or image, or "skip" (and count) them
    section.name = ""  # tfds: dataset name, e.g. mpii_multiperson
    section.split = "train"
    section.data_dir = ""  # tfds: where it was built (python -m data_builders.build NAME --data_dir=...)
    section.builder_config = ""


def base_config() -> ml_collections.ConfigDict:
    """Paper-size OpenPose on 368x368 person crops, Adam 5e-5 (b1 0.8), x0.33 every 20k steps."""
    config = ml_collections.ConfigDict()
    config.seed = 0
    config.skeleton = "cmu_mpi"
    config.init_from = ""  # a workdir whose latest checkpoint gives the initial parameters

    config.model = ml_collections.ConfigDict()
    config.model.width = 1.0
    config.model.num_stages = 6
    config.model.dtype = "float32"  # or "bfloat16" (compute only; parameters stay float32)
    config.model.conv_impl = "auto"  # "xla" (lax.conv), "gemm" (faster gradients on CPU), "auto": gemm on CPU
    config.model.vgg_weights = ""  # ImageNet VGG-19: an .npz or the Keras notop .h5; "scratch": random init
    config.model.vgg_required = False  # True for rows trained from scratch (dr, ds): no weights file is an error

    config.data = ml_collections.ConfigDict()
    _source_fields(config.data, "mpii_json")  # the real source
    config.data.eval_split = ""  # tfds: the split of the held-out batches ("" = the training split)
    config.data.real_fraction = 0.5  # share of real crops per batch when a synthetic source is set
    config.data.synthetic = ml_collections.ConfigDict()
    _source_fields(config.data.synthetic, "")  # source "" = no synthetic data: every crop real
    config.data.synthetic.people = "synthetic"  # centre crops on rendered humans only, or "all"
    config.data.num_workers = 0  # threads per batch; 0 = every core
    config.data.prefetch = 2  # batches built ahead of the device
    config.data.input_size = 368
    config.data.stride = 8
    # Slots of a crop's padded people record. D_S draws Poisson(9) people (P(N > 20) = 4e-4), D_M adds
    # Poisson(4) to MPII's; people past the cap are masked out of the loss (ltsh_jax/data/crops.py).
    config.data.max_people = 20
    config.data.eval_batches = 2
    config.data.augment = ml_collections.ConfigDict()
    config.data.augment.target_scale = 1.25  # crop scale = target_scale / person_scale * U[min, max]
    config.data.augment.scale_min = 0.4
    config.data.augment.scale_max = 1.6
    config.data.augment.max_rotate = 45.0
    config.data.augment.max_shift = 50.0
    config.data.augment.flip_prob = 0.5

    config.targets = ml_collections.ConfigDict()
    config.targets.sigma = 7.0
    config.targets.paf_width = 1.0
    config.targets.mask_synthetic = False  # "+masks": drop the loss where synthetic humans' targets are
    config.targets.synthetic_threshold = 0.25  # ... their Gaussians above this, and their PAF limb areas

    config.optim = ml_collections.ConfigDict()
    config.optim.learning_rate = 5e-5
    config.optim.b1 = 0.8
    config.optim.b2 = 0.999
    config.optim.decay_every = 20_000
    config.optim.decay_factor = 0.33
    config.optim.freeze = ""  # regex over parameter paths; FREEZE_FIRST_FOUR with synthetic data

    config.train = ml_collections.ConfigDict()
    config.train.batch_size = 32
    config.train.num_steps = 100_000
    config.train.log_every = 50
    config.train.eval_every = 1_000
    config.train.checkpoint_every = 1_000
    config.train.max_checkpoints = 3
    # Non-finite updates are skipped on device; this many in a row stop the run (train/health.py).
    config.train.max_skip_streak = 5
    # Each process writes hashes of its batch rows and teacher inputs to WORKDIR/inputs/ (train/input_record.py).
    config.train.record_inputs = False

    # The adversarial teacher (ltsh_jax/teacher/hook.py), off unless a row turns it on (teacher_common.py).
    config.teacher = ml_collections.ConfigDict()
    config.teacher.enabled = False
    config.teacher.grouping = "C"  # 'C' camera pitch, 'mD' minimal distance, 'C+mD' both (product of bins)
    config.teacher.num_groups = 10  # bins per characteristic (10 in the paper); joint: groups = bins ** 2
    config.teacher.min_group_size = 0  # smaller groups are never drawn; 0: the synthetic slots of a batch
    config.teacher.every_n = 20  # student steps per teacher step (N)
    config.teacher.hardest_k = 1  # hardest real crops of the last N steps fed to the teacher (1 in the paper)
    config.teacher.eps = 0.1  # probability of a uniform draw instead of one from P~
    config.teacher.alpha = 0.01  # size of the pseudo-target update (Eq. 2)
    config.teacher.history = 10  # H: past synthetic losses the reward compares against (Eq. 1)
    config.teacher.learning_rate = 1e-4  # the teacher's own Adam (the paper's value is in its supp. mat.; ours)
    config.teacher.width = 1.0  # teacher network width multiplier (1.0 = the reference architecture)
    config.teacher.vgg_weights = ""  # optional ImageNet VGG-19 for the teacher's conv1_1 .. conv4_2 (.npz or .h5)
    config.teacher.input_size = 368  # crops are resized to this before the teacher sees them
    config.teacher.seed = 0
    return config


def use_mpii_real(config: ml_collections.ConfigDict) -> None:
    """The real half: D_R, the TFDS dataset mpii_multiperson (train; held-out loss on validation)."""
    config.data.source = "tfds"
    config.data.name = "mpii_multiperson"
    config.data.split = "train"
    config.data.eval_split = "validation"
    config.data.data_dir = "~/tensorflow_datasets"


def finetune_with_synthetic(
    config: ml_collections.ConfigDict, dataset: str, *, people: str = "synthetic", mask_synthetic: bool = False
) -> None:
    """The paper's fine-tuning with synthetic data: start from the D_R baseline (config.init_from, set by
    experiments/reproduce.py or on the command line), batches half real (D_R) and half from `dataset`,
    first four conv layers frozen; `people`: which people of the synthetic images are samples
    ('synthetic', 'real' as for D_M, or 'all'); `mask_synthetic`: the "+masks" rows."""
    use_mpii_real(config)
    config.data.real_fraction = 0.5
    config.data.synthetic.source = "tfds"
    config.data.synthetic.name = dataset
    config.data.synthetic.builder_config = "paper"  # every synthetic builder's full-size config ("tiny" for tests)
    config.data.synthetic.split = "train"
    config.data.synthetic.data_dir = "~/tensorflow_datasets"
    config.data.synthetic.people = people
    config.targets.mask_synthetic = mask_synthetic
    config.optim.freeze = FREEZE_FIRST_FOUR


def small_student(
    config: ml_collections.ConfigDict,
    *,
    width: float,
    input_size: int,
    max_people: int,
    batch_size: int,
    num_steps: int,
    log_every: int,
    eval_every: int,
) -> None:
    """A 2-stage student sized for CPU runs (tiny rows, smoke, demo): Adam for short runs, a checkpoint
    with every evaluation, and people as large relative to the crop as at the paper's 368 px."""
    config.model.width = width
    config.model.num_stages = 2
    config.data.input_size = input_size
    config.data.augment.target_scale = 1.25 * input_size / 368
    config.data.max_people = max_people
    config.data.eval_batches = 1
    config.optim.learning_rate = 2e-3
    config.optim.b1 = 0.9
    config.train.batch_size = batch_size
    config.train.num_steps = num_steps
    config.train.log_every = log_every
    config.train.eval_every = eval_every
    config.train.checkpoint_every = eval_every


def make_tiny(config: ml_collections.ConfigDict, num_steps: int = 100) -> None:
    """The `tiny` variant of every row: a width/16, 2-stage OpenPose on 64x64 crops that trains on 2 CPU
    cores in a minute or two (for smoke runs, tests and the demo); synthetic datasets use their `tiny` build."""
    small_student(config, width=0.0625, input_size=64, max_people=4, batch_size=4, num_steps=num_steps,
                  log_every=10, eval_every=50)  # fmt: skip
    for section in (config.data, config.data.synthetic):
        if section.source == "tfds" and section.name.startswith("ltsh_"):
            section.builder_config = "tiny"


def check_variant(row: str, variant: str, allowed: tuple[str, ...] = ("", "tiny")) -> None:
    """ValueError unless variant is one of `allowed` (by default '' for the paper settings, or 'tiny')."""
    if variant not in allowed:
        raise ValueError(f"unknown {row} variant {variant!r}: use one of {', '.join(map(repr, allowed))}")
