"""Build time of one small ltsh_synthetic config through the plain path and through Apache Beam, side by side.

Each build is a fresh process running data_builders.build (as a user would), into its own data_dir; the
modes alternate within each round (interleaved, the order rotating from round to round) so that the load of
others on a shared machine hits them alike. Reported per mode: the median wall time of the whole process
and of the build call alone (imports excluded; the body model's JAX compilation and the GL context
included), and the ratio to the plain path. Every build's records must be byte-identical to the first's.

Modes: plain; beam (FnApiRunner, in process, one worker); beam_mp2 (two worker processes,
--direct_running_mode=multi_processing: each loads the body model and opens its own GL context).

Run from the repository root:
    python -m benchmarks.beam_build [--rounds 3] [--modes plain,beam] [--override num_train=6 ...]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import pathlib
import statistics
import subprocess
import sys
import tempfile
import time

MODES = {
    "plain": [],
    "beam": ["--beam"],
    "beam_mp2": ["--beam_options=--direct_running_mode=multi_processing --direct_num_workers=2"],
}
CHILD = (
    "import sys, time; t = time.perf_counter(); from data_builders.build import main; t0 = time.perf_counter(); "
    "main(sys.argv[1:]); print('BUILD_SECONDS', time.perf_counter() - t0, 'IMPORT_SECONDS', t0 - t)"
)


def record_digest(data_dir: pathlib.Path) -> str:
    """SHA-256 over every array_record file of the build (names and bytes, in name order)."""
    digest = hashlib.sha256()
    for path in sorted(data_dir.rglob("*.array_record-*")):
        digest.update(path.name.encode() + path.read_bytes())
    return digest.hexdigest()


def run_build(mode: str, data_dir: pathlib.Path, args: argparse.Namespace) -> dict:
    """One build in a fresh process: wall seconds of the process and of the build call."""
    argv = [sys.executable, "-c", CHILD, f"ltsh_synthetic/{args.config}", f"--data_dir={data_dir}", *MODES[mode]]
    for item in args.override:
        argv += ["--config_override", item]
    start = time.perf_counter()
    done = subprocess.run(argv, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - start
    if done.returncode:
        raise RuntimeError(f"{mode} build failed:\n{done.stderr[-4000:]}")
    build_seconds = float(done.stdout.split("BUILD_SECONDS")[1].split()[0])
    return {"wall_s": wall, "build_s": build_seconds, "records": record_digest(data_dir)}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--modes", default="plain,beam", help=f"comma-separated, of {sorted(MODES)}")
    parser.add_argument("--config", default="tiny")
    parser.add_argument("--override", action="append", default=None, help="FIELD=VALUE (default 6 + 2 images)")
    parser.add_argument("--output", help="write the results as JSON here")
    args = parser.parse_args(argv)
    args.override = args.override or ["num_train=6", "num_validation=2"]
    modes = args.modes.split(",")
    unknown = sorted(set(modes) - set(MODES))
    if unknown:
        parser.error(f"unknown modes {unknown}; known: {sorted(MODES)}")
    results: dict[str, list[dict]] = {mode: [] for mode in modes}
    with tempfile.TemporaryDirectory() as tmp:
        for round_ in range(args.rounds):
            for mode in modes[round_ % len(modes) :] + modes[: round_ % len(modes)]:
                result = run_build(mode, pathlib.Path(tmp) / f"{mode}_{round_}", args)
                results[mode].append(result)
                print(f"round {round_} {mode}: wall {result['wall_s']:.1f} s, build {result['build_s']:.1f} s")
    digests = {r["records"] for rs in results.values() for r in rs}
    summary = {
        "config": args.config,
        "overrides": args.override,
        "rounds": args.rounds,
        "load_average": os.getloadavg(),
        "identical_records": len(digests) == 1,
        "modes": {},
    }
    base = modes[0]
    for mode in modes:
        wall = statistics.median(r["wall_s"] for r in results[mode])
        build_s = statistics.median(r["build_s"] for r in results[mode])
        summary["modes"][mode] = {"median_wall_s": wall, "median_build_s": build_s}
    for mode in modes:
        entry = summary["modes"][mode]
        entry[f"build_ratio_to_{base}"] = entry["median_build_s"] / summary["modes"][base]["median_build_s"]
    print(json.dumps(summary, indent=2))
    if args.output:
        pathlib.Path(args.output).write_text(json.dumps(summary, indent=2))
    if not summary["identical_records"]:
        raise SystemExit("the builds wrote different records")


if __name__ == "__main__":
    main()
