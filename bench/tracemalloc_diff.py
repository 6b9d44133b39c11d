"""What grew in a web worker between two tracemalloc snapshots written by
`bench/load_test.py --tracemalloc DIR`:

    .venv/bin/python bench/tracemalloc_diff.py DIR            # first vs last, per worker
    .venv/bin/python bench/tracemalloc_diff.py DIR --top 40 --group lineno

For each worker it prints the traced total at each snapshot, then the allocation sites
whose size grew the most from the first snapshot to the last (tracemalloc's own frames
left out), with the product's frames first in each traceback.
"""

from __future__ import annotations

import argparse
import re
import sys
import tracemalloc
from collections import defaultdict
from pathlib import Path

SNAP = re.compile(r"(?P<pid>\d+)-(?P<n>\d+)\.snap$")
IGNORED = (
    tracemalloc.Filter(False, tracemalloc.__file__),
    tracemalloc.Filter(False, "<frozen importlib._bootstrap>"),
    tracemalloc.Filter(False, "<frozen importlib._bootstrap_external>"),
)


def snapshots(directory: Path) -> dict[int, list[Path]]:
    by_pid: dict[int, list[Path]] = defaultdict(list)
    for path in sorted(directory.glob("*.snap")):
        if match := SNAP.search(path.name):
            by_pid[int(match["pid"])].append(path)
    return by_pid


def load(path: Path) -> tracemalloc.Snapshot:
    return tracemalloc.Snapshot.load(str(path)).filter_traces(IGNORED)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=" ".join(__doc__.split("\n\n")[0].split()))
    parser.add_argument("directory", type=Path)
    parser.add_argument("--top", type=int, default=25)
    parser.add_argument("--group", choices=("traceback", "lineno", "filename"), default="traceback")
    parser.add_argument("--first", type=int, default=0, help="index of the baseline snapshot")
    args = parser.parse_args(argv)
    found = snapshots(args.directory)
    if not found:
        print(f"no <pid>-<n>.snap files in {args.directory}", file=sys.stderr)
        return 1
    for pid, paths in found.items():
        if len(paths) <= args.first + 1:
            print(f"worker {pid}: {len(paths)} snapshot(s), need two after --first")
            continue
        totals = [sum(s.size for s in load(p).statistics("filename")) / 2**20 for p in paths]
        print(f"worker {pid}: traced MiB per snapshot " + " ".join(f"{t:.1f}" for t in totals))
        old, new = load(paths[args.first]), load(paths[-1])
        diffs = new.compare_to(old, args.group)
        print(f"  grew most, {paths[args.first].name} -> {paths[-1].name}:")
        for stat in diffs[: args.top]:
            print(
                f"  {stat.size_diff / 1024:+9.1f} KiB {stat.count_diff:+7d} blocks"
                f"  (now {stat.size / 1024:.1f} KiB in {stat.count})"
            )
            frames = stat.traceback.format(most_recent_first=True)
            for line in frames[: 2 * 8]:
                print(f"      {line}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
