"""Error bounds of the fused CPU kernels' own float32 vector math, over every float32 input.

See ``focalloss.benchmark.vector_math`` for what is measured and how.

    python benchmarks/vector_math.py [--step 1]
"""

from focalloss.benchmark.vector_math import main

if __name__ == "__main__":
    main()
