"""Kill -9 at random times, resume, compare: training runs and dataset builds against uninterrupted ones.

    python -m benchmarks.kill_resume [--train_kills 14 --build_kills 6] [--seed 0] [--output rows.json]

Training: `experiments.train` on the real MPII samples (`smoke.py:test`, a checkpoint every 2 steps) is
run once uninterrupted, then again in another workdir where each start is SIGKILLed after a random
delay (seeded) until the kills are spent and a last start finishes. Kills alternate between two clocks:
from the start's "[start-up] model:" line (imports and data indexing done) and from its "[start-up]
compile:" line (the first step done), each drawn U[0.05, 1] x the time the uninterrupted run spent after
that line, so kills land in compiling, in steps and in checkpoint writes rather than in start-up; each kill
records the last step in metrics.jsonl and whether a checkpoint write was under way.
Builds: `data_builders.build` of a small `ltsh_synthetic/tiny` override, delays from the process start.
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


def _where(workdir: pathlib.Path | None) -> dict:
    """What a killed training start was doing: its last logged step and whether a checkpoint write was open."""
    if workdir is None:
        return {}
    metrics = workdir / "metrics.jsonl"
    steps = [json.loads(line).get("step") for line in metrics.read_text().splitlines() if line.strip().endswith("}")] \
        if metrics.exists() else []  # fmt: skip
    writing = any("tmp" in p.name for p in (workdir / "checkpoints").glob("*")) if (workdir / "checkpoints").exists() \
        else False  # fmt: skip
    return {"last_step": steps[-1] if steps else None, "checkpoint_write_open": writing}


def run_with_kills(command: list[str], kills: int, durations: dict, rng, log: pathlib.Path,
                   workdir: pathlib.Path | None = None, reach: float = 1.0) -> dict:  # fmt: skip
    """Starts `command` again and again; the i-th kill uses the i-th mark of `durations` in turn ({mark:
    seconds}, None for the start) and SIGKILLs the start U[0.05, 1.0] x seconds after that mark appears in
    its output, until `kills` kills landed; then one start runs to the end. Counts starts that failed by
    themselves and records where each kill landed."""
    clocks = list(durations.items())
    landed, failed, starts, where = 0, 0, 0, []
    start_log = log.with_name("start.txt")
    while True:
        starts += 1
        with start_log.open("wb") as out:
            process = subprocess.Popen(
                command, cwd=REPO, stdout=out, stderr=subprocess.STDOUT, start_new_session=True, env=UNBUFFERED
            )  # fmt: skip
        mark, duration = clocks[landed % len(clocks)]
        delay = float(rng.uniform(0.05, 1.0)) * reach * duration if landed < kills else None
        try:
            if delay is not None and _wait_for_mark(process, start_log, mark):
                code = process.wait(timeout=delay)
            else:
                code = process.wait()
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
            landed += 1
            where.append({"after": mark or "start", "delay_s": round(delay, 2), **_where(workdir)})
            print(
                f"  kill {landed}/{kills}: {where[-1]}",
                flush=True,
            )
            code = None
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
            print(f"  the run finished before kill {landed + 1} (use more --steps for more kills)", flush=True)
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
    parser.add_argument("--steps", type=int, default=24, help="training steps of each run")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--reach", type=float, default=1.0,
                        help="kill delays are U[0.05, 1] x reach x the uninterrupted time after the mark; below 1, "
                        "each start gets less far and more kills fit in one run")  # fmt: skip
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
            killed = run_with_kills(
                train_command(tmp / "killed", args.steps), args.train_kills, seconds, rng, log, tmp / "killed",
                args.reach,
            )  # fmt: skip
            ref, got = losses(tmp / "ref"), losses(tmp / "killed")
            killed["divergences"] = sum(ref[s] != got.get(s) for s in ref) + len(set(got) - set(ref))
            killed["orphans"] = sorted(leftover_names(tmp / "killed") - leftover_names(tmp / "ref"))
            killed["uninterrupted_seconds"] = {str(k): round(v, 1) for k, v in seconds.items()}
            results["training"] = killed
        if args.build_kills:
            print("builds: the uninterrupted build", flush=True)
            code, seconds = run_to_end(build_command(tmp / "ref_data"), log)
            if code != 0:
                raise SystemExit(f"the uninterrupted build failed (exit {code}): {log.read_text()[-2000:]}")
            killed = run_with_kills(build_command(tmp / "killed_data"), args.build_kills, seconds, rng, log)
            ref, got = dataset_files(tmp / "ref_data"), dataset_files(tmp / "killed_data")
            killed["divergences"] = sum(ref[n] != got.get(n) for n in ref) + len(set(got) - set(ref))
            killed["orphans"] = sorted(leftover_names(tmp / "killed_data") - leftover_names(tmp / "ref_data"))
            killed["uninterrupted_seconds"] = {str(k): round(v, 1) for k, v in seconds.items()}
            results["builds"] = killed
    print(json.dumps(results, indent=2))
    if args.output:
        pathlib.Path(args.output).write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
