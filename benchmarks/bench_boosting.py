"""Gradient + hessian time of the binary focal objective for tree boosting, against the peers.

See ``focalloss.benchmark.boosting`` for what is measured and how.

    python benchmarks/bench_boosting.py                     # 1M rows, 15 rounds
    python benchmarks/bench_boosting.py --rows 100000 --rounds 30 --json results.json
"""

from focalloss.benchmark.boosting import main

if __name__ == "__main__":
    main()
