"""Float32 accuracy of every loss and backend against the float64 reference, by logit scale.

See ``focalloss.benchmark.accuracy`` for what is measured and how.

    python benchmarks/accuracy.py [--backends torch,cpu,triton] [--rows 64]
"""

from focalloss.benchmark.accuracy import main

if __name__ == "__main__":
    main()
