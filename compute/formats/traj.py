"""ASE trajectories (ULM ``.traj``): structures. Old pickle-based trajectories are refused; the
bytes go to a fixed name in a fresh temporary directory because ASE reads them from a file."""

from __future__ import annotations

import os
import tempfile

from ..datasets import Dataset, DatasetError
from ._common import ase_iread, structures_dataset
from ._registry import register

__all__ = ["read_traj"]


def read_traj(data: bytes, name: str) -> Dataset:
    if not data.startswith((b"- of Ulm", b"AFFormat")):
        raise DatasetError(
            f"{name}: not an ASE trajectory (ULM) file. Old pickle-based trajectories are refused;"
            f" convert them with `python -m ase.io.trajectory` on a trusted machine."
        )
    with tempfile.TemporaryDirectory(prefix="explorer-") as tmp:
        path = os.path.join(tmp, "upload.traj")
        with open(path, "wb") as fd:
            fd.write(data)
        frames = ase_iread(path, "traj", name, "ASE trajectory")
    return structures_dataset(frames, name)


register("traj", "ASE trajectory", (".traj",), read_traj, aliases=("trajectory",), gzip=False)
