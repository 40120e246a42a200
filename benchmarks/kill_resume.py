"""Kill -9 at random times, resume, compare: training runs and dataset builds against uninterrupted ones.

    python -m benchmarks.kill_resume [--train_kills 14 --build_kills 6] [--seed 0] [--output rows.json]

Training: `experiments.train` on the real MPII samples (`smoke.py:test`, a checkpoint every 2 steps) is
run once uninterrupted, then again in another workdir where each start is SIGKILLed (plan seeded) until the
kills are spent and a last start finishes. Every third kill lands in start-up (U[0.05, 1] x the last
start's time from its "[start-up] model:" line to its first step: restoring and compiling); the others at
a random step, once metrics.jsonl logs a step drawn from the 4 after the start's resume step,
U[0, 1] x a mean step later, so they fall inside steps and checkpoint writes whatever the machine's load;
each kill records the last step in metrics.jsonl and whether a checkpoint write was under way.
Builds: `data_builders.build` of a small `ltsh_synthetic/tiny` override, twice uninterrupted (the second, with
the compilation cache warm, times its stages and must match the first byte for byte), then each start killed
after a random stage line (preparing, generating train examples, writing them, generating validation
examples) plus U[0, 1] x reach x a quarter of the build's time; a build that finishes before its next kill
is complete and compared, and the remaining kills go to a new build.
Prints, then writes as JSON:
- failed resumes: starts that exited on their own with an error (not our kill);
- divergences: metrics.jsonl steps whose loss differs from the uninterrupted run's (bit for bit), and
  dataset files whose bytes differ;
- orphans: what the last, successful start left that an uninterrupted run does not have (temporary
  checkpoint folders, incomplete.* build folders).
"""

from __future__ import annotations

import argparse
import json
import os
import pathlib
import re
import signal
import subprocess
import sys
import tempfile
import time

import numpy as np

REPO = pathlib.Path(__file__).resolve().parents[1]
SAMPLES = REPO.parent / "shared" / "data" / "real_samples" / "mpii"


def train_command(workdir: pathlib.Path, steps: int) -> list[str]:
    return [
        sys.executable, "-m", "experiments.train", "--config=experiments/configs/smoke.py:test",
        f"--workdir={workdir}", f"--config.data.dir={SAMPLES}", "--config.data.annotation_file=test_mpii.json",
        f"--config.train.num_steps={steps}", "--config.train.log_every=1", "--config.train.checkpoint_every=2",
        "--config.train.eval_every=0",
    ]  # fmt: skip


def build_command(data_dir: pathlib.Path) -> list[str]:
    return [
        sys.executable, "-m", "data_builders.build", "ltsh_synthetic/tiny", f"--data_dir={data_dir}",
        "--config_override", "num_train=12", "--config_override", "num_validation=4",
    ]  # fmt: skip


# Lines reach the log when printed (a redirected stdout is block-buffered: the marks would come at exit).
UNBUFFERED = dict(os.environ, PYTHONUNBUFFERED="1")
TRAIN_MARKS = ("[start-up] model:", "[start-up] compile:")
# A build's stages as TFDS prints them, in order.
BUILD_MARKS = ("Downloading and preparing dataset", "Generating train examples", "Shuffling",
               "Generating validation examples")  # fmt: skip


def run_to_end(command: list[str], log: pathlib.Path, marks: tuple[str, ...] = ()) -> tuple[int, dict]:
    """(exit code, {mark: seconds from the line holding it to the end}) of one uninterrupted start; the mark
    None counts from the start."""
    start = time.perf_counter()
    seen = {None: start}
    process = subprocess.Popen(
        command, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=UNBUFFERED
    )  # fmt: skip
    with log.open("a") as out:
        for line in process.stdout:
            out.write(line)
            seen.update({mark: time.perf_counter() for mark in marks if mark in line and mark not in seen})
    code, end = process.wait(), time.perf_counter()
    return code, {mark: end - t for mark, t in seen.items() if mark is not None or not marks}


def _wait_for_mark(process: subprocess.Popen, start_log: pathlib.Path, mark: str | None) -> bool:
    """True once `mark` appears in the start's output (at once when None); False when the process ended first."""
    while mark is not None:
        if mark in start_log.read_text(errors="replace"):
            return True
        if process.poll() is not None:
            return False
        time.sleep(0.05)
    return True


def _logged_steps(workdir: pathlib.Path) -> list[int]:
    metrics = workdir / "metrics.jsonl"
    lines = metrics.read_text().splitlines() if metrics.exists() else []
    return [json.loads(line).get("step") for line in lines if line.strip().endswith("}")]


def _where(workdir: pathlib.Path | None) -> dict:
    """What a killed training start was doing: its last logged step and whether a checkpoint write was open."""
    if workdir is None:
        return {}
    steps = _logged_steps(workdir)
    writing = any("tmp" in p.name for p in (workdir / "checkpoints").glob("*")) if (workdir / "checkpoints").exists() \
        else False  # fmt: skip
    return {"last_step": steps[-1] if steps else None, "checkpoint_write_open": writing}


def _still_running_after(process: subprocess.Popen, seconds: float) -> bool:
    try:
        process.wait(timeout=seconds)
        return False
    except subprocess.TimeoutExpired:
        return True


class StageKills:
    """Builds: each kill after a stage line drawn from BUILD_MARKS (preparing, generating the train examples,
    writing them, generating the validation examples) appears in the start's output, U[0, 1] x reach x
    `stage_s` later (a quarter of the uninterrupted build's time from its first stage line): anchored on the
    stages, the kills land in every part of a build whatever the machine's load does to its speed."""

    def __init__(self, stage_s: float, rng, reach: float = 1.0):
        self.stage_s, self.rng, self.reach = stage_s, rng, reach

    def wait(self, process: subprocess.Popen, start_log: pathlib.Path, index: int) -> dict | None:
        """Blocks until the kill is due: where it lands, or None when the process ended first."""
        mark = BUILD_MARKS[int(self.rng.integers(len(BUILD_MARKS)))]
        delay = float(self.rng.uniform(0.0, 1.0)) * self.reach * self.stage_s
        if not _wait_for_mark(process, start_log, mark) or not _still_running_after(process, delay):
            return None
        return {"after": mark, "delay_s": round(delay, 2)}


class StepKills:
    """Training: every third kill in start-up (after the start's "[start-up] model:" line, U[0.05, 1] x the time
    the last start took from that line to its first step done, restoring and compiling: later starts compile from
    the persistent cache, far faster than the first); the others at a random step: once metrics.jsonl logs step t
    (t drawn from the `advance` steps after the start's resume step), U[0, 1] x a mean step later, so they fall
    inside steps and checkpoint writes and every start gets a little further."""

    def __init__(self, workdir: pathlib.Path, steps: int, startup_s: float, step_s: float, rng, advance: int = 4):
        self.workdir, self.steps, self.rng, self.advance = workdir, steps, rng, advance
        self.startup_s, self.step_s = startup_s, step_s

    def wait(self, process: subprocess.Popen, start_log: pathlib.Path, index: int) -> dict | None:
        """Blocks until the kill is due: where it lands, or None when the process ended first (or no step is left
        to kill at)."""
        if not _wait_for_mark(process, start_log, TRAIN_MARKS[0]):
            return None
        model_seen = time.perf_counter()
        if index % 3 == 2:
            delay = float(self.rng.uniform(0.05, 1.0)) * self.startup_s
            return {"in": "start-up", "delay_s": round(delay, 2)} if _still_running_after(process, delay) else None
        if not _wait_for_mark(process, start_log, TRAIN_MARKS[1]):
            return None  # metrics.jsonl is cut to the resume step before the first step: its rows are this start's
        self.startup_s = time.perf_counter() - model_seen
        resumed = re.search(r"resumed from step (\d+)", start_log.read_text(errors="replace"))
        resumed = int(resumed.group(1)) if resumed else 0
        target = resumed + 1 + int(self.rng.integers(0, self.advance))
        if target >= self.steps:
            return None
        while max(_logged_steps(self.workdir), default=-1) < target:
            if process.poll() is not None:
                return None
            time.sleep(0.05)
        delay = float(self.rng.uniform(0.0, 1.0)) * self.step_s
        info = {"in": "steps", "at_step": target, "delay_s": round(delay, 2)}
        return info if _still_running_after(process, delay) else None


def run_with_kills(
    command: list[str], kills: int, plan, log: pathlib.Path, workdir: pathlib.Path | None = None
) -> dict:
    """Starts `command` again and again, SIGKILLing each start when `plan.wait` says, until `kills` kills landed;
    then one start runs to the end. Counts starts that failed by themselves and records where each kill landed."""
    landed, failed, starts, where = 0, 0, 0, []
    start_log = log.with_name("start.txt")
    while True:
        starts += 1
        with start_log.open("wb") as out:
            process = subprocess.Popen(
                command, cwd=REPO, stdout=out, stderr=subprocess.STDOUT, start_new_session=True, env=UNBUFFERED
            )  # fmt: skip
        code = None
        try:
            kill = plan.wait(process, start_log, landed) if landed < kills else None
            if kill is not None and process.poll() is None:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
                landed += 1
                where.append({**kill, **_where(workdir)})
                print(f"  kill {landed}/{kills}: {where[-1]}", flush=True)
            else:
                code = process.wait()
        finally:
            with log.open("ab") as out:
                out.write(start_log.read_bytes())
        if code is None:
            continue
        if code != 0:
            failed += 1
            print(f"  a start failed by itself (exit {code}); see {log}", flush=True)
            if failed > 3:
                break
            continue
        if landed < kills:
            print(f"  the run finished before kill {landed + 1} of this run", flush=True)
        break  # a start ran to the end: the run is complete
    return {"kills": landed, "starts": starts, "failed_resumes": failed, "kills_at": where}


def losses(workdir: pathlib.Path) -> dict[int, float]:
    rows = [json.loads(line) for line in (workdir / "metrics.jsonl").read_text().splitlines() if line.strip()]
    return {row["step"]: row["loss"] for row in rows if "loss" in row}


def leftover_names(root: pathlib.Path) -> set[str]:
    """Relative paths of temporary or incomplete folders under root (what a killed writer leaves)."""
    marks = ("tmp", "incomplete", "partial")
    return {str(p.relative_to(root)) for p in root.rglob("*") if p.is_dir() and any(m in p.name for m in marks)}


def dataset_files(data_dir: pathlib.Path) -> dict[str, bytes]:
    return {str(p.relative_to(data_dir)): p.read_bytes() for p in sorted(data_dir.rglob("*.array_record-*"))}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--train_kills", type=int, default=14)
    parser.add_argument("--build_kills", type=int, default=6)
    parser.add_argument("--steps", type=int, default=40, help="training steps of each run")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--reach", type=float, default=1.0,
                        help="build kills come U[0, 1] x reach x a quarter of the uninterrupted build's time after a "
                        "stage line")  # fmt: skip
    parser.add_argument("--output", help="also write the results as JSON here")
    args = parser.parse_args()
    rng = np.random.default_rng(args.seed)
    results = {}
    with tempfile.TemporaryDirectory(prefix="kill_resume_") as tmp:
        tmp = pathlib.Path(tmp)
        log = tmp / "log.txt"
        if args.train_kills:
            print("training: the uninterrupted run", flush=True)
            code, seconds = run_to_end(train_command(tmp / "ref", args.steps), log, TRAIN_MARKS)
            if code != 0:
                raise SystemExit(f"the uninterrupted training run failed (exit {code}): {log.read_text()[-2000:]}")
            plan = StepKills(
                tmp / "killed", args.steps, startup_s=seconds[TRAIN_MARKS[0]] - seconds[TRAIN_MARKS[1]],
                step_s=seconds[TRAIN_MARKS[1]] / max(1, args.steps - 1), rng=rng,
            )  # fmt: skip
            killed = run_with_kills(train_command(tmp / "killed", args.steps), args.train_kills, plan, log,
                                    tmp / "killed")  # fmt: skip
            ref, got = losses(tmp / "ref"), losses(tmp / "killed")
            killed["divergences"] = sum(ref[s] != got.get(s) for s in ref) + len(set(got) - set(ref))
            killed["orphans"] = sorted(leftover_names(tmp / "killed") - leftover_names(tmp / "ref"))
            killed["uninterrupted_seconds"] = {str(k): round(v, 1) for k, v in seconds.items()}
            results["training"] = killed
        if args.build_kills:
            print("builds: the uninterrupted build", flush=True)
            code, _ = run_to_end(build_command(tmp / "ref_data"), log)
            # Again, with the body model's programs in the compilation cache as the killed builds will have them:
            # it times the stages, and must match the first byte for byte.
            code_again, seconds = run_to_end(build_command(tmp / "ref_data_again"), log, BUILD_MARKS[:1])
            if code != 0 or code_again != 0:
                raise SystemExit(f"the uninterrupted build failed (exit {code}): {log.read_text()[-2000:]}")
            plan = StageKills(seconds[BUILD_MARKS[0]] / len(BUILD_MARKS), rng, args.reach)
            ref = dataset_files(tmp / "ref_data")
            again = dataset_files(tmp / "ref_data_again")
            killed = {"kills": 0, "starts": 0, "failed_resumes": 0, "kills_at": [], "divergences": 0, "orphans": [],
                      "chains": 0}  # fmt: skip
            killed["uninterrupted_builds_differ"] = sum(ref[n] != again.get(n) for n in ref) + len(
                set(again) - set(ref)
            )
            # A build that finishes before its next kill is complete: the remaining kills go to a new build.
            while killed["kills"] < args.build_kills and killed["chains"] < 3 * args.build_kills:
                folder = tmp / f"killed_data_{killed['chains']}"
                chain = run_with_kills(build_command(folder), args.build_kills - killed["kills"], plan, log)
                got = dataset_files(folder)
                killed["chains"] += 1
                for key in ("kills", "starts", "failed_resumes", "kills_at"):
                    killed[key] += chain[key]
                killed["divergences"] += sum(ref[n] != got.get(n) for n in ref) + len(set(got) - set(ref))
                killed["orphans"] += sorted(leftover_names(folder) - leftover_names(tmp / "ref_data"))
                if chain["failed_resumes"] > 3:
                    break
            killed["uninterrupted_seconds"] = {str(k): round(v, 1) for k, v in seconds.items()}
            results["builds"] = killed
    print(json.dumps(results, indent=2))
    if args.output:
        pathlib.Path(args.output).write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
