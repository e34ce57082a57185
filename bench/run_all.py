"""Runs every benchmark in turn and prints their figures (``make bench``; asserts nothing).

    .venv/bin/python bench/run_all.py [--production] [--quick]

``--production`` also runs the scripts that have a production mode (PostgreSQL at
127.0.0.1:5432 and Redis at 127.0.0.1:6379 must be up). ``--quick`` passes smaller sizes,
for a look in a couple of minutes rather than the full figures of docs/benchmarks.md.
"""

import argparse
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent

# (script, full-size arguments, quick arguments, has a production mode)
BENCHMARKS = [
    ("kubesim_api.py", [], ["--pods", "20000", "--events", "5000"], False),
    ("kubesim_scale.py", [], ["--nodes", "500", "--pods", "15000"], False),
    ("kubesim_runtime.py", [], ["--pods", "10", "--requests", "100"], False),
    ("kueue_admission.py", [], ["--jobs", "1000", "--steady", "100"], False),
    ("job_list.py", [], ["--jobs", "10000"], True),
    ("api_submit.py", [], ["--jobs", "200"], True),
    ("live_e2e.py", [], ["--jobs", "400", "--seconds", "3"], True),
]


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--production", action="store_true")
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    failed = []
    for script, full, quick, has_production in BENCHMARKS:
        modes = [[]] + ([["--production"]] if args.production and has_production else [])
        for mode in modes:
            command = [sys.executable, str(HERE / script), *(quick if args.quick else full), *mode]
            print(f"\n=== {script} {' '.join(command[2:])}", flush=True)
            started = time.monotonic()
            if subprocess.run(command).returncode != 0:
                failed.append(script)
            print(f"=== {script}: {time.monotonic() - started:.0f} s", flush=True)
    if failed:
        print(f"\nfailed: {', '.join(failed)}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
