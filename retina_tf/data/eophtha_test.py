"""Tests for reading e-ophtha trees: merging both sets, listing every problem, splits."""

import collections
import shutil

import cv2
import numpy as np
import pytest

from retina_tf.data import eophtha, synthetic


@pytest.fixture(scope="module")
def tree(tmp_path_factory):
    root = tmp_path_factory.mktemp("eophtha")
    spec = synthetic.SyntheticEophtha(exudate_photographs=4, microaneurysm_photographs=5, exudate_healthy=2,
                                      microaneurysm_healthy=3, shared_photographs=2, sizes=((160, 106),))
    return root, synthetic.write_synthetic_eophtha(root, spec)


def test_scan_merges_shared_photographs_and_knows_each_lesion_status(tree):
    root, written = tree
    photographs = eophtha.scan(root)
    assert len(photographs) == len(written) == 4 + 5 - 2 + 2 + 3
    by_key = {p.key: p for p in photographs}
    for photo in written:
        found = by_key[f"{photo.patient}/{photo.stem}"]
        expected = {
            "exudate": eophtha.ANNOTATED if photo.exudate_mask else (
                eophtha.ABSENT if "e_optha_EX/healthy" in photo.paths[0] else eophtha.UNKNOWN),
            "microaneurysm": eophtha.ANNOTATED if photo.microaneurysm_mask else (
                eophtha.ABSENT if "e_optha_MA/healthy" in photo.paths[0] else eophtha.UNKNOWN),
        }
        assert found.status == expected
        assert set(found.masks) == {k for k, v in expected.items() if v == eophtha.ANNOTATED}
    both = [p for p in photographs if len(p.masks) == 2]
    assert len(both) == 2


def _copy(tree, tmp_path):
    root = tmp_path / "copy"
    shutil.copytree(tree[0], root)
    return root


def test_every_bad_file_is_named_in_one_message(tree, tmp_path):
    root = _copy(tree, tmp_path)
    photographs = eophtha.scan(root)
    ex = [p for p in photographs if "exudate" in p.masks]
    ma = [p for p in photographs if "microaneurysm" in p.masks and "exudate" not in p.masks]
    orphan_mask = ex[0].masks["exudate"]
    ex[0].path.unlink()                                           # mask without its photograph
    lonely = ma[0].path
    ma[0].masks["microaneurysm"].unlink()                         # photograph without its mask
    corrupt = ex[1].path
    corrupt.write_bytes(corrupt.read_bytes()[:500])               # truncated JPEG
    resized = ex[2].masks["exudate"]
    cv2.imwrite(str(resized), np.full((20, 30), 255, np.uint8))   # wrong size
    grey = ma[1].masks["microaneurysm"]
    cv2.imwrite(str(grey), np.tile(np.arange(106, dtype=np.uint8)[:, None], (1, 160)))  # not binary
    empty = ma[2].masks["microaneurysm"]
    cv2.imwrite(str(empty), np.zeros((106, 160), np.uint8))       # empty mask in a lesion folder
    (lonely.parent / "notes.txt").write_text("ignored")
    with pytest.raises(eophtha.EophthaError) as raised:
        eophtha.scan(root)
    message = str(raised.value)
    expectations = {
        orphan_mask: "mask without its photograph",
        lonely: "photograph without its mask",
        corrupt: "unreadable photograph: Invalid JPEG data",
        resized: "mask is 30x20 but its photograph",
        grey: "mask is not binary",
        empty: "mask is empty",
    }
    for path, reason in expectations.items():
        assert f"{path}: {reason}" in message, message
    assert len(raised.value.problems) == len(expectations)
    assert "Thumbs.db" not in message and "notes.txt" not in message


def test_a_wrong_folder_says_what_layout_is_expected(tmp_path):
    with pytest.raises(eophtha.EophthaError, match="neither e_optha_EX/ nor e_optha_MA/ found"):
        eophtha.scan(tmp_path)


def _photographs(count, per_patient):
    return [eophtha.Photograph(patient=f"P{i // per_patient:03d}", stem=f"S{i:04d}", path=None,
                               masks={"exudate": None}, status={}) for i in range(count)]


def test_paper_split_is_155_20_20_and_seeded():
    photographs = _photographs(195, 1)
    splits = eophtha.split_photographs(photographs, by_patient=False, seed=0)
    assert [len(splits[name]) for name in eophtha.SPLITS] == [155, 20, 20]
    again = eophtha.split_photographs(list(reversed(photographs)), by_patient=False, seed=0)
    assert splits == again
    other = eophtha.split_photographs(photographs, by_patient=False, seed=1)
    assert other["test"] != splits["test"]


def test_patient_split_never_puts_a_patient_in_two_splits():
    rng = np.random.default_rng(0)
    photographs = []
    for patient in range(60):
        for shot in range(int(rng.integers(1, 7))):
            photographs.append(eophtha.Photograph(f"P{patient:03d}", f"S{patient:03d}{shot}", None, {}, {}))
    splits = eophtha.split_photographs(photographs, by_patient=True, seed=0)
    owners = collections.defaultdict(set)
    for name, items in splits.items():
        for photo in items:
            owners[photo.patient].add(name)
    assert all(len(names) == 1 for names in owners.values())
    total = len(photographs)
    for name, fraction in zip(eophtha.SPLITS, eophtha.PAPER_FRACTIONS):
        assert abs(len(splits[name]) - fraction * total) <= 6   # within one patient's photographs
