"""Build the optional fused CPU kernels; everything else is declared in pyproject.toml.

The extension needs only a C compiler (no torch headers). If it cannot be built, the install still
succeeds, says so in a warning, and the losses run on the plain PyTorch backend.
"""

import os
import platform
import sys

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

# cpu_kernels.c's float64 kernels call glibc's vector math library (libmvec) on x86-64 Linux; elsewhere plain libm.
GLIBC_X86_64 = platform.machine() in ("x86_64", "AMD64") and platform.libc_ver()[0] == "glibc"


class BuildOptionalKernels(build_ext):
    """Builds the fused CPU kernels; when that fails, warns in plain words and goes on without them
    (removing an older in-place build of them, which would otherwise be loaded in their place)."""

    def build_extension(self, ext):
        try:
            super().build_extension(ext)
        except Exception as error:
            package_dir = self.get_finalized_command("build_py").get_package_dir(ext.name.rpartition(".")[0])
            stale = os.path.join(package_dir, os.path.basename(self.get_ext_filename(ext.name)))
            if os.path.exists(stale):
                os.remove(stale)
            print(
                "\n" + "=" * 100 + "\n"
                f"WARNING: focalloss could not build its fused CPU kernels ({ext.name}): {error}\n"
                "The package is installed and works, but the losses run on the plain PyTorch backend,\n"
                "several times slower on the CPU. Install a C compiler (gcc or clang) and reinstall to get\n"
                "them; backend='cpu' says why it cannot run until then.\n" + "=" * 100 + "\n",
                file=sys.stderr,
            )
            raise  # an optional extension: setuptools goes on without it


setup(
    cmdclass={"build_ext": BuildOptionalKernels},
    ext_modules=[
        Extension(
            "focalloss.backends._cpu_kernels",
            sources=["src/focalloss/backends/cpu_kernels.c"],
            depends=["src/focalloss/backends/cpu_kernels.h", "src/focalloss/backends/vecmath.h"],
            extra_compile_args=["-O3", "-fopenmp-simd", "-fno-math-errno", "-fno-trapping-math", "-pthread"],
            extra_link_args=["-pthread"],
            libraries=["mvec", "m"] if GLIBC_X86_64 else ["m"],
            optional=True,
        )
    ],
)
