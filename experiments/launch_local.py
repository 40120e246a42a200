"""Run one binary as N processes of a multi-host run on this machine, over 127.0.0.1.

    python -m experiments.launch_local --processes=2 --devices_per_process=2 -- \
        python -m experiments.train --config=smoke --workdir=/tmp/run

Each process gets --coordinator_address (a free port of 127.0.0.1), --num_processes and --process_id
appended, and on CPU `devices_per_process` forced host devices, so that 2 x 2 here is the mesh a pod
with 2 hosts of 2 chips would build. For trying multi-host runs and for the tests and benchmarks of
them; on real hosts run the command on each with the flags yourself.
"""

from __future__ import annotations

import dataclasses
import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence

from absl import app, flags

from ltsh_jax.cpu_flags import TUNED_MALLOC_ENV


@dataclasses.dataclass
class ProcessResult:
    """One process's exit status and output."""

    process_id: int
    returncode: int
    stdout: str
    stderr: str


class LocalProcess(subprocess.Popen):
    """A process `start` launched, with the temporary files its stdout and stderr go to (read back by `wait`)."""

    def __init__(self, args: Sequence[str], **kwargs):
        self.output_files = (tempfile.TemporaryFile("w+"), tempfile.TemporaryFile("w+"))
        super().__init__(args, stdout=self.output_files[0], stderr=self.output_files[1], text=True, **kwargs)

    def take_output(self) -> tuple[str, str]:
        """(stdout, stderr) of the ended process; its temporary files are closed."""
        texts = []
        for file in self.output_files:
            with file:
                file.seek(0)
                texts.append(file.read())
        return texts[0], texts[1]


def free_port() -> int:
    """A TCP port of 127.0.0.1 that nothing listens on now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def process_env(devices_per_process: int, base: dict | None = None) -> dict:
    """The environment of one process: CPU platform, `devices_per_process` forced host devices."""
    env = dict(os.environ if base is None else base)
    kept = [f for f in env.get("XLA_FLAGS", "").split() if not f.startswith("--xla_force_host_platform_device_count")]
    env["XLA_FLAGS"] = " ".join([*kept, f"--xla_force_host_platform_device_count={devices_per_process}"])
    env.setdefault("JAX_PLATFORMS", "cpu")
    return {**TUNED_MALLOC_ENV, **env}


def compile_cache_env(cache_dir: str | os.PathLike, base: dict | None = None) -> dict:
    """`base` (default os.environ) with a persistent compilation cache in `cache_dir` that keeps every program.
    Only one-process runs use it: a multi-process CPU run switches it off (ltsh_jax/distributed.py says why)."""
    return {**(os.environ if base is None else base), "JAX_COMPILATION_CACHE_DIR": str(cache_dir),
            "JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS": "0"}  # fmt: skip


def start(command: Sequence[str], processes: int, devices_per_process: int, cwd: str | None = None,
          env: dict | None = None, port: int | None = None) -> list[LocalProcess]:  # fmt: skip
    """Starts `command` `processes` times with the multi-host flags appended; returns the Popen objects.

    Each process writes its output to its own temporary files (read back by `wait`), never to a pipe: a
    pipe nobody drains fills up, the process blocks on a write, and the others time out in a collective.
    """
    address = f"127.0.0.1:{port or free_port()}"
    procs = []
    for i in range(processes):
        procs.append(LocalProcess(
            [*command, f"--coordinator_address={address}", f"--num_processes={processes}", f"--process_id={i}"],
            cwd=cwd, env=process_env(devices_per_process, env),
        ))  # fmt: skip
    return procs


def wait(procs: Sequence[LocalProcess], timeout: float) -> list[ProcessResult]:
    """Waits for every process and collects their output. When `timeout` seconds pass, the ones still running
    are killed (their return code is then negative, -SIGKILL) and their output so far is collected all the same."""
    deadline = time.monotonic() + timeout
    try:
        for proc in procs:
            proc.wait(timeout=max(deadline - time.monotonic(), 1))
    except subprocess.TimeoutExpired:
        pass  # killed below
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    return [ProcessResult(i, proc.returncode, *proc.take_output()) for i, proc in enumerate(procs)]


def run(command: Sequence[str], processes: int, devices_per_process: int, timeout: float = 600, **kwargs
        ) -> list[ProcessResult]:  # fmt: skip
    """`start` then `wait`: the results of every process, in process order."""
    return wait(start(command, processes, devices_per_process, **kwargs), timeout)


_PROCESSES = flags.DEFINE_integer("processes", 2, "Number of processes.")
_DEVICES = flags.DEFINE_integer("devices_per_process", 1, "Forced CPU devices per process.")
_TIMEOUT = flags.DEFINE_float("timeout", 24 * 3600, "Kill every process after this many seconds.")


def main(argv):
    command = argv[1:]
    if not command:
        raise app.UsageError("give the command after --, e.g. -- python -m experiments.train --config=smoke ...")
    results = run(command, _PROCESSES.value, _DEVICES.value, _TIMEOUT.value)
    for r in results:
        sys.stdout.write(r.stdout)
        sys.stderr.write(f"--- process {r.process_id} exited {r.returncode}\n{r.stderr[-4000:]}")
    sys.exit(max((r.returncode for r in results), key=abs))


if __name__ == "__main__":
    app.run(main)
