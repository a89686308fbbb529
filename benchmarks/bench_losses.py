"""Forward+backward time and memory kept for backward of focalloss against the floor and the peers.

The same as ``focalloss bench``; see ``focalloss.benchmark`` for what is measured and how.

    python benchmarks/bench_losses.py                      # the issue's sizes, CPU, 2 threads
    python benchmarks/bench_losses.py --device cuda --dtype bfloat16 --json results.json
"""

import sys

from focalloss.cli import main

if __name__ == "__main__":
    sys.exit(main(["bench", *sys.argv[1:]]))
