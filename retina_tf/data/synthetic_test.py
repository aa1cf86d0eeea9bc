"""Tests for the synthetic e-ophtha generator: layout, mask truth, looks and determinism."""

import collections
import pathlib
import re

import cv2
import numpy as np
import pytest

from retina_tf.data.synthetic import SyntheticEophtha, render_fundus, write_synthetic_eophtha

SMALL = SyntheticEophtha(exudate_photographs=5, exudate_healthy=3, microaneurysm_photographs=6,
                         microaneurysm_healthy=2, shared_photographs=2, photographs_per_patient=3,
                         sizes=((96, 64), (160, 106)), seed=7)


def _files(root: pathlib.Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def _rgb(path: pathlib.Path) -> np.ndarray:
    return cv2.cvtColor(cv2.imread(str(path), cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)


def _inside(shape: tuple[int, ...], disc: tuple[float, float, float]) -> np.ndarray:
    centre_y, centre_x, radius = disc
    ys, xs = np.mgrid[:shape[0], :shape[1]]
    return (ys - centre_y) ** 2 + (xs - centre_x) ** 2 <= radius ** 2


def test_default_tree_has_exactly_the_eophtha_layout(tmp_path):
    photographs = write_synthetic_eophtha(tmp_path)
    files = _files(tmp_path)

    per_folder = collections.Counter(path.rsplit("/", 2)[0] for path in files if not path.endswith("Thumbs.db"))
    assert per_folder == {
        "e_optha_EX/EX": 4, "e_optha_EX/Annotation_EX": 4, "e_optha_EX/healthy": 2,
        "e_optha_MA/MA": 4, "e_optha_MA/Annotation_MA": 4, "e_optha_MA/healthy": 2,
    }
    thumbs = [path for path in files if path.endswith("/Thumbs.db")]
    assert len(thumbs) == 1 and thumbs[0].split("/")[1] in ("EX", "MA", "healthy")

    expected = set(thumbs)
    for photograph in photographs:
        expected.update(photograph.paths)
        expected.update(p for p in (photograph.exudate_mask, photograph.microaneurysm_mask) if p)
    assert set(files) == expected

    extensions = {path.rsplit(".", 1)[1] for path in files if "/Annotation_" not in path and "Thumbs" not in path}
    assert extensions == {"jpg", "JPG"}
    for path in files:
        if path.endswith("Thumbs.db"):
            continue
        root, folder, patient, name = path.split("/")
        assert root in ("e_optha_EX", "e_optha_MA")
        assert re.fullmatch(r"E\d{7}", patient)
        stem = name.rsplit(".", 1)[0]
        if folder == "Annotation_EX":
            assert stem.endswith("_EX") and name.endswith(".png")
            stem = stem[:-3]
        elif folder == "Annotation_MA":
            assert name.endswith(".png") and not stem.endswith("_MA")
        assert re.fullmatch(r"C\d{7}|DS\d{6}", stem), stem


def test_patients_group_photographs_and_only_shared_ones_cross_sets(tmp_path):
    photographs = write_synthetic_eophtha(tmp_path, SMALL)
    folders_by_patient = collections.defaultdict(set)
    photographs_by_patient = collections.Counter()
    for photograph in photographs:
        photographs_by_patient[photograph.patient] += 1
        folders_by_patient[photograph.patient].update(path.rsplit("/", 2)[0] for path in photograph.paths)
    assert max(photographs_by_patient.values()) == SMALL.photographs_per_patient
    assert len(photographs_by_patient) < len(photographs)
    crossing = {p for p, folders in folders_by_patient.items() if len(folders) > 1}
    shared = {p.patient for p in photographs if len(p.paths) == 2}
    assert crossing == shared
    assert all(folders_by_patient[p] == {"e_optha_EX/EX", "e_optha_MA/MA"} for p in shared)
    assert len({p.stem for p in photographs}) == len(photographs)


def test_shared_photographs_are_identical_and_carry_both_masks(tmp_path):
    photographs = write_synthetic_eophtha(tmp_path, SMALL)
    shared = [p for p in photographs if len(p.paths) == 2]
    assert len(shared) == SMALL.shared_photographs
    for photograph in shared:
        exudate_path, microaneurysm_path = photograph.paths
        assert exudate_path.startswith("e_optha_EX/EX/") and microaneurysm_path.startswith("e_optha_MA/MA/")
        assert exudate_path.split("/")[2:] == microaneurysm_path.split("/")[2:]
        assert (tmp_path / exudate_path).read_bytes() == (tmp_path / microaneurysm_path).read_bytes()
        assert (tmp_path / photograph.exudate_mask).is_file()
        assert (tmp_path / photograph.microaneurysm_mask).is_file()
    lesion_counts = collections.Counter(path.split("/")[1] for p in photographs for path in p.paths)
    assert lesion_counts["EX"] == SMALL.exudate_photographs and lesion_counts["MA"] == SMALL.microaneurysm_photographs


def test_masks_are_binary_match_their_photograph_and_lie_in_the_disc(tmp_path):
    photographs = write_synthetic_eophtha(tmp_path, SMALL)
    for photograph in photographs:
        image = _rgb(tmp_path / photograph.paths[0])
        assert image.shape == (photograph.size[1], photograph.size[0], 3)
        healthy = "/healthy/" in photograph.paths[0]
        assert (photograph.exudate_mask is None) == (healthy or "e_optha_EX/EX" not in photograph.paths[0])
        assert (photograph.microaneurysm_mask is None) == (healthy or "e_optha_MA/MA" not in photograph.paths[-1])
        for mask_path in (photograph.exudate_mask, photograph.microaneurysm_mask):
            if mask_path is None:
                continue
            mask = cv2.imread(str(tmp_path / mask_path), cv2.IMREAD_UNCHANGED)
            assert mask.dtype == np.uint8 and mask.shape == image.shape[:2]
            assert set(np.unique(mask)) == {0, 255}
            assert _inside(mask.shape, photograph.disc)[mask > 0].all()


def test_lesions_look_like_lesions_after_jpeg(tmp_path):
    spec = SyntheticEophtha(exudate_photographs=6, microaneurysm_photographs=6, shared_photographs=2,
                            sizes=((480, 320),), seed=3)
    for photograph in write_synthetic_eophtha(tmp_path, spec):
        if photograph.exudate_mask is None and photograph.microaneurysm_mask is None:
            continue
        image = _rgb(tmp_path / photograph.paths[0]).astype(np.float32)
        exudate = cv2.imread(str(tmp_path / photograph.exudate_mask), 0) > 0 if photograph.exudate_mask else None
        microaneurysm = (cv2.imread(str(tmp_path / photograph.microaneurysm_mask), 0) > 0
                         if photograph.microaneurysm_mask else None)
        retina = _inside(image.shape, photograph.disc)
        for mask in (exudate, microaneurysm):
            if mask is not None:
                retina &= ~cv2.dilate(mask.astype(np.uint8), np.ones((5, 5), np.uint8)).astype(bool)
        red, green, _ = np.median(image[retina], axis=0)
        if exudate is not None:
            lesion = image[exudate]
            assert lesion[:, 1].mean() > 1.6 * green  # exudates are bright yellow
            assert lesion[:, 0].mean() > red
        if microaneurysm is not None:
            lesion = image[microaneurysm]
            assert lesion.sum(axis=1).mean() < image[retina].sum(axis=1).mean() * 0.8  # dark dots


def test_lesions_change_only_their_mask_pixels():
    for seed, (width, height) in enumerate([(96, 64), (480, 320), (1440, 960)]):
        healthy = render_fundus(np.random.default_rng(seed), width, height, exudates=False, microaneurysms=False)
        both = render_fundus(np.random.default_rng(seed), width, height, exudates=True, microaneurysms=True)
        assert not healthy.exudate_mask.any() and not healthy.microaneurysm_mask.any()
        exudate, microaneurysm = both.exudate_mask > 0, both.microaneurysm_mask > 0
        assert exudate.any() and microaneurysm.any() and not (exudate & microaneurysm).any()
        lesion = exudate | microaneurysm
        np.testing.assert_array_equal(healthy.image[~lesion], both.image[~lesion])
        changed = (healthy.image != both.image).any(axis=2)
        assert changed[lesion].mean() > 0.95
        assert _inside(lesion.shape, both.disc)[lesion].all()


def test_lesion_counts_and_sizes_scale_with_the_image():
    for seed, (width, height) in [(s, (96, 64)) for s in range(10)] + [(s, (2544, 1696)) for s in range(3)]:
        fundus = render_fundus(np.random.default_rng(seed), width, height, exudates=True, microaneurysms=True)
        clusters, _, cluster_stats, _ = cv2.connectedComponentsWithStats(fundus.exudate_mask, connectivity=8)
        assert 1 <= clusters - 1 <= 15
        if width > 1000:  # small images crowd clusters until they touch
            assert 0.002 * width <= cluster_stats[1:, 2:4].max() <= 0.1 * width
        dots, _, dot_stats, _ = cv2.connectedComponentsWithStats(fundus.microaneurysm_mask, connectivity=8)
        assert (3 if width > 1000 else 1) <= dots - 1 <= 20
        assert dot_stats[1:, 2:4].max() <= 2 * np.ceil(3 * np.sqrt(width / 1440)) + 1


def test_cut_off_disc_touches_top_and_bottom_rows():
    for seed in range(5):
        fundus = render_fundus(np.random.default_rng(seed), 480, 320, exudates=False, microaneurysms=False,
                               cut_off=True)
        centre_y, centre_x, radius = fundus.disc
        assert centre_y - radius < 0 and centre_y + radius > 319
        assert fundus.image[0, :, 0].max() > 80 and fundus.image[-1, :, 0].max() > 80
        assert fundus.image[:, :5, 0].max() < 20 and fundus.image[:, -5:, 0].max() < 20  # black at the sides

        whole = render_fundus(np.random.default_rng(seed), 480, 320, exudates=False, microaneurysms=False,
                              cut_off=False)
        assert whole.image[0, :, 0].max() < 20 and whole.image[-1, :, 0].max() < 20


def test_photographs_are_orange_red_with_black_border_and_dim_ones_darker():
    for seed in range(5):
        for dim in (False, True):
            fundus = render_fundus(np.random.default_rng(seed), 480, 320, exudates=False, microaneurysms=False,
                                   dim=dim)
            inside = _inside(fundus.image.shape, fundus.disc)
            red, green, blue = fundus.image[inside].mean(axis=0)
            assert red > green > blue
            assert (60 <= red <= 90) if dim else (red > 130)
            outside = ~cv2.dilate(inside.astype(np.uint8), np.ones((5, 5), np.uint8)).astype(bool)
            assert fundus.image[outside].mean() < 5


def test_same_seed_same_bytes_other_seed_differs(tmp_path):
    write_synthetic_eophtha(tmp_path / "a", SMALL)
    write_synthetic_eophtha(tmp_path / "b", SMALL)
    write_synthetic_eophtha(tmp_path / "c", SyntheticEophtha(**{**SMALL.__dict__, "seed": 8}))
    a, b, c = (_files(tmp_path / name) for name in "abc")
    assert a == b
    assert set(a) == set(c)
    assert sum(a[path] != c[path] for path in a) > len(a) // 2


def test_small_trees_have_visible_lesions_everywhere(tmp_path):
    spec = SyntheticEophtha(exudate_photographs=12, microaneurysm_photographs=20, shared_photographs=3,
                            exudate_healthy=0, microaneurysm_healthy=0, sizes=((96, 64),), seed=11)
    for photograph in write_synthetic_eophtha(tmp_path, spec):
        for mask_path in (photograph.exudate_mask, photograph.microaneurysm_mask):
            if mask_path is not None:
                assert (cv2.imread(str(tmp_path / mask_path), 0) > 0).sum() >= 1


@pytest.mark.parametrize("field, value", [
    ("shared_photographs", 5),
    ("photographs_per_patient", 0),
    ("exudate_photographs", -1),
    ("microaneurysm_healthy", 1.5),
    ("seed", -3),
    ("sizes", ()),
    ("sizes", ((0, 64),)),
    ("sizes", ((96,),)),
])
def test_bad_spec_names_the_field(field, value):
    with pytest.raises(ValueError, match=field):
        SyntheticEophtha(**{field: value})


def test_refuses_a_non_empty_tree_but_accepts_empty_folders(tmp_path):
    (tmp_path / "e_optha_EX").mkdir()
    (tmp_path / "e_optha_MA").mkdir()
    write_synthetic_eophtha(tmp_path)
    before = _files(tmp_path)
    with pytest.raises(ValueError, match="e_optha_EX"):
        write_synthetic_eophtha(tmp_path)
    (tmp_path / "only_ma").mkdir()
    (tmp_path / "only_ma" / "e_optha_MA" / "MA").mkdir(parents=True)
    with pytest.raises(ValueError, match="e_optha_MA"):
        write_synthetic_eophtha(tmp_path / "only_ma")
    assert _files(tmp_path) == before


def test_writes_into_a_missing_root(tmp_path):
    root = tmp_path / "not" / "yet"
    photographs = write_synthetic_eophtha(root, SyntheticEophtha(exudate_healthy=0, microaneurysm_healthy=0))
    assert all((root / path).is_file() for p in photographs for path in p.paths)
