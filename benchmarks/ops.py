"""Ops speed benchmark: `python benchmarks/ops.py [options]`, the same as `fwp bench ops`.

See benchmarks/README.md; recommended environment on CPU:
`GOMP_SPINCOUNT=infinite python benchmarks/ops.py --preset issue2`.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

# Run from a checkout without installing: the repository root holds the package.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from fastweights.bench.ops import add_arguments, run


def main() -> int:
    """Parse the options, run the benchmark; bad option values give one line and exit code 2."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    add_arguments(parser)
    args = parser.parse_args()
    try:
        return run(args)
    except (ValueError, TypeError, FileNotFoundError, KeyError) as error:
        print(f"{parser.prog}: error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
