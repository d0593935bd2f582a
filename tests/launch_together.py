"""Start `mlm-train` commands at the same instant, and in the same second of Hydra's clock.

Each command runs in its own process, which imports what `mlm-train` needs, says it is ready and waits for the
others; all then run `mlm-train` at once, against one directory and one tracking store. Hydra's `now` reads a
fixed time in them (NOW), so their default output folders collide as two launches within one second do: the
race itself, over the folders and the store, is real.
"""

import os
import subprocess
import sys
import time
from pathlib import Path

NOW = (2030, 1, 2, 3, 4, 5)  # outputs/2030-01-02/03-04-05
DAY, TIME = "2030-01-02", "03-04-05"

WRAPPER = f"""
import datetime, pathlib, sys, time
import hydra.core.utils, mlflow, torch
import mlm_lab.runner
from mlm_lab.apps import train

class Fixed(datetime.datetime):
    @classmethod
    def now(cls, tz=None):
        return cls(*{NOW})

hydra.core.utils.datetime = Fixed  # what Hydra's ${{now:...}} resolver reads
barrier, me = pathlib.Path(sys.argv[1]), sys.argv[2]
(barrier / ("ready-" + me)).touch()
while not (barrier / "go").exists():
    time.sleep(0.002)
sys.argv = ["mlm-train", *sys.argv[3:]]
train.main()
"""


def launch_together(commands: list[list[str]], cwd: Path, tracking_uri: str, timeout: float = 240) -> list[tuple[int, str]]:
    """Run each `mlm-train` argument list in its own process, all released at once; (exit code, output) of each."""
    barrier = cwd / ".barrier"
    barrier.mkdir()
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "MLFLOW_TRACKING_URI": tracking_uri, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    logs = [barrier / f"output-{i}.txt" for i in range(len(commands))]  # files, not pipes: no process blocks on a full one
    procs = []
    for i, args in enumerate(commands):
        with open(logs[i], "w") as out:
            command = [sys.executable, "-c", WRAPPER, str(barrier), str(i), *args]
            procs.append(subprocess.Popen(command, cwd=cwd, env=env, stdout=out, stderr=out))
    try:
        deadline = time.time() + 120
        while len(list(barrier.glob("ready-*"))) < len(procs):
            assert time.time() < deadline and all(p.poll() is None for p in procs), [log.read_text()[-3000:] for log in logs]
            time.sleep(0.01)
        (barrier / "go").touch()
        return [(p.wait(timeout=timeout), log.read_text()) for p, log in zip(procs, logs)]
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
