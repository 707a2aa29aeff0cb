"""Run each fuzz target for a while, one after another, and say what each did (`make fuzz FUZZ_SECONDS=...`).

    .venv/bin/python fuzz/run.py --seconds 60 [target ...]

Limits of issue 19: two seconds an input, 1 GB of memory. Each target grows its working corpus in
var/fuzz/corpus/<target> from the committed seeds in fuzz/corpus/<target>; a crashing input is saved in
var/fuzz/crashes/<target>/ and the whole output in var/fuzz/<target>.log. Exits 1 if any target crashed.
"""

import argparse
import re
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
VAR = HERE.parent / "var" / "fuzz"
# target -> the longest input to try, in bytes: room for a few mutations beyond the largest seed
TARGETS = {"image_intake": 8192, "api_multipart": 8192, "backup_import": 16384, "chat_markdown": 4096}


def run(target: str, seconds: int) -> bool:
    corpus, crashes, log = VAR / "corpus" / target, VAR / "crashes" / target, VAR / f"{target}.log"
    corpus.mkdir(parents=True, exist_ok=True)
    crashes.mkdir(parents=True, exist_ok=True)
    earlier = set(crashes.iterdir())  # inputs from earlier runs stay, and are not counted again
    command = [
        sys.executable,
        str(HERE / f"{target}.py"),
        f"-max_total_time={seconds}",
        "-timeout=2",
        "-rss_limit_mb=1024",
        f"-max_len={TARGETS[target]}",
        "-print_final_stats=1",
        f"-artifact_prefix={crashes}/",
        str(corpus),
        str(HERE / "corpus" / target),
    ]
    with log.open("w") as out:
        returncode = subprocess.run(command, stdout=out, stderr=subprocess.STDOUT, check=False).returncode
    text = log.read_text(errors="replace")
    found = sorted(path.name for path in set(crashes.iterdir()) - earlier)
    crashed = returncode != 0 or bool(found)
    outcome = f"CRASHED (exit {returncode}): {', '.join(found)} in {crashes}; see {log}" if crashed else "0 crashes"
    print(f"{target}: {summary(text)}; corpus {len(list(corpus.iterdir()))} files; {outcome}", flush=True)
    return not crashed


def summary(log: str) -> str:
    """Executions, executions a second, and the last coverage figures libFuzzer printed."""
    status = re.findall(r"^#(\d+)\s+\w+\s+cov: (\d+) ft: (\d+)", log, re.MULTILINE)
    runs = re.search(r"stat::number_of_executed_units: (\d+)", log)
    speed = re.search(r"stat::average_exec_per_sec:\s+(\d+)", log)
    executions = runs.group(1) if runs else (status[-1][0] if status else "0")
    cov, ft = (status[-1][1], status[-1][2]) if status else ("?", "?")
    return f"{executions} executions ({speed.group(1) if speed else '?'}/s), cov {cov}, ft {ft}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=60, help="how long to run each target")
    parser.add_argument("targets", nargs="*", help=f"some of {', '.join(TARGETS)} (all when none is named)")
    args = parser.parse_args()
    if unknown := set(args.targets) - set(TARGETS):
        parser.error(f"no such target: {', '.join(sorted(unknown))}")
    results = [run(target, args.seconds) for target in args.targets or TARGETS]
    sys.exit(0 if all(results) else 1)


if __name__ == "__main__":
    main()
