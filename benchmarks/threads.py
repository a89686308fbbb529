"""How the fused CPU kernels scale from one thread to several, on ``focalloss bench``'s cases.

See ``focalloss.benchmark.threads`` for what is measured and how.

    python benchmarks/threads.py [--threads 2] [--repeats 9] [--rounds 3] [--quick]
"""

from focalloss.benchmark.threads import main

if __name__ == "__main__":
    main()
