"""experiments/launch_local.py: each process's flags, exit status and output, without a pipe that can fill up."""

import sys

from experiments import launch_local

# Prints its process id and the coordinator flags it was given, writes 1 MB to stderr (far past a pipe's
# 64 KB buffer: a launcher reading pipes only at the end would hang here) and exits with its process id.
_CHILD = """
import sys
flags = dict(a.lstrip("-").split("=", 1) for a in sys.argv[1:])
print(flags["process_id"], flags["num_processes"], flags["coordinator_address"])
sys.stderr.write("x" * 1_000_000)
sys.exit(int(flags["process_id"]))
"""


def test_every_process_gets_its_flags_and_its_own_output_back():
    results = launch_local.run([sys.executable, "-c", _CHILD], processes=3, devices_per_process=1, timeout=60)
    assert [r.process_id for r in results] == [0, 1, 2]
    assert [r.returncode for r in results] == [0, 1, 2]
    lines = [r.stdout.split() for r in results]
    assert [line[:2] for line in lines] == [["0", "3"], ["1", "3"], ["2", "3"]]
    addresses = {line[2] for line in lines}
    assert len(addresses) == 1 and addresses.pop().startswith("127.0.0.1:")  # one coordinator, on loopback
    assert all(len(r.stderr) == 1_000_000 for r in results)


def test_a_process_past_the_timeout_is_killed_and_its_output_still_read():
    procs = launch_local.start([sys.executable, "-c", "import time; print('started', flush=True); time.sleep(60)"],
                               processes=1, devices_per_process=1)  # fmt: skip
    [result] = launch_local.wait(procs, timeout=3)
    assert result.returncode == -9  # SIGKILL
    assert result.stdout == "started\n"
    assert all(file.closed for file in procs[0].output_files)
