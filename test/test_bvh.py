"""BVH importer on the real shared clips."""

import os

import numpy as np
import pytest

from gfpose_ros.training import bvh
from gfpose_ros.skeleton import bone_lengths

SHARED = os.path.join(os.path.dirname(__file__), "..", "..", "shared", "data")


@pytest.mark.parametrize(
    "clip, sequence",
    [
        ("bandai_kick_normal_001", "dataset-1_kick_normal_001"),
        ("bandai_raise-up-both-hands_active_001", "dataset-2_raise-up-both-hands_active_001"),
    ],
)
def test_bandai_bvh_matches_the_converted_dataset(clip, sequence):
    poses, frame_time, rig = bvh.load_bvh(os.path.join(SHARED, "bvh", clip + ".bvh"))
    with np.load(os.path.join(SHARED, "mocap", "bandai_17j_mm.npz")) as archive:
        reference = archive[sequence]
    assert rig == "bandai" and frame_time == pytest.approx(1 / 30, rel=1e-3)
    assert poses.shape == reference.shape
    np.testing.assert_allclose(poses, reference, atol=0.5)  # mm


def test_cmu_bvh_has_the_cmu_rig_and_stands_upright():
    poses, frame_time, rig = bvh.load_bvh(os.path.join(SHARED, "bvh", "cmu_01_01.bvh"))
    assert (
        rig == "cmu"
        and poses.shape == (2752, 17, 3)
        and frame_time == pytest.approx(1 / 120, rel=1e-3)
    )
    lengths = bone_lengths(poses)
    limbs = [1, 2, 4, 5, 11, 12, 14, 15]  # thighs, shins, upper arms, forearms: rigid segments
    assert lengths[:, limbs].std(0).max() < 0.01  # mm
    with np.load(os.path.join(SHARED, "mocap", "cmu_17j_mm.npz")) as archive:
        rig_lengths = bone_lengths(archive["train/walking/walking_2"]).mean(0)
    # Same CMU skeleton conventions as the shared conversion, e.g. the short 116 mm spine-thorax.
    np.testing.assert_allclose(lengths.mean(0)[7], 116, atol=5)
    np.testing.assert_allclose(lengths.mean(0), rig_lengths, rtol=0.12, atol=15)
    head_above_ankles = poses[:, 10, 2] - poses[:, [3, 6], 2].min(1)
    assert (head_above_ankles[:10] > 1300).all()  # z is up: the clip starts standing


def test_bad_bvh_files(tmp_path):
    with pytest.raises(bvh.BVHError, match="cannot read"):
        bvh.load_bvh(str(tmp_path / "missing.bvh"))
    truncated = tmp_path / "truncated.bvh"
    text = open(os.path.join(SHARED, "bvh", "bandai_raise-up-both-hands_active_001.bvh")).read()
    truncated.write_text(text[: len(text) - 500])
    with pytest.raises(bvh.BVHError, match="expected"):
        bvh.load_bvh(str(truncated))
