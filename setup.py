"""Build the optional fused CPU kernels; everything else is declared in pyproject.toml.

The extension needs only a C compiler (no torch headers). If it cannot be built, the install still
succeeds and the losses run on the plain PyTorch backend.
"""

import platform

from setuptools import Extension, setup

# cpu_kernels.c calls glibc's vector math library (libmvec) on x86-64 Linux; elsewhere plain libm.
GLIBC_X86_64 = platform.machine() in ("x86_64", "AMD64") and platform.libc_ver()[0] == "glibc"

setup(
    ext_modules=[
        Extension(
            "focalloss.backends._cpu_kernels",
            sources=["src/focalloss/backends/cpu_kernels.c"],
            depends=["src/focalloss/backends/cpu_kernels.h"],
            extra_compile_args=["-O3", "-fopenmp-simd", "-fno-math-errno", "-fno-trapping-math", "-pthread"],
            extra_link_args=["-pthread"],
            libraries=["mvec", "m"] if GLIBC_X86_64 else ["m"],
            optional=True,
        )
    ]
)
