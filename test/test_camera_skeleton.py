"""Camera maths and keypoint layouts."""

import numpy as np
import pytest

from gfpose_ros import camera, skeleton


def _pose(rng):
    return rng.normal(0, 0.3, (17, 3)) - 0  # root-relative after subtracting joint 0 below


def test_root_fit_recovers_translation_exactly():
    rng = np.random.default_rng(0)
    K = camera.intrinsics(800, 780, 310, 250)
    for _ in range(20):
        rel = rng.normal(0, 0.3, (17, 3))
        rel -= rel[0]
        T = np.array([rng.uniform(-2, 2), rng.uniform(-1, 1), rng.uniform(3, 10)])
        xy = camera.pixels_to_normalized(camera.project(rel + T, K), K)
        weights = rng.uniform(0.2, 1.0, 17)
        weights[rng.choice(17, 5, replace=False)] = 0.0  # missing joints do not matter
        np.testing.assert_allclose(camera.fit_root_translation(rel, xy, weights), T, atol=1e-9)


def test_root_fit_batched_and_degenerate():
    rel = np.zeros((2, 17, 3))
    rel[:, :, 0] = np.linspace(-0.5, 0.5, 17)
    T = np.array([[0.1, 0.2, 4.0], [-0.3, 0.0, 7.0]])
    xy = (rel[..., :2] + T[:, None, :2]) / (rel[..., 2:] + T[:, None, 2:])
    w = np.ones((2, 17))
    w[1, 1:] = 0  # one joint cannot fix three unknowns
    out = camera.fit_root_translation(rel, xy, w)
    np.testing.assert_allclose(out[0], T[0], atol=1e-9)
    assert np.isnan(out[1]).all()


def test_pixels_normalized_roundtrip_with_skew():
    K = np.array([[700.0, 3.0, 320.0], [0, 690.0, 240.0], [0, 0, 1]])
    uv = np.random.default_rng(1).uniform(0, 640, (5, 17, 2))
    np.testing.assert_allclose(
        camera.normalized_to_pixels(camera.pixels_to_normalized(uv, K), K), uv, atol=1e-9
    )


@pytest.mark.parametrize(
    "K, reason",
    [
        (np.full((3, 3), np.nan), "NaN"),
        (camera.intrinsics(0, 500, 320, 240), "positive"),
        (camera.intrinsics(-5, 500, 320, 240), "positive"),
        (np.eye(2), "3x3"),
    ],
)
def test_bad_intrinsics_rejected(K, reason):
    with pytest.raises(camera.CameraError, match=reason):
        camera.check_intrinsics(K)


def test_coco_mapping_derives_only_exact_joints():
    uv = np.arange(34, dtype=float).reshape(17, 2)
    conf = np.full(17, 0.9)
    conf[12] = 0.4  # right hip less sure
    out_uv, out_conf = skeleton.to_h36m("coco17", uv, conf)
    np.testing.assert_allclose(out_uv[0], 0.5 * (uv[11] + uv[12]))  # pelvis = hip midpoint
    assert out_conf[0] == pytest.approx(0.4)  # a midpoint is as sure as its weaker end
    np.testing.assert_allclose(out_uv[13], uv[9])  # left wrist
    np.testing.assert_allclose(out_uv[16], uv[10])  # right wrist
    np.testing.assert_allclose(
        out_uv[8], 0.5 * (uv[5] + uv[6])
    )  # thorax = shoulder midpoint (the model's convention)
    for missing in (7, 10):  # spine, head top: no COCO counterpart
        assert out_conf[missing] == 0


def test_mediapipe_mapping_and_unseen_sources():
    uv = np.random.default_rng(2).uniform(0, 500, (2, 33, 2))
    conf = np.ones((2, 33))
    uv[1, 23] = np.nan  # left hip not seen -> pelvis and left hip missing
    out_uv, out_conf = skeleton.to_h36m("mediapipe33", uv, conf)
    np.testing.assert_allclose(out_uv[0, 14], uv[0, 12])  # right shoulder
    assert out_conf[1, 0] == 0 and out_conf[1, 4] == 0 and out_conf[1, 1] == 1
    assert np.isfinite(out_uv).all()


def test_unknown_layout_and_wrong_shape():
    with pytest.raises(skeleton.LayoutError, match="unknown keypoint layout 'openpose25'"):
        skeleton.to_h36m("openpose25", np.zeros((25, 2)), np.ones(25))
    with pytest.raises(skeleton.LayoutError, match="has 17 keypoints"):
        skeleton.to_h36m("coco17", np.zeros((18, 2)), np.ones(18))


def test_skeleton_tables_consistent():
    assert len(skeleton.JOINT_NAMES) == len(skeleton.PARENTS) == 17
    assert (skeleton.MIRROR_INDEX[skeleton.MIRROR_INDEX] == np.arange(17)).all()
    for left, right in skeleton.LEFT_RIGHT_PAIRS:
        assert skeleton.JOINT_NAMES[left].replace("left", "right") == skeleton.JOINT_NAMES[right]
    # A body built from the adult ratios for 1.8 m has stature 1.8 m.
    pose = np.zeros((17, 3))
    for j, ratio in enumerate(skeleton.ADULT_BONE_RATIOS, start=1):
        pose[j] = pose[skeleton.PARENTS[j]] + [0, 0, 1.8 * ratio]
    assert skeleton.stature(pose) == pytest.approx(1.8)
