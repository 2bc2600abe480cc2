"""Pack what a training run on a lent GPU needs beyond the repository (issue 15):
python scripts/gpu_carry.py  ->  .gpu_carry/data/mocap/*.npz

The device tool sends the working tree and the paths named in its ``carry`` (64 MiB in all),
not ../shared. The four mocap archives are 97 MB as float32 millimetres; as int16 millimetres,
compressed, they are 33 MB (1 mm rounding, below the 5% bone jitter of every recipe). The
sources loader reads either (it converts to float64 metres). scripts/gpu_train.sh points
../shared/data at this folder on the device, so the configs run unchanged.
"""

import glob
import os

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SOURCE = os.path.join(ROOT, "..", "shared", "data", "mocap")
TARGET = os.path.join(ROOT, ".gpu_carry", "data", "mocap")


def main():
    os.makedirs(TARGET, exist_ok=True)
    total = 0
    for path in sorted(glob.glob(os.path.join(SOURCE, "*.npz"))):
        with np.load(path) as archive:
            arrays = {k: archive[k] for k in archive.files}
        largest = max(float(np.abs(a).max()) for a in arrays.values())
        if largest >= 32767:
            raise SystemExit(f"{path}: a coordinate of {largest:.0f} mm does not fit int16")
        out = os.path.join(TARGET, os.path.basename(path))
        np.savez_compressed(out, **{k: np.round(a).astype(np.int16) for k, a in arrays.items()})
        total += os.path.getsize(out)
        print(f"{out}: {os.path.getsize(out) / 1e6:.1f} MB")
    print(f"{total / 1e6:.1f} MB in {TARGET}")


if __name__ == "__main__":
    main()
