"""``python -m compute.bench [soap|maps|descriptors|read|tensors|nice] [options]``; with no benchmark named, runs them all."""

from __future__ import annotations

import importlib
import sys

BENCHMARKS = {"soap": "compute.bench.soap", "maps": "compute.bench.maps", "descriptors": "compute.bench.descriptors",
              "read": "compute.bench.read", "tensors": "compute.bench.tensors", "nice": "compute.bench.nice"}


def main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] in ("-h", "--help"):
        print(__doc__.strip())
        print("benchmarks: " + ", ".join(BENCHMARKS) + "  (each takes --help)")
        return 0
    if argv and argv[0] in BENCHMARKS:
        names, rest = [argv[0]], argv[1:]
    else:
        names, rest = list(BENCHMARKS), argv
    for name in names:
        module = importlib.import_module(BENCHMARKS[name])
        print(f"== {name} ==", flush=True)
        status = module.main(rest)
        if status:
            return status
    return 0


if __name__ == "__main__":
    sys.exit(main())
