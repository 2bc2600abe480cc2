"""The evaluation's body metrics against known answers: size, flattening, spread calibration."""

import numpy as np

from gfpose_ros.evaluation.evaluate import body_metrics, ray_components


def people(n=400, seed=0):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n, 17, 3)) * 0.3 + [0.5, -0.2, 4.0]


def test_depth_flattened_poses_show_in_the_along_ray_ratio_only():
    gt = people()
    flat = gt.copy()
    root_depth = gt[..., :1, 2]
    flat[..., 2] = root_depth + 0.5 * (gt[..., 2] - root_depth)  # halve every depth offset
    metrics = body_metrics(flat, gt, np.zeros((len(gt), 17)), np.ones((len(gt), 17)))
    # 4 m away, rays are nearly parallel to z: along-ray components halve, across-ray ones stay.
    assert 0.45 < metrics["bone_along_ray_ratio"] < 0.56
    assert 0.97 < metrics["bone_across_ray_ratio"] < 1.03
    exact = body_metrics(gt, gt, np.zeros((len(gt), 17)), np.ones((len(gt), 17)))
    assert exact["bone_along_ray_ratio"] == exact["bone_across_ray_ratio"] == 1.0


def test_a_smaller_body_shows_in_the_limb_length_ratio():
    gt = people()
    small = gt[:, :1] + 0.9 * (gt - gt[:, :1])
    metrics = body_metrics(small, gt, np.zeros((len(gt), 17)), np.ones((len(gt), 17)))
    assert abs(metrics["limb_length_ratio"] - 0.9) < 1e-9
    along, across = ray_components(small, gt)
    assert along.shape == across.shape == (len(gt), 16)


def test_a_calibrated_gaussian_spread_is_recognised_and_an_overconfident_one_is_not():
    rng = np.random.default_rng(1)
    n, sigma = 20000, 0.05  # per axis
    error = np.linalg.norm(rng.normal(size=(n, 17, 3)) * sigma, axis=-1)
    spread = np.full((n, 17), sigma * np.sqrt(3))  # joint_std: the 3D RMS deviation
    gt = people(n)
    calibrated = body_metrics(gt, gt, error, spread)
    assert 0.9 < calibrated["error_to_spread_ratio"] < 0.95  # E|e| / RMS|e| of a 3D Gaussian
    assert 0.985 < calibrated["within_two_spread"] < 0.997  # P(chi_3 <= 2 sqrt 3) = 0.993
    overconfident = body_metrics(gt, gt, error, spread / 3)
    assert overconfident["error_to_spread_ratio"] > 2.5
    assert overconfident["within_two_spread"] < 0.5
