"""Training on the user's own data: the config (good and bad), sources, joint convention, the
leave-one-source-out split, and multi-process training under torchrun."""

import glob
import math
import os
import subprocess
import sys

import numpy as np
import pytest
import torch
import yaml

from gfpose_ros.training import data, sources
from gfpose_ros.training.bvh import load_bvh
from gfpose_ros.evaluation.evaluate import make_eval_set
from gfpose_ros.skeleton import JOINT_NAMES, LOWER_BODY, bone_lengths
from gfpose_ros.training.train import DEFAULT_CONFIG, ConfigError, load_config, training_sources

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MOCAP = os.path.join(REPO, "..", "shared", "data", "mocap")
BVH = os.path.join(REPO, "..", "shared", "data", "bvh")
# CMU's BVH joint names for the 17 joints, as the data README gives them: what a user writes.
CMU_JOINTS = {
    "hip": ["LeftUpLeg", "RightUpLeg"],
    "right_hip": "RightUpLeg",
    "right_knee": "RightLeg",
    "right_ankle": "RightFoot",
    "left_hip": "LeftUpLeg",
    "left_knee": "LeftLeg",
    "left_ankle": "LeftFoot",
    "spine": "Spine",
    "thorax": "Neck",
    "neck_nose": "Neck1",
    "head": ["Head", "Head_end"],
    "left_shoulder": "LeftArm",
    "left_elbow": "LeftForeArm",
    "left_wrist": "LeftHand",
    "right_shoulder": "RightArm",
    "right_elbow": "RightForeArm",
    "right_wrist": "RightHand",
}


def small_config(tmp_path, **changes):
    """A config file with one small real source (CMU everyday), written to tmp_path."""
    config = {
        "out_dir": str(tmp_path / "out"),
        "data": {
            "sources": [
                {
                    "name": "everyday",
                    "path": os.path.join(MOCAP, "cmu_everyday_17j_mm.npz"),
                    "held_out": ["cmu_14_3*"],
                }
            ]
        },
        "model": {"hidden": 32, "blocks": 1},
        "batch_size": 32,
        "total_steps": 4,
        "checkpoint_every": 2,
        "validate_every": 2,
        "validation_samples": 16,
        "threads": 1,
    }
    for key, value in changes.items():
        config[key] = value
    path = tmp_path / "train.yaml"
    path.write_text(yaml.safe_dump(config))
    return str(path)


TRAINING_CONFIGS = sorted(
    glob.glob(os.path.join(os.path.dirname(DEFAULT_CONFIG), "train*.yaml"))
    + glob.glob(os.path.join(os.path.dirname(DEFAULT_CONFIG), "loso", "*.yaml"))
)


def test_every_training_config_in_the_repository_loads():
    """The model card's runs are reproducible from these files: each loads and validates (its
    base files, sources and augmentation values), and writes to an output folder of its own."""
    assert len(TRAINING_CONFIGS) >= 10
    out_dirs = {}
    for path in TRAINING_CONFIGS:
        config = load_config(path)
        assert config["total_steps"] > 0, path
        out_dirs.setdefault(config["out_dir"], []).append(os.path.basename(path))
    assert all(len(paths) == 1 for paths in out_dirs.values()), out_dirs


def test_shipped_config_declares_the_four_sources_with_their_splits():
    config = load_config(DEFAULT_CONFIG)
    chosen = {s.name: s for s in training_sources(config)}
    assert list(chosen) == ["bandai", "cmu", "everyday", "hdm05"]
    assert chosen["cmu"].stride == 4 and chosen["bandai"].share == 0.45
    assert chosen["hdm05"].is_held_out("dg_squat1Reps_001") and not chosen["hdm05"].is_held_out(
        "mm_squat1Reps_037"
    )
    assert chosen["hdm05"].activity_of("mm_depositFloorR_019") == "hdm05_depositfloor"
    assert chosen["cmu"].activity_of("test/walking/walking_1") == "cmu_walking"


@pytest.mark.parametrize(
    "change, message",
    [
        ({"learning_rate": 1e-3}, "unknown key 'learning_rate'"),
        ({"augmentation": {"stature": [1.5, 1.9]}}, "augmentation: unknown keys ['stature']"),
        (
            {"augmentation": {"own_proportions_prob": 1.5}},
            "own_proportions_prob must be a probability",
        ),
        ({"augmentation": {"stature_range": None}}, "stature_range may be null"),
        ({"augmentation": {"camera_model": "file"}}, "needs augmentation.camera_file"),
        ({"augmentation": {"definition_jitter": {"elbow": 0.1}}}, "definition_jitter"),
        (
            {"data": {"sources": [{"name": "x", "path": "/nonexistent/poses.npz"}]}},
            "does not exist",
        ),
        (
            {"data": {"sources": [{"name": "x_y", "path": DEFAULT_CONFIG}]}},
            "letters, digits and '-'",
        ),
        (
            {"data": {"sources": [{"name": "x", "path": DEFAULT_CONFIG, "weight": 1}]}},
            "unknown keys ['weight']",
        ),
        (
            {
                "data": {
                    "sources": [
                        {
                            "name": "e",
                            "path": os.path.join(MOCAP, "cmu_everyday_17j_mm.npz"),
                            "held_out": ["no_such_*"],
                        }
                    ]
                }
            },
            "matches no sequence",
        ),
        (
            {
                "data": {
                    "sources": [
                        {"name": "e", "path": os.path.join(MOCAP, "cmu_everyday_17j_mm.npz")}
                    ]
                }
            },
            "held-out (validation) split has no frames",
        ),
        (
            {
                "data": {
                    "sources": [
                        {
                            "name": "e",
                            "path": os.path.join(MOCAP, "cmu_everyday_17j_mm.npz"),
                            "held_out": ["*"],
                        }
                    ]
                }
            },
            "no training frames",
        ),
        (
            {"data": {"leave_out": ["hdm05"], "sources": [{"name": "e", "path": DEFAULT_CONFIG}]}},
            "leave_out names unknown",
        ),
        ({"total_steps": 0}, "total_steps must be an integer >= 1"),
    ],
)
def test_a_bad_config_is_one_clear_line(tmp_path, change, message):
    path = small_config(tmp_path, **change)
    with pytest.raises((ConfigError, sources.SourceError, ValueError)) as caught:
        config = load_config(path)
        from gfpose_ros.training.train import load_split

        load_split(config, "train"), load_split(config, "val")
    assert message in str(caught.value) and "\n" not in str(caught.value)


def test_gfpose_train_exits_2_with_one_line_on_a_bad_config(tmp_path):
    path = small_config(
        tmp_path, data={"sources": [{"name": "x", "path": str(tmp_path / "missing.npz")}]}
    )
    result = subprocess.run(
        [sys.executable, "-m", "gfpose_ros.cli", "train", "--config", path],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 2
    assert result.stderr.strip().count("\n") == 0 and "missing.npz does not exist" in result.stderr
    assert "Traceback" not in result.stderr


def test_a_source_with_no_frames_is_refused(tmp_path):
    empty = tmp_path / "empty.npz"
    np.savez(
        empty, walk_1=np.zeros((0, 17, 3), np.float32), walk_2=np.zeros((0, 17, 3), np.float32)
    )
    path = small_config(
        tmp_path, data={"sources": [{"name": "e", "path": str(empty), "held_out": ["walk_2"]}]}
    )
    with pytest.raises(sources.SourceError, match="empty.npz has no frames"):
        from gfpose_ros.training.train import load_split

        load_split(load_config(path), "train")


def test_relative_paths_and_base_files(tmp_path):
    os.symlink(os.path.join(MOCAP, "hdm05_17j_mm.npz"), tmp_path / "mine.npz")
    (tmp_path / "base.yaml").write_text(
        yaml.safe_dump(
            {
                "data": {
                    "sources": [
                        {"name": "mine", "path": "mine.npz", "held_out": ["dg_*"], "stride": 2}
                    ]
                },
                "total_steps": 7,
            }
        )
    )
    (tmp_path / "run.yaml").write_text(yaml.safe_dump({"base": "base.yaml", "total_steps": 9}))
    config = load_config(str(tmp_path / "run.yaml"))
    (source,) = training_sources(config)
    assert (
        source.path == str(tmp_path / "mine.npz")
        and source.stride == 2
        and config["total_steps"] == 9
    )
    (tmp_path / "loop.yaml").write_text(yaml.safe_dump({"base": "loop.yaml"}))
    with pytest.raises(ConfigError, match="loop"):
        load_config(str(tmp_path / "loop.yaml"))


def test_a_bvh_folder_with_a_joint_mapping_is_a_source(tmp_path):
    folder = tmp_path / "my_lab"
    folder.mkdir()
    os.symlink(os.path.join(BVH, "cmu_01_01.bvh"), folder / "subject1_walk.bvh")
    os.symlink(os.path.join(BVH, "cmu_01_01.bvh"), folder / "subject2_walk.bvh")
    source = sources.Source(
        name="lab",
        path=str(folder),
        held_out=["subject2_*"],
        stride=4,
        joints=CMU_JOINTS,
        unit_mm=56.444,
    )
    ((train_name, train_poses),) = sources.load_source(source, "train", harmonise_joints=False)
    ((val_name, _),) = sources.load_source(source, "val")
    assert (train_name, val_name) == ("subject1_walk", "subject2_walk")
    preset, _, _ = load_bvh(os.path.join(BVH, "cmu_01_01.bvh"))  # the importer's own CMU mapping
    np.testing.assert_allclose(train_poses, preset[::4] / 1000, atol=1e-6)
    with pytest.raises(sources.SourceError, match="joints must map all of"):
        sources.Source(name="lab", path=str(folder), joints={"hip": "Hips"}, unit_mm=10)
    with pytest.raises(sources.SourceError, match="missing for the custom mapping"):
        bad = dict(CMU_JOINTS, spine="Spine9")
        sources.load_source(
            sources.Source(name="lab", path=str(folder), joints=bad, unit_mm=1.0), "all"
        )


def test_harmonised_convention():
    poses = np.load(os.path.join(MOCAP, "hdm05_17j_mm.npz"))["mm_squat1Reps_037"][::10] / 1000
    out = sources.harmonise(poses)
    np.testing.assert_allclose(
        out[:, 0], 0.5 * (poses[:, 1] + poses[:, 4])
    )  # pelvis = hip midpoint
    np.testing.assert_allclose(
        out[:, 8], 0.5 * (poses[:, 11] + poses[:, 14])
    )  # thorax = shoulder midpoint
    limbs = [1, 2, 3, 4, 5, 6, 10, 11, 12, 13, 14, 15, 16]
    np.testing.assert_array_equal(out[:, limbs], poses[:, limbs])  # limbs and head top as captured
    np.testing.assert_allclose(sources.harmonise(out), out, atol=1e-6)  # idempotent
    # The spine sits halfway up the trunk, off the pelvis-thorax line by the source's own bend.
    trunk = out[:, 8] - out[:, 0]
    along = ((out[:, 7] - out[:, 0]) * trunk).sum(-1) / (trunk**2).sum(-1)
    np.testing.assert_allclose(along, 0.5, atol=1e-9)
    offsets = sources.convention_offsets(poses)
    assert (
        0.02 < offsets["thorax"]["distance"] < 0.06
    )  # HDM05's thorax is ~33 mm off the shoulders' midpoint


def test_augmentation_keeps_own_proportions_or_sets_adult_ones():
    poses = torch.from_numpy(
        sources.harmonise(
            np.load(os.path.join(MOCAP, "hdm05_17j_mm.npz"))["bk_squat1Reps_013"][:64] / 1000
        )
    )
    g = torch.Generator().manual_seed(0)
    own = data.AugmentConfig(own_proportions_prob=1.0, stature_range=None)
    np.testing.assert_allclose(
        data.target_bone_lengths(poses, own, g).numpy(),
        np.linalg.norm(
            (
                poses[:, 1:] - poses[:, [0, 1, 2, 0, 4, 5, 0, 7, 8, 9, 8, 11, 12, 8, 14, 15]]
            ).numpy(),
            axis=-1,
        ),
    )
    scaled = data.AugmentConfig(
        own_proportions_prob=1.0, stature_range=(1.6, 1.6), bone_jitter=0.0
    )
    lengths = data.target_bone_lengths(poses, scaled, g)
    from gfpose_ros.skeleton import stature

    np.testing.assert_allclose(
        stature(data.set_bone_lengths(poses, lengths).numpy()), 1.6, rtol=1e-6
    )
    ratio = lengths / data.target_bone_lengths(poses, own, g)
    assert float(ratio.std(1).max()) < 1e-6  # own proportions: one scale for every bone
    moved = data.vary_definitions(poses, {"thorax_height": 0.05}, g)
    changed = (moved - poses).norm(dim=-1).amax(0) > 1e-9
    assert changed.tolist() == [JOINT_NAMES[j] == "thorax" for j in range(17)]


def test_bone_ratio_variation_keeps_the_stature_and_varies_limbs_against_the_trunk():
    from gfpose_ros.skeleton import ADULT_BONE_RATIOS, stature_from_bone_lengths

    adult = torch.as_tensor(ADULT_BONE_RATIOS, dtype=torch.float64).repeat(4000, 1) * 1.7
    cfg = data.AugmentConfig(bone_ratio_range=(0.9, 1.1))
    varied = data.vary_bone_ratios(adult, cfg, torch.Generator().manual_seed(0))
    np.testing.assert_allclose(stature_from_bone_lengths(varied.numpy()), 1.7, rtol=1e-9)
    trunk = varied[:, 6] + varied[:, 7]  # pelvis-spine-thorax
    leg_to_trunk = (varied[:, 1] + varied[:, 2]) / trunk
    arm_to_trunk = (varied[:, 11] + varied[:, 12]) / trunk
    template = (ADULT_BONE_RATIOS[1] + ADULT_BONE_RATIOS[2]) / (
        ADULT_BONE_RATIOS[6] + ADULT_BONE_RATIOS[7]
    )
    # Legs +-10% against the trunk (a little less after the rescale to the same stature).
    spread = leg_to_trunk / template
    assert 0.85 < float(spread.min()) < 0.92 and 1.08 < float(spread.max()) < 1.15
    assert float(arm_to_trunk.std() / arm_to_trunk.mean()) > 0.04
    assert torch.equal(varied[:, 1], varied[:, 4]) and torch.equal(varied[:, 11], varied[:, 14])
    again = data.vary_bone_ratios(adult, cfg, torch.Generator().manual_seed(0))
    assert torch.equal(again, varied)  # deterministic given the generator
    off = data.vary_bone_ratios(adult, data.AugmentConfig(), torch.Generator().manual_seed(0))
    assert torch.equal(off, adult)
    with pytest.raises(ValueError, match="bone_ratio_range"):
        data.AugmentConfig(bone_ratio_range=(1.1, 0.9))


def _assert_off_draws_nothing(augmentation, poses):
    """An augmentation switched off returns its input itself and draws nothing, so the
    generator's stream stays that of a recipe without it."""
    generator = torch.Generator().manual_seed(2)
    assert augmentation(generator) is poses
    assert torch.equal(generator.get_state(), torch.Generator().manual_seed(2).get_state())


def _standing(n, generator):
    """n upright adult bodies (world z up), each turned to a random heading at a random place."""
    from gfpose_ros.skeleton import ADULT_BONE_RATIOS, PARENTS

    directions = {1: (-1, 0, 0), 4: (1, 0, 0), 11: (1, 0, 0), 14: (-1, 0, 0), 12: (1, 0, 0)}
    directions.update({15: (-1, 0, 0), 13: (1, 0, 0), 16: (-1, 0, 0)})
    pose = torch.zeros(17, 3, dtype=torch.float64)
    for j in range(1, 17):
        step = torch.tensor(directions.get(j, (0, 0, 1 if j in (7, 8, 9, 10) else -1)))
        pose[j] = pose[int(PARENTS[j])] + 1.7 * ADULT_BONE_RATIOS[j - 1] * step
    heading = 2 * np.pi * torch.rand(n, generator=generator, dtype=torch.float64)
    turned = pose @ data._rotation("z", heading).transpose(-1, -2)
    return turned + torch.randn(n, 1, 3, generator=generator, dtype=torch.float64)


def test_recombined_bodies_keep_each_halfs_pose_on_one_pelvis():
    """recombine: a sample's legs stay; its upper body is another sample's, turned so that both
    hip axes point the same way and hung from its own pelvis; bone lengths survive; off draws
    nothing; the same generator gives the same batch."""
    g = torch.Generator().manual_seed(0)
    poses = _standing(64, g)
    # Every upper body leans its own way, so a swapped one can be told from its own.
    lean = data._rotation("x", 0.6 * torch.rand(64, generator=g, dtype=torch.float64))
    upper = data.UPPER_BODY
    root = poses[:, :1]
    poses[:, upper] = root + (poses[:, upper] - root) @ lean.transpose(-1, -2)
    out = data.recombine(poses, 0.5, torch.Generator().manual_seed(1))
    again = data.recombine(poses, 0.5, torch.Generator().manual_seed(1))
    assert torch.equal(out, again)
    lower = [0] + list(LOWER_BODY)
    assert torch.equal(out[:, lower], poses[:, lower])  # the legs and pelvis never move
    swapped = (out[:, upper] - poses[:, upper]).norm(dim=-1).amax(1) > 1e-9
    assert 20 < int(swapped.sum()) < 44  # about half
    np.testing.assert_allclose(bone_lengths(out.numpy()), bone_lengths(poses.numpy()), atol=1e-9)

    # The spine's lean against the vertical is a real one, from some sample of the batch.
    def tilt(p):
        spine = p[:, 8] - p[:, 0]
        return torch.acos(spine[:, 2] / spine.norm(dim=-1))

    own = tilt(poses)
    for t in tilt(out)[swapped]:
        assert float((own - t).abs().min()) < 1e-9
    # The donor's trunk faces the receiver's way: shoulders parallel to the hips, as built.
    hips, shoulders = out[:, 4] - out[:, 1], out[:, 11] - out[:, 14]
    cosine = (hips[:, :2] * shoulders[:, :2]).sum(-1) / (
        hips[:, :2].norm(dim=-1) * shoulders[:, :2].norm(dim=-1)
    )
    assert float(cosine.min()) > 0.99
    _assert_off_draws_nothing(lambda g: data.recombine(poses, 0.0, g), poses)
    with pytest.raises(ValueError, match="recombine_prob"):
        data.AugmentConfig(recombine_prob=1.5)


def test_perturbed_joint_angles_keep_bones_and_hinges_within_their_range():
    """perturb_joint_angles: bone lengths and the hips stay, the trunk turns rigidly about the
    pelvis; knees and elbows end between straight and HINGE_MAX_BEND, and near-straight ones are
    left; the bends change by about the std asked for, never beyond two; it is deterministic,
    and off draws nothing."""
    g = torch.Generator().manual_seed(0)
    poses = _standing(2000, g)
    # Bend every knee and elbow by 0..170 degrees about the body's lateral axis (some beyond
    # the limit, some straight).
    for root, middle, end in data.LIMBS:
        bend = torch.rand(2000, generator=g, dtype=torch.float64) * math.radians(170)
        lateral = poses[:, 4] - poses[:, 1]
        lateral = lateral / lateral.norm(dim=-1, keepdim=True)
        poses = data._turn_about(poses, [end], middle, data._axis_angle(lateral, bend))

    def bends(p):
        out = []
        for root, middle, end in data.LIMBS:
            u, v = p[:, middle] - p[:, root], p[:, end] - p[:, middle]
            cosine = (u * v).sum(-1) / (u.norm(dim=-1) * v.norm(dim=-1))
            out.append(torch.rad2deg(torch.acos(cosine.clamp(-1, 1))))
        return torch.stack(out, 1)

    out = data.perturb_joint_angles(poses, 10.0, torch.Generator().manual_seed(1))
    assert torch.equal(
        out, data.perturb_joint_angles(poses, 10.0, torch.Generator().manual_seed(1))
    )
    np.testing.assert_allclose(bone_lengths(out.numpy()), bone_lengths(poses.numpy()), atol=1e-9)
    hips = [0, 1, 4]
    assert torch.equal(out[:, hips], poses[:, hips])
    # The trunk turns rigidly about the pelvis, by at most two std.
    trunk = [7, 8, 9, 10, 11, 14]
    np.testing.assert_allclose(
        torch.cdist(out[:, trunk], out[:, trunk]),
        torch.cdist(poses[:, trunk], poses[:, trunk]),
        atol=1e-9,
    )
    up, up_out = poses[:, 8] - poses[:, 0], out[:, 8] - out[:, 0]
    cosine = (up * up_out).sum(-1) / (up.norm(dim=-1) * up_out.norm(dim=-1))
    lean = torch.rad2deg(torch.acos(cosine.clamp(-1, 1)))
    assert float(lean.max()) <= 20.0 + 1e-6 and 3.0 < float(lean.mean()) < 12.0
    before, after = bends(poses), bends(out)
    hinged = before > data.HINGE_MIN_BEND
    within = before <= data.HINGE_MAX_BEND
    assert (after[hinged] <= data.HINGE_MAX_BEND + 1e-6).all()
    change = (after - before)[hinged & within & (before > 30) & (before < 120)]
    assert 6.0 < float(change.std()) < 10.0 and float(change.abs().max()) <= 20.0 + 1e-6
    assert torch.allclose(after[~hinged], before[~hinged], atol=1e-4)  # no axis: left alone
    _assert_off_draws_nothing(lambda g: data.perturb_joint_angles(poses, 0.0, g), poses)
    with pytest.raises(ValueError, match="joint_angle_std_deg"):
        data.AugmentConfig(joint_angle_std_deg=90)


def test_tilted_bodies_lean_within_the_limit_about_a_horizontal_axis():
    """tilt_bodies: the share asked for leans, by at most tilt_max_deg, about a horizontal axis
    through the pelvis (the lean's axis has no vertical part, so the heading stays); posture and
    bone lengths stay; deterministic; off draws nothing."""
    g = torch.Generator().manual_seed(0)
    poses = _standing(4000, g)
    out = data.tilt_bodies(poses, 0.3, 60.0, torch.Generator().manual_seed(1))
    assert torch.equal(out, data.tilt_bodies(poses, 0.3, 60.0, torch.Generator().manual_seed(1)))
    np.testing.assert_allclose(bone_lengths(out.numpy()), bone_lengths(poses.numpy()), atol=1e-9)
    assert torch.equal(out[:, 0], poses[:, 0])

    def trunk_angle(p):  # pelvis -> thorax against world z, degrees
        trunk = p[:, 8] - p[:, 0]
        return torch.rad2deg(torch.acos(trunk[:, 2] / trunk.norm(dim=-1)))

    lean = trunk_angle(out) - trunk_angle(poses)
    tilted = (out - poses).abs().amax((1, 2)) > 1e-9
    assert 0.27 < float(tilted.double().mean()) < 0.33
    # An upright trunk leans by the whole angle only about a horizontal axis: uniform 0..60.
    assert float(lean.abs().max()) <= 60.0 + 1e-6
    assert 28.0 < float(lean[tilted].mean()) < 32.0
    _assert_off_draws_nothing(lambda g: data.tilt_bodies(poses, 0.0, 90.0, g), poses)
    with pytest.raises(ValueError, match="tilt_max_deg"):
        data.AugmentConfig(tilt_max_deg=200)
    with pytest.raises(ValueError, match="tilt_prob"):
        data.AugmentConfig(tilt_prob=-0.1)


def test_every_recipe_is_validated_on_the_same_natural_views():
    """The validation curve compares recipes: a recipe's coverage augmentations (recombined,
    perturbed, tilted bodies) shape its training batches, never its validation views."""
    from gfpose_ros.training.train import validation_set

    everyday = os.path.join(
        os.path.dirname(__file__), "..", "..", "shared", "data", "mocap", "cmu_everyday_17j_mm.npz"
    )
    base = {
        "data": {"sources": [{"name": "everyday", "path": everyday, "held_out": ["cmu_14_3*"]}]},
        "validation_samples": 64,
    }
    coverage = {"recombine_prob": 0.3, "joint_angle_std_deg": 10.0, "tilt_prob": 0.2}
    plain = validation_set(load_config(None, base), torch.Generator().manual_seed(12345))
    covered = validation_set(
        load_config(None, dict(base, augmentation=coverage)), torch.Generator().manual_seed(12345)
    )
    for a, b in zip(plain, covered):
        assert torch.equal(a, b)
    assert data.evaluation_view(data.AugmentConfig(**coverage)).tilt_prob == 0.0


def test_real_cameras_from_a_file(tmp_path):
    # A lab camera 4 m from the area's centre, 1.6 m high, looking along +y (optical z = world y).
    R = [[1, 0, 0], [0, 0, -1], [0, 1, 0]]
    t = (-np.array(R) @ np.array([0.0, -4.0, 1.6])).tolist()
    (tmp_path / "cameras.yaml").write_text(
        yaml.safe_dump(
            {
                "cameras": [
                    {
                        "K": [[1000, 0, 640], [0, 1000, 360], [0, 0, 1]],
                        "R": R,
                        "t": t,
                        "image_size": [1280, 720],
                    }
                ]
            }
        )
    )
    cfg = data.AugmentConfig(
        camera_model="file",
        camera_file=str(tmp_path / "cameras.yaml"),
        person_area=((-0.5, 0.5), (-0.5, 0.5)),
    )
    poses = torch.from_numpy(
        sources.harmonise(
            np.load(os.path.join(MOCAP, "hdm05_17j_mm.npz"))["bk_squat1Reps_013"][:32] / 1000
        )
    )
    view = data.augment(poses, cfg, torch.Generator().manual_seed(0))
    depth = view["pose_cam"][:, 0, 2]
    assert ((depth > 3.4) & (depth < 4.6)).all()  # the person stands in the area, 3.5-4.5 m away
    assert (view["K"][:, 0, 0] == 1000).all() and (
        view["image_size"] == torch.tensor([1280.0, 720.0])
    ).all()
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        yaml.safe_dump(
            {
                "cameras": [
                    {
                        "K": [[1, 0, 0], [0, 1, 0], [0, 0, 1]],
                        "R": [[2, 0, 0], [0, 1, 0], [0, 0, 1]],
                        "t": [0, 0, 0],
                        "image_size": [640, 480],
                    }
                ]
            }
        )
    )
    with pytest.raises(ValueError, match="not a rotation"):
        data.AugmentConfig(camera_model="file", camera_file=str(bad))


def test_leave_one_source_out_split(tmp_path):
    config = load_config(os.path.join(REPO, "config", "train_without_hdm05.yaml"))
    assert [s.name for s in training_sources(config)] == ["bandai", "cmu", "everyday"]
    arrays = make_eval_set(
        os.path.join(REPO, "config", "train_without_hdm05.yaml"),
        ["hdm05"],
        "all",
        frames_per_sequence=1,
        occlusion_prob=0.0,
    )
    groups = arrays["group"]
    assert all(g.startswith("hdm05_") for g in groups)
    archive = np.load(os.path.join(MOCAP, "hdm05_17j_mm.npz"))
    held_out = sum(name.startswith("dg_") for name in archive.files)
    # Every sequence of every actor, not only the held-out one (less the views with < 6 joints in
    # the image).
    assert held_out < 0.9 * len(archive.files) < len(groups) <= len(archive.files)
    # Natural proportions: HDM05's actors are taller than the other rigs, and differ from each
    # other.
    from gfpose_ros.skeleton import stature

    assert stature(arrays["poses_3d"] / 1000).std() > 0.03


@pytest.mark.slow
def test_torchrun_two_processes_write_one_checkpoint(tmp_path):
    path = small_config(tmp_path)
    env = dict(os.environ, OMP_NUM_THREADS="1")
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "torch.distributed.run",
            "--nproc_per_node",
            "2",
            "--master_port",
            str(29500 + os.getpid() % 1000),
            "-m",
            "gfpose_ros.cli",
            "train",
            "--config",
            path,
        ],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
        cwd=REPO,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    out = tmp_path / "out"
    assert sorted(os.listdir(out)) == ["ema.pt", "last.pt", "log.jsonl"]
    state = torch.load(out / "last.pt", weights_only=False)
    assert state["step"] == 4
    assert (
        len((out / "log.jsonl").read_text().splitlines()) == 2
    )  # rank 0 alone validates and writes
