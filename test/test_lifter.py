"""The lifter API on real held-out motion capture, with the shipped weights."""

import numpy as np
import pytest

from gfpose_ros.camera import CameraError, intrinsics
from gfpose_ros.evaluation.evaluate import evaluate, make_eval_set
from gfpose_ros.lifter import InputError, Lifter
from gfpose_ros.settings import BackendSpec, LiftSettings, SettingsError
from gfpose_ros.skeleton import BODY_PARTS, LayoutError


@pytest.fixture(scope="module")
def heldout(tmp_path_factory):
    arrays = make_eval_set(frames_per_sequence=1, occlusion_prob=0.5, seed=1)  # own proportions
    path = tmp_path_factory.mktemp("eval") / "heldout.npz"
    np.savez(path, **arrays)
    return arrays, str(path)


@pytest.fixture(scope="module")
def lifter():
    return Lifter(BackendSpec(backend="torch", steps=4), LiftSettings(num_hypotheses=10))


def test_shipped_weights_meet_the_heldout_bound(heldout):
    arrays, path = heldout
    results = evaluate(path, steps_list=(4,), hypotheses_list=(1, 10), log=lambda *_: None)
    single, ten = results["runs"]
    assert results["frames"] > 400
    # The held-out people at their own proportions (the model card's 2a, one frame per sequence
    # here): the shipped model gives 79.7 / 44.1 mm for one hypothesis and 66.5 / 36.0 mm for the
    # answer of 10; the first release gave 101.8 / 54.9 and 89.7 / 47.2 mm, and must fail this.
    assert single["mpjpe_mm"] < 90 and single["pmpjpe_mm"] < 50
    assert ten["mpjpe_mm"] < 75 and ten["pmpjpe_mm"] < 42
    # Hypotheses help: the best of 10 beats one sample, and the spread is larger where joints were
    # masked.
    assert ten["best_of_n_mpjpe_mm"] < single["mpjpe_mm"]
    assert ten["completed_joint_spread_mm"] > 1.5 * ten["observed_joint_spread_mm"]
    assert ten["completed_joint_error_mm"] is not None


def test_one_call_lifts_several_people_with_flags_and_metric_roots(heldout, lifter):
    arrays, _ = heldout
    idx = np.array([0, 5, 9])
    uv, conf = arrays["keypoints_2d"][idx].copy(), arrays["confidence"][idx].copy()
    conf[1, list(BODY_PARTS["left_leg"])] = 0.0
    K = arrays["intrinsics"][idx]
    result = lifter.lift(uv, conf, K, noise=np.random.default_rng(0).standard_normal((3, 10, 51)))
    assert result.poses.shape == (3, 17, 3) and result.hypotheses.shape == (3, 10, 17, 3)
    np.testing.assert_array_equal(result.observed, conf >= lifter.settings.confidence_threshold)
    np.testing.assert_allclose(result.weights.sum(1), 1.0)
    gt = arrays["poses_3d"][idx] / 1000
    depth_error = np.abs(result.poses[:, 0, 2] - gt[:, 0, 2]) / gt[:, 0, 2]
    assert (
        depth_error < 0.3
    ).all()  # metric: the distance is right within the body-size ambiguity
    again = lifter.lift(uv, conf, K, noise=np.random.default_rng(0).standard_normal((3, 10, 51)))
    np.testing.assert_array_equal(again.poses, result.poses)  # reproducible from the noise


def test_coco_input_and_3d_completion(heldout, lifter):
    arrays, _ = heldout
    gt = arrays["poses_3d"][:8] / 1000
    rel = gt - gt[:, :1]
    h36m_to_coco = {
        0: 9,
        5: 11,
        6: 14,
        7: 12,
        8: 15,
        9: 13,
        10: 16,
        11: 4,
        12: 1,
        13: 5,
        14: 2,
        15: 6,
        16: 3,
    }
    uv = np.zeros((8, 17, 2))
    conf = np.zeros((8, 17))
    for coco, h36m in h36m_to_coco.items():
        uv[:, coco], conf[:, coco] = (
            arrays["keypoints_2d"][:8, h36m],
            arrays["confidence"][:8, h36m],
        )
    plain = lifter.lift(uv, conf, arrays["intrinsics"][:8], layout="coco17")
    assert not plain.observed[:, [7, 10]].any()  # spine and head top were never seen
    # The thorax is the shoulders' midpoint: observed exactly where both shoulders were seen.
    both_shoulders = (conf[:, [5, 6]] >= lifter.settings.confidence_threshold).all(axis=1)
    assert both_shoulders.any() and (plain.observed[:, 8] == both_shoulders).all()
    mask_3d = np.zeros((8, 17))
    mask_3d[:, [7, 10]] = 1  # ... but are known in 3D, e.g. from another sensor
    completed = lifter.lift(
        uv, conf, arrays["intrinsics"][:8], layout="coco17", pose_3d=rel, mask_3d=mask_3d
    )

    def error(result):
        pred = result.poses - result.poses[:, :1]
        return np.linalg.norm(pred[:, [7, 8, 10]] - rel[:, [7, 8, 10]], axis=-1).mean()

    assert error(completed) < error(plain)


@pytest.mark.parametrize(
    "change, error, match",
    [
        (lambda uv, c, K: (uv[:, :, :1], c, K), InputError, "uv must have shape"),
        (lambda uv, c, K: (uv, c[:, :5], K), InputError, "confidence must have shape"),
        (
            lambda uv, c, K: (np.where(np.arange(17)[None, :, None] == 3, np.nan, uv), c, K),
            InputError,
            "NaN or inf",
        ),
        (lambda uv, c, K: (uv, c, np.full((3, 3), np.nan)), CameraError, "NaN"),
        (lambda uv, c, K: (uv, c, intrinsics(-600, 600, 320, 240)), CameraError, "positive"),
        (
            lambda uv, c, K: (uv, np.where(np.arange(17) < 14, 0.0, c), K),
            InputError,
            "confident joints",
        ),
    ],
)
def test_bad_input_is_a_clear_error(lifter, change, error, match):
    uv = np.random.default_rng(0).uniform(100, 400, (2, 17, 2))
    conf = np.ones((2, 17))
    K = intrinsics(600, 600, 320, 240)
    with pytest.raises(error, match=match):
        lifter.lift(*change(uv, conf, K))
    with pytest.raises(LayoutError, match="unknown keypoint layout"):
        lifter.lift(uv, conf, K, layout="openpose25")


def test_nan_on_an_unseen_joint_is_fine(lifter):
    uv = np.random.default_rng(0).uniform(100, 400, (1, 17, 2))
    conf = np.ones((1, 17))
    uv[0, 16], conf[0, 16] = np.nan, 0.0  # "0 or NaN u/v means not seen"
    result = lifter.lift(uv, conf, intrinsics(600, 600, 320, 240))
    assert np.isfinite(result.poses).all() and not result.observed[0, 16]


def test_observed_joints_move_onto_their_2d_rays_by_their_weight(heldout):
    from gfpose_ros.camera import project

    arrays, _ = heldout
    uv, conf, K = arrays["keypoints_2d"][:16], arrays["confidence"][:16], arrays["intrinsics"][:16]
    noise = np.random.default_rng(3).standard_normal((16, 10, 51))
    # The step after sampling alone: the 2D fit inside the sampler (whose strength also follows
    # keypoint_noise) is off, so the three lifters sample the same poses.
    trust_2d, trust_prior, default = (
        Lifter(
            BackendSpec(backend="torch"),
            LiftSettings(num_hypotheses=10, keypoint_noise=k, fit_2d=False),
        )
        for k in (0.0, 10.0, LiftSettings().keypoint_noise)
    )
    on_rays, prior, blended = (
        lifter.lift(uv, conf, K, noise=noise) for lifter in (trust_2d, trust_prior, default)
    )
    seen = on_rays.observed

    def pixel_error(result):
        return np.linalg.norm(project(result.poses, K) - uv, axis=-1)[seen]

    assert (
        pixel_error(on_rays).max() < 1e-6
    )  # keypoint_noise 0: every observed joint reprojects exactly
    assert pixel_error(prior).mean() > 1.0  # the prior alone lands a few pixels off
    assert pixel_error(prior).mean() > pixel_error(blended).mean() > 0
    np.testing.assert_allclose(
        on_rays.poses[..., 2], prior.poses[..., 2]
    )  # depth is the prior's in every case
    np.testing.assert_allclose(
        on_rays.poses[~seen], prior.poses[~seen]
    )  # completed joints do not move
    with pytest.raises(SettingsError, match="keypoint_noise"):
        LiftSettings(keypoint_noise=-1)
