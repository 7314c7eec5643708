"""How much of the public API of ifg and ylg is annotated.

Usage:  .venv/bin/python benchmarks/annotation_coverage.py [--per-file] [--missing]

Counts the parameters (``self``/``cls`` excepted) and the returns of the public callables
(tests/public_api.py says which), and prints annotated / all for each, overall and per file.
"""

import argparse
import sys
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.public_api import slots  # noqa: E402
from tests.test_typing import NOT_YET_ANNOTATED  # noqa: E402


def _ratio(found):
    done = sum(s.annotated for s in found)
    return f"{done}/{len(found)} ({100 * done / max(len(found), 1):.1f}%)"


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--per-file", action="store_true", help="a line for each file")
    parser.add_argument("--missing", action="store_true", help="list what lacks an annotation")
    args = parser.parse_args()
    found = slots()
    params = [s for s in found if s.name != "return"]
    returns = [s for s in found if s.name == "return"]
    print(f"callables:  {len({s.where for s in found})}")
    print(f"parameters: {_ratio(params)}")
    print(f"returns:    {_ratio(returns)}")
    print(f"both:       {_ratio(found)}")
    rest = [s for s in found if s.file not in NOT_YET_ANNOTATED]
    print(f"without the {len(NOT_YET_ANNOTATED)} files of tests/test_typing.py's NOT_YET_ANNOTATED: "
          f"parameters {_ratio([s for s in rest if s.name != 'return'])}, "
          f"returns {_ratio([s for s in rest if s.name == 'return'])}")
    if args.per_file:
        by_file = defaultdict(list)
        for s in found:
            by_file[s.file].append(s)
        for file, group in sorted(by_file.items()):
            print(f"  {file:32s} params {_ratio([s for s in group if s.name != 'return']):18s}"
                  f" returns {_ratio([s for s in group if s.name == 'return'])}")
    if args.missing:
        for s in found:
            if not s.annotated:
                print(f"  {s.file}: {s}")


if __name__ == "__main__":
    main()
