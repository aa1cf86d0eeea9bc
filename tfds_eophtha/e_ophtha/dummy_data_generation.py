"""Writes dummy_data/: a small synthetic e-ophtha tree for the builder's tests.

    python -m tfds_eophtha.e_ophtha.dummy_data_generation
"""

import pathlib
import shutil

from retina_tf.data import synthetic

DUMMY_DATA = pathlib.Path(__file__).parent / "dummy_data"
# 8 lesion photographs (2 of them in both sets) and 4 healthy ones, 2 per patient.
SPEC = synthetic.SyntheticEophtha(
    exudate_photographs=5, exudate_healthy=2, microaneurysm_photographs=5, microaneurysm_healthy=2,
    shared_photographs=2, photographs_per_patient=2, sizes=((240, 160), (288, 192)), seed=2013)


def main():
    shutil.rmtree(DUMMY_DATA, ignore_errors=True)
    written = synthetic.write_synthetic_eophtha(DUMMY_DATA, SPEC)
    print(f"wrote {len(written)} photographs to {DUMMY_DATA}")


if __name__ == "__main__":
    main()
