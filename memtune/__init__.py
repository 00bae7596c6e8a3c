"""memtune: memorization experiments as Ray Tune sweeps.

Importing memtune keeps a local Ray on loopback: on Linux, Ray 2.60's plain ray.init() binds its
GCS to the machine's network address unless RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0 is set before
`ray` is imported (checked with ss -ltnp). Every entry point imports memtune before ray.
"""

import os

os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
