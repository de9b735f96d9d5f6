"""Anomaly metrics against hand-computed cases: image AUROC/AP/F1-max, pixel AUROC, PRO@30%."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from sklearn.metrics import average_precision_score, roc_auc_score

from asebench.scoring.anomaly import anomaly_report, partial_area, pro_curve, pro_score, resize_mask


def test_image_metrics_match_a_hand_computed_ranking() -> None:
    # ranking by score: 0.8 (defect) 0.4 (normal) 0.35 (defect) 0.1 (normal)
    report = anomaly_report(np.array([False, False, True, True]), np.array([0.1, 0.4, 0.35, 0.8]))
    assert report["image_auroc"] == pytest.approx(0.75)  # 3 of 4 (defect, normal) pairs ordered right
    assert report["image_ap"] == pytest.approx(0.5 * 1 + 0.5 * 2 / 3)  # precision 1 at recall .5, 2/3 at recall 1
    assert report["image_f1_max"] == pytest.approx(0.8)  # threshold 0.35: P = 2/3, R = 1
    assert report["image_f1_max_threshold"] == pytest.approx(0.35)
    assert report["pixel_auroc"] is None and report["num_images"] == 4 and report["num_anomalous"] == 2


def test_image_ap_and_auroc_agree_with_scikit_learn_on_random_data() -> None:
    rng = np.random.default_rng(0)
    labels = rng.random(200) < 0.3
    scores = rng.random(200) + labels * 0.3
    report = anomaly_report(labels, scores)
    assert report["image_auroc"] == pytest.approx(roc_auc_score(labels, scores))
    assert report["image_ap"] == pytest.approx(average_precision_score(labels, scores))


@pytest.mark.parametrize("labels", [[False, False, False], [True, True, True]])
def test_a_single_class_test_set_gives_none_with_a_note(labels: list[bool]) -> None:
    report = anomaly_report(np.array(labels), np.array([0.1, 0.2, 0.3]))
    assert report["image_auroc"] is None and report["image_ap"] is None and report["image_f1_max"] is None
    assert any("only" in note and "undefined" in note for note in report["notes"])


def test_non_finite_scores_are_noted_not_raised() -> None:
    report = anomaly_report(np.array([False, True]), np.array([0.1, np.nan]))
    assert report["image_auroc"] is None and "non-finite" in report["notes"][0]


# -- PRO ------------------------------------------------------------------------------------


def two_image_case() -> tuple[list[np.ndarray], list[np.ndarray]]:
    """A: region of 2 pixels, B: region of 1 pixel; 4 + 5 = 9 normal pixels.

    Pixels by descending score: .9 A-region, .8 B-region, .5 A-normal, .4 A-region,
    .1 A-normal x3, .05 B-normal x5, so the curve is (0,0) (0,.25) (0,.75) (1/9,.75)
    (1/9,1) (4/9,1) (1,1) and the area up to FPR .3 is .75/9 + (.3 - 1/9).
    """
    masks = [np.array([[1, 1, 0, 0, 0, 0]], dtype=bool), np.array([[0, 0, 0, 0, 0, 1]], dtype=bool)]
    maps = [np.array([[0.9, 0.4, 0.5, 0.1, 0.1, 0.1]]), np.array([[0.05, 0.05, 0.05, 0.05, 0.05, 0.8]])]
    return maps, masks


def test_pro_curve_matches_the_hand_computed_points() -> None:
    fpr, pro = pro_curve(*two_image_case())
    np.testing.assert_allclose(fpr, [0, 0, 0, 1 / 9, 1 / 9, 4 / 9, 1])
    np.testing.assert_allclose(pro, [0, 0.25, 0.75, 0.75, 1, 1, 1])


def test_pro_integrates_to_thirty_percent_fpr_and_normalises() -> None:
    expected = (0.75 / 9 + (0.3 - 1 / 9)) / 0.3
    assert pro_score(*two_image_case()) == pytest.approx(expected)


def test_partial_area_interpolates_the_segment_crossing_the_limit() -> None:
    x, y = np.array([0.0, 0.2, 0.4, 1.0]), np.array([0.0, 0.5, 1.0, 1.0])
    # 0..0.2: (0 + .5)/2 * .2 = .05; 0.2..0.3: y(.3) = .75, (.5 + .75)/2 * .1 = .0625
    assert partial_area(x, y, 0.3) == pytest.approx(0.1125)


def test_a_perfect_map_has_pro_one_and_ties_count_as_one_threshold() -> None:
    mask = np.zeros((6, 6), dtype=bool)
    mask[1:3, 1:4] = True
    assert pro_score([mask.astype(float)], [mask]) == pytest.approx(1.0)
    # a constant map is one tie: the curve goes (0, 0) -> (1, 1), so the area to .3 is .3^2 / 2 -> .15
    assert pro_score([np.zeros((6, 6))], [mask]) == pytest.approx(0.15)


def test_regions_are_eight_connected_like_mvtec() -> None:
    mask = np.zeros((3, 3), dtype=bool)
    mask[0, 0] = mask[1, 1] = mask[1, 2] = True  # diagonal touch: one region of 3 (8-conn), not 1 + 2 (4-conn)
    amap = np.zeros((3, 3))
    amap[0, 0] = 1.0
    _, pro = pro_curve([amap], [mask])
    assert pro[1] == pytest.approx(1 / 3)  # 4-connectivity would give (1 + 0) / 2


# -- pixel metrics through the report ------------------------------------------------------


def test_masks_are_resized_nearest_neighbour_to_the_map_and_stay_binary() -> None:
    small = np.array([[1, 0], [0, 0]], dtype=np.uint8)
    big = resize_mask(small, (4, 4))
    assert big.dtype == bool and big.shape == (4, 4)
    expected = np.zeros((4, 4), dtype=bool)
    expected[:2, :2] = True  # each mask pixel becomes a 2x2 block: no interpolated edge values
    np.testing.assert_array_equal(big, expected)
    np.testing.assert_array_equal(resize_mask(expected, (2, 2)), small.astype(bool))
    odd = resize_mask(np.eye(7, dtype=np.uint8) * 255, (5, 3))
    assert odd.shape == (5, 3) and set(np.unique(odd)) <= {False, True}


def test_pixel_metrics_are_computed_at_the_map_resolution() -> None:
    small = np.array([[1.0, 0.0], [0.0, 0.0]], dtype=np.float32)
    top_left = np.zeros((4, 4), dtype=bool)
    top_left[:2, :2] = True
    bottom_right = np.zeros((4, 4), dtype=bool)
    bottom_right[2:, 2:] = True
    labels = np.array([True, True])
    report = anomaly_report(labels, np.array([0.9, 0.8]), np.stack([small, small]), [top_left, top_left])
    assert report["pixel_auroc"] == pytest.approx(1.0) and report["pixel_pro"] == pytest.approx(1.0)
    worst = anomaly_report(labels, np.array([0.9, 0.8]), np.stack([small, small]), [bottom_right, bottom_right])
    # at 2x2 the defect is the bottom-right pixel (score 0); the normals score 1, 0, 0: (0 + 0.5 + 0.5) / 3
    assert worst["pixel_auroc"] == pytest.approx(1 / 3)


def test_normal_images_without_masks_count_as_all_zero_at_the_map_resolution() -> None:
    rng = np.random.default_rng(1)
    mask = np.zeros((8, 8), dtype=bool)
    mask[2:6, 4:8] = True
    maps = rng.random((3, 4, 4)).astype(np.float32)
    labels = np.array([True, False, False])
    report = anomaly_report(labels, np.array([0.9, 0.1, 0.2]), maps, [mask, None, None])
    assert report["num_pixel_images"] == 3
    truth = np.concatenate([resize_mask(mask, (4, 4)).ravel(), np.zeros(32, dtype=bool)])
    assert truth.sum() == 4  # the 4x4 block at rows 2-5, columns 4-7 is 2x2 at half the size
    values = maps.ravel()
    assert report["pixel_auroc"] == pytest.approx(roc_auc_score(truth, values))
    assert report["pixel_ap"] == pytest.approx(average_precision_score(truth, values))
    assert 0.0 <= report["pixel_pro"] <= 1.0


def test_masks_of_different_resolutions_are_all_brought_to_the_map_size() -> None:
    a = np.zeros((4, 4), dtype=bool)
    a[:2, :2] = True
    b = np.zeros((6, 6), dtype=bool)
    b[3:, 3:] = True
    maps = np.zeros((2, 2, 2), dtype=np.float32)
    maps[0, 0, 0] = 1.0
    maps[1, 1, 1] = 1.0
    report = anomaly_report(np.array([True, True]), np.array([1.0, 1.0]), maps, [a, b])
    assert report["pixel_auroc"] == pytest.approx(1.0)
    assert report["pixel_pro"] == pytest.approx(1.0)


def test_defect_images_without_masks_are_left_out_with_a_note() -> None:
    mask = np.zeros((4, 4), dtype=bool)
    mask[0, 0] = True
    maps = np.zeros((3, 4, 4), dtype=np.float32)
    maps[0, 0, 0] = 1.0
    report = anomaly_report(np.array([True, True, False]), np.array([0.9, 0.8, 0.1]), maps, [mask, None, None])
    assert report["num_pixel_images"] == 2
    assert any("without a mask" in note for note in report["notes"])
    assert report["pixel_auroc"] == pytest.approx(1.0)


def test_no_masks_at_all_leaves_pixel_metrics_undefined() -> None:
    maps = np.zeros((2, 4, 4), dtype=np.float32)
    report = anomaly_report(np.array([True, False]), np.array([0.9, 0.1]), maps, None)
    assert report["pixel_auroc"] is None and report["image_auroc"] == 1.0
    assert any("no ground-truth masks" in note for note in report["notes"])


def test_single_sort_pixel_curves_equal_scikit_learn_with_ties() -> None:
    from sklearn.metrics import precision_recall_curve

    rng = np.random.default_rng(3)
    masks = [rng.random((12, 10)) < 0.15 for _ in range(5)]
    maps = [np.round(rng.random((12, 10)) + 0.4 * m, 1).astype(np.float32) for m in masks]  # rounding makes ties
    report = anomaly_report(np.ones(5, dtype=bool), np.linspace(0, 1, 5), np.stack(maps), masks)
    truth = np.concatenate([m.ravel() for m in masks])
    values = np.concatenate([m.ravel() for m in maps])
    precision, recall, _ = precision_recall_curve(truth, values)
    f1 = np.max(2 * precision * recall / np.maximum(precision + recall, 1e-300))
    assert report["pixel_auroc"] == pytest.approx(roc_auc_score(truth, values), abs=1e-9)
    assert report["pixel_ap"] == pytest.approx(average_precision_score(truth, values), abs=1e-9)
    assert report["pixel_f1_max"] == pytest.approx(f1, abs=1e-9)


# -- PRO against a brute-force oracle ------------------------------------------------------


def regions_by_flood_fill(mask: np.ndarray) -> list[set[tuple[int, int]]]:
    """8-connected regions of a boolean mask, found pixel by pixel (independent of scipy)."""
    seen: set[tuple[int, int]] = set()
    regions = []
    for start in zip(*np.nonzero(mask), strict=True):
        if start in seen:
            continue
        region, stack = set(), [start]
        while stack:
            y, x = stack.pop()
            if (y, x) in seen or not (0 <= y < mask.shape[0] and 0 <= x < mask.shape[1]) or not mask[y, x]:
                continue
            seen.add((y, x))
            region.add((y, x))
            stack += [(y + dy, x + dx) for dy in (-1, 0, 1) for dx in (-1, 0, 1)]
        regions.append(region)
    return regions


def brute_force_pro(maps: list[np.ndarray], masks: list[np.ndarray], limit: float = 0.3) -> float:
    """PRO by its definition, one threshold at a time, and its area up to FPR ``limit`` over ``limit``.

    At every distinct score t (descending) every map is thresholded at >= t; the point is the FPR over all
    normal pixels and the mean over all regions of the fraction of each region above t.
    """
    regions = [(i, r) for i, mask in enumerate(masks) for r in regions_by_flood_fill(mask)]
    negatives = sum(int((~m).sum()) for m in masks)
    points = [(0.0, 0.0)]
    for t in sorted({float(v) for m in maps for v in m.ravel()}, reverse=True):
        above = [m >= t for m in maps]
        fpr = sum(int((a & ~m).sum()) for a, m in zip(above, masks, strict=True)) / negatives
        pro = float(np.mean([sum(above[i][p] for p in r) / len(r) for i, r in regions]))
        points.append((fpr, pro))
    area = 0.0
    for (x0, y0), (x1, y1) in itertools.pairwise(points):
        if x0 >= limit:
            break
        if x1 > limit:  # the segment crossing the limit, cut there by linear interpolation
            y1, x1 = y0 + (y1 - y0) * (limit - x0) / (x1 - x0), limit
        area += (y0 + y1) / 2 * (x1 - x0)
    return area / limit


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_pro_equals_a_brute_force_oracle_on_small_random_cases(seed: int) -> None:
    rng = np.random.default_rng(seed)
    masks = []
    for _ in range(3):
        mask = np.zeros((9, 11), dtype=bool)
        for _ in range(rng.integers(1, 4)):  # one to three blobs; some touch diagonally or merge
            y, x = rng.integers(0, 8), rng.integers(0, 10)
            mask[y : y + rng.integers(1, 4), x : x + rng.integers(1, 4)] = True
        masks.append(mask)
    maps = [np.round(rng.random(m.shape) * 0.6 + 0.5 * m, 1).astype(np.float32) for m in masks]  # ties on purpose
    assert pro_score(maps, masks) == pytest.approx(brute_force_pro(maps, masks), abs=1e-9)
    report = anomaly_report(np.ones(3, dtype=bool), np.ones(3), np.stack(maps), masks)
    assert report["pixel_pro"] == pytest.approx(brute_force_pro(maps, masks), abs=1e-9)
