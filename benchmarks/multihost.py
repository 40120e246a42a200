"""Step time and images/s of the student as 1x4, 2x2 and 4x1 (processes x devices) on this machine, and what
the N-host teacher adds.

    python -m benchmarks.multihost [--steps 12 --rounds 2 --output rows.json]

Each run is `experiments.train` launched by `experiments.launch_local` over 127.0.0.1 (forced CPU devices,
a global mesh of 4 devices every time) on the builder's dummy mpii_multiperson (built into a temporary
data_dir; its train split stands in for the synthetic data), dr_ds.py:tiny with and without the
teacher (teacher_c's settings with grouping 'mD', a block every 2 steps). Step times come from the runs'
metrics.jsonl (examples/s of every 1-step log window, the first 3 steps, which compile, left out); the
topologies' runs are interleaved round by round so load from other processes hits them alike; compiled
programs are cached across rounds, one cache per topology. Prints per topology and student/teacher the
median s/step, images/s and the teacher's overhead (median teacher step / median student step), and the load average.
On one CPU the processes share its cores: this shows the cost of the collectives and of the extra
processes, not a speed-up.
"""

from __future__ import annotations

import argparse
import json
import os
import pathlib
import sys
import tempfile

import numpy as np

from experiments import launch_local
from ltsh_jax.metrics import read_metrics

REPO = pathlib.Path(__file__).resolve().parents[1]
TOPOLOGIES = ((1, 4), (2, 2), (4, 1))


def train_args(data_dir: pathlib.Path, teacher: bool, steps: int) -> list[str]:
    """experiments.train's arguments for one run on the dummy data (`teacher`: teacher_c with grouping mD)."""
    config = "teacher_c.py:tiny" if teacher else "dr_ds.py:tiny"
    args = [
        f"--config=experiments/configs/{config}", f"--config.data.data_dir={data_dir}",
        "--config.data.synthetic.name=mpii_multiperson", "--config.data.synthetic.builder_config=",
        "--config.data.synthetic.split=train", f"--config.data.synthetic.data_dir={data_dir}",
        "--config.data.synthetic.people=all", "--config.data.num_workers=1", f"--config.train.num_steps={steps}",
        "--config.train.log_every=1", "--config.train.eval_every=0", f"--config.train.checkpoint_every={steps}",
    ]  # fmt: skip
    if teacher:
        args += [
            "--config.teacher.grouping=mD", "--config.teacher.num_groups=2", "--config.teacher.min_group_size=1",
            "--config.teacher.every_n=2",
        ]  # fmt: skip
    return args


def seconds_per_step(workdir: pathlib.Path, batch_size: int, skip: int = 3) -> list[float]:
    """Seconds of every logged 1-step window after the first `skip` steps."""
    return [batch_size / r["examples_per_sec"] for r in read_metrics(workdir) if "loss" in r and r["step"] > skip]


def build_dummy(data_dir: pathlib.Path) -> None:
    from data_builders.build import build
    from data_builders.mpii_multiperson.conftest import DUMMY

    build("mpii_multiperson", data_dir=data_dir, manual_dir=DUMMY / "json")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=12)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--output", default="")
    args = parser.parse_args()
    tmp = pathlib.Path(tempfile.mkdtemp(prefix="multihost_bench_"))
    build_dummy(tmp / "tfds")
    times: dict[tuple, list[float]] = {}
    for round_ in range(args.rounds):
        for teacher in (False, True):
            for processes, devices in TOPOLOGIES:
                workdir = tmp / f"r{round_}_{'teacher' if teacher else 'student'}_{processes}x{devices}"
                command = [sys.executable, "-m", "experiments.train", *train_args(tmp / "tfds", teacher, args.steps),
                           f"--workdir={workdir}"]  # fmt: skip
                cache = tmp / "cache" / f"{processes}x{devices}"  # one per topology (tests/multihost/launch.py)
                results = launch_local.run(command, processes, devices, timeout=3600, cwd=str(REPO),
                                           env=launch_local.compile_cache_env(cache))  # fmt: skip
                if failed := [r for r in results if r.returncode]:
                    sys.exit(f"{processes}x{devices} teacher={teacher} failed:\n{failed[0].stderr[-3000:]}")
                times.setdefault((processes, devices, teacher), []).extend(seconds_per_step(workdir, 4))
                print(f"round {round_} {processes}x{devices} teacher={teacher}: done", flush=True)
    rows = []
    print(f"\n{'topology':>9} {'student s/step':>15} {'images/s':>9} {'teacher s/step':>15} {'overhead':>9}")
    for processes, devices in TOPOLOGIES:
        student = float(np.median(times[processes, devices, False]))
        teacher = float(np.median(times[processes, devices, True]))
        rows.append(dict(processes=processes, devices=devices, student_s=student, teacher_s=teacher,
                         images_per_s=4 / student, teacher_overhead=teacher / student))  # fmt: skip
        print(f"{processes}x{devices:<7} {student:15.3f} {4 / student:9.1f} {teacher:15.3f} {teacher / student:9.2f}")
    print(f"load average {os.getloadavg()}")
    if args.output:
        pathlib.Path(args.output).write_text(json.dumps({"rows": rows, "load": os.getloadavg()}, indent=2) + "\n")


if __name__ == "__main__":
    main()
