"""Whether ``torch.compile`` can build CPU kernels here, asked without importing torch.

Inductor writes its CPU kernels in C++ and builds them with the compiler named by ``$CXX``, else
``g++`` (``clang++`` on macOS): ``torch._inductor.config.cpp.cxx``. A machine without one fails
on a trial's first step, minutes into a sweep; the driver asks this first, so that a local run
says so before it starts and trains eager instead (``memtune.tune.sweep``). Plain Python: the
driver never imports torch before its first trial.
"""

from __future__ import annotations

import os
import shutil
import sys


def cxx_name() -> str:
    """The C++ compiler torch.compile asks for: ``$CXX``, else the platform's default."""
    return os.environ.get("CXX") or ("clang++" if sys.platform == "darwin" else "g++")


def cxx_compiler() -> str | None:
    """The path of the C++ compiler torch.compile would use on this machine, or None."""
    return shutil.which(cxx_name())
