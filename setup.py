"""The compiled compose (colorize_cli/_compose8.c); everything else is in setup.cfg.

The extension is optional: without a C compiler the install succeeds and compose takes the
numpy path (same pixels, slower). It is a plain C library that colorize_cli.lab_kernel loads with
ctypes, so it builds without Python's or numpy's headers.
"""

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

# Same float32 operations in the same order as the numpy path (same pixels): no contraction into
# fused multiply-adds, no fast-math reassociation (-fno-trapping-math only lets selects vectorize).
_FLAGS = {"msvc": ["/O2", "/fp:precise"]}
_GCC_LIKE = ["-O3", "-ffp-contract=off", "-fno-trapping-math", "-std=c99", "-fvisibility=hidden"]


class BuildExt(build_ext):
    def build_extensions(self):
        flags = _FLAGS.get(self.compiler.compiler_type, _GCC_LIKE)
        for ext in self.extensions:
            ext.extra_compile_args = flags
        super().build_extensions()


setup(
    ext_modules=[Extension("colorize_cli._compose8", ["colorize_cli/_compose8.c"], optional=True)],
    cmdclass={"build_ext": BuildExt},
)
