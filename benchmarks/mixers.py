"""`python benchmarks/mixers.py [options]` is `fwp bench mixers [options]`.

See benchmarks/README.md.
"""

import sys
from pathlib import Path

# Run from a checkout without installing: the repository root holds the package.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from fastweights.cli import main

if __name__ == "__main__":
    raise SystemExit(main(["bench", "mixers", *sys.argv[1:]]))
