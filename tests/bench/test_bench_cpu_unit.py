"""bench/cpu.py: a process that says nothing of itself (uvicorn ``--workers``' children are
``python -c "from multiprocessing.spawn ..."``) counts as the part of its parent. Real processes."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

from bench.cpu import cpu_by_part

# the child: 0.3 s of CPU, then it waits (so that it is still there to be read)
CHILD = "import time\nt = time.process_time()\nwhile time.process_time() - t < 0.3: pass\ntime.sleep(10)\n"


def test_a_child_that_says_nothing_of_itself_counts_as_its_parents_part() -> None:
    # the parent names itself gateway.main (as uvicorn's command line does); its child is anonymous
    parent = f"import subprocess, sys; subprocess.run([sys.executable, '-c', {CHILD!r}])"
    process = subprocess.Popen([sys.executable, "-c", parent, "gateway.main"], start_new_session=True)
    try:
        deadline = time.monotonic() + 20
        spent = cpu_by_part()
        while spent["gateway"] < 0.25 and time.monotonic() < deadline:
            time.sleep(0.1)
            spent = cpu_by_part()
        assert spent["gateway"] >= 0.25, spent
        assert spent.get("other", 0.0) < 0.25, spent
    finally:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
