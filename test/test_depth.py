"""Depth-assisted metric position: the depth renderer, the fusion and Lifter.lift(depth=...)."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from gfpose_ros.body_surface import ray_capsule_depth, rays
from gfpose_ros.camera import intrinsics, pixels_to_normalized, project
from gfpose_ros.evaluation.depth_eval import render_cases, rgbd_views
from gfpose_ros.depth_fusion import (
    DepthFusionConfig,
    as_depth_image,
    depth_to_metres,
    fuse_depth,
    place_with_depth,
)
from gfpose_ros.evaluation.depth_render import (
    IDEAL,
    SensorModel,
    occluder_over,
    render_depth,
    room_planes,
    scene_depth,
    sensor_effects,
    with_occluder,
)
from gfpose_ros.evaluation.evaluate import heldout_world_poses
from gfpose_ros.lifter import InputError, Lifter, LiftResult
from gfpose_ros.settings import BackendSpec, LiftSettings, SettingsError
from gfpose_ros.skeleton import stature

K = intrinsics(500.0, 500.0, 320.0, 240.0)
SIZE = (640, 480)
UP = np.array([0.0, -1.0, 0.0])  # a level camera: the world's up is the image's -y
# A person facing the camera, 1.75 m tall, pelvis at the origin (camera frame: x right, y down).
STANDING = np.array(
    [
        [0, 0, 0],
        [-0.13, 0, 0],
        [-0.13, 0.43, 0],
        [-0.13, 0.86, 0],
        [0.13, 0, 0],
        [0.13, 0.43, 0],
        [0.13, 0.86, 0],
        [0, -0.23, 0],
        [0, -0.48, 0],
        [0, -0.6, 0],
        [0, -0.72, 0],
        [0.16, -0.48, 0],
        [0.18, -0.2, 0],
        [0.2, 0.05, 0],
        [-0.16, -0.48, 0],
        [-0.18, -0.2, 0],
        [-0.2, 0.05, 0.05],
    ]
)


def standing_at(distance, scale=1.0):
    return STANDING * scale + [0.0, 0.0, distance]


def test_rays_hit_a_capsule_where_geometry_says():
    a, b, r = np.array([[-0.5, 0.0, 3.0]]), np.array([[0.5, 0.0, 3.0]]), np.array([0.1])
    y = 0.02  # a ray through the cylinder part: (t y)^2 + (t - 3)^2 = r^2, the smaller root
    t = (3 - np.sqrt(9 - (1 + y**2) * (9 - 0.01))) / (1 + y**2)
    # A point of the right end's sphere past the segment, on the side facing the camera.
    cap = np.array([0.5, 0.0, 3.0]) + 0.1 * np.array([np.sin(np.pi / 6), 0.0, -np.cos(np.pi / 6)])
    z = ray_capsule_depth(
        rays(np.array([[0.0, 0.0], [0.0, y], cap[:2] / cap[2], [0.0, 0.2]])), a, b, r
    )[:, 0]
    np.testing.assert_allclose(z[:3], [2.9, t, cap[2]], atol=1e-9)
    assert np.isinf(z[3])  # a ray that misses


def test_rendered_body_is_its_front_surface_in_front_of_the_room():
    pose = standing_at(3.0)
    planes = room_planes(pose, UP, wall_behind=2.0)
    depth = render_depth(pose, K, SIZE, planes=planes, sensor=IDEAL)
    assert depth.shape == (480, 640) and depth.dtype == np.float32
    u, v = np.round(project(pose, K)).astype(int).T
    assert depth[v[0], u[0]] == pytest.approx(
        3.0 - 0.13, abs=0.002
    )  # pelvis: abdomen capsule, radius 0.13
    assert depth[v[10] + 10, u[10]] == pytest.approx(3.0 - 0.09, abs=0.01)  # the head
    assert depth[240, 20] == pytest.approx(5.0, abs=0.01)  # the wall, 2 m behind the root
    floor_v = (
        int(round(500 * (0.86 + 0.08) / 4.0 + 240)) + 5
    )  # a little below the feet's floor contact at 4 m
    assert 3.0 < depth[floor_v, 100] < 5.0  # the floor, nearer than the wall
    alone = render_depth(pose, K, SIZE, sensor=IDEAL)
    assert alone[240, 20] == 0  # no room: no data off the body


def test_sensor_noise_holes_and_determinism():
    flat = np.full((480, 640), 4.0)
    sensor = SensorModel(hole_fraction=0.1, hole_blobs=0)
    depth = sensor_effects(flat, sensor, np.random.default_rng(0))
    valid = depth > 0
    assert valid.mean() == pytest.approx(0.9, abs=0.01)
    assert depth[valid].std() == pytest.approx(0.002 + 0.001 * 16, rel=0.15)  # sigma = a + b z^2
    assert abs(depth[valid].mean() - 4.0) < 0.005
    again = sensor_effects(flat, sensor, np.random.default_rng(0))
    np.testing.assert_array_equal(depth, again)
    blobs = sensor_effects(
        flat,
        SensorModel(hole_fraction=0.0, hole_blobs=5, blob_radius=(20, 20)),
        np.random.default_rng(1),
    )
    assert 0.003 < (blobs == 0).mean() < 5 * np.pi * 400 / flat.size + 0.001
    far = sensor_effects(np.full((10, 10), 12.0), SensorModel(), np.random.default_rng(0))
    assert (far == 0).all()  # beyond the sensor's range


def test_flying_pixels_lie_between_the_two_sides_of_an_edge():
    step = np.full((50, 60), 2.0)
    step[:, 30:] = 5.0
    quiet = SensorModel(
        noise_quadratic=0, noise_floor=0, hole_fraction=0, hole_blobs=0, edge_prob=1.0
    )
    depth = sensor_effects(step, quiet, np.random.default_rng(0))
    np.testing.assert_array_equal(depth[:, :29], 2.0)
    np.testing.assert_array_equal(depth[:, 31:], 5.0)
    edge = depth[:, 29:31]
    assert ((edge >= 2.0) & (edge <= 5.0)).all() and ((edge > 2.0) & (edge < 5.0)).mean() > 0.9


def test_depth_to_metres_and_bad_arguments():
    mm = np.array([[0, 1500], [65535, 800]], dtype=np.uint16)
    np.testing.assert_allclose(depth_to_metres(mm, "16UC1"), [[0, 1.5], [65.535, 0.8]], rtol=1e-6)
    np.testing.assert_allclose(depth_to_metres(mm, "mono16"), depth_to_metres(mm, "16UC1"))
    metres = np.array([[np.nan, 2.5], [-1.0, np.inf]], dtype=np.float32)
    np.testing.assert_array_equal(depth_to_metres(metres, "32FC1"), [[0, 2.5], [0, 0]])
    with pytest.raises(ValueError, match="unsupported depth encoding 'rgb8'"):
        depth_to_metres(mm, "rgb8")
    with pytest.raises(ValueError, match="2-dimensional"):
        depth_to_metres(np.zeros((2, 2, 3)), "32FC1")
    for bad, message in (
        (np.zeros((4, 4), np.uint16), "float metres"),
        (np.zeros((4, 4, 1)), "dimensions"),
        ("depth", "dimensions"),
    ):
        with pytest.raises(ValueError, match=message):
            as_depth_image(bad)
    with pytest.raises(ValueError, match="min_joints"):
        DepthFusionConfig(min_joints=0)
    with pytest.raises(ValueError, match="scale_range"):
        DepthFusionConfig(scale_range=(1.3, 0.75))


def fuse_one(depth, truth, monocular, seed=0):
    """Fuse a depth image for one person seen at ``truth`` (17, 3), with ``monocular`` as the
    lifter's answer."""
    rng = np.random.default_rng(seed)
    uv = project(truth, K) + rng.normal(0, 1.0, (17, 2))
    xy = pixels_to_normalized(uv, K)
    (fit,) = fuse_depth(
        depth, uv[None], xy[None], np.ones((1, 17)), monocular[None], DepthFusionConfig()
    )
    return fit


def small_person(distance=4.0, seed=0):
    """A 1.49 m person (0.85 of STANDING) and what a monocular lifter assuming 1.75 m makes of
    them:
    the same 2D, so a body 1/0.85 times larger and farther, with a few cm of pose error."""
    truth = standing_at(distance, 0.85)
    error = np.random.default_rng(seed).normal(0, 0.02, (17, 3))
    monocular = truth / 0.85 + error - error[0]
    return truth, monocular


def test_fusion_recovers_the_root_and_the_size_of_a_small_person():
    for distance, seed in ((2.5, 0), (4.0, 1), (6.0, 2)):
        truth, monocular = small_person(distance, seed)
        planes = room_planes(truth, UP, wall_behind=1.0)
        depth = render_depth(truth, K, SIZE, seed=seed, planes=planes, girth=1.1)
        fit = fuse_one(depth, truth, monocular, seed)
        assert fit.used, fit.reason
        assert fit.scale == pytest.approx(0.85, abs=0.04)
        assert np.linalg.norm(fit.root - truth[0]) < 0.06, (distance, fit.root - truth[0])
        assert np.linalg.norm(monocular[0] - truth[0]) > 0.35  # what the monocular fit got wrong


def test_fusion_falls_back_with_a_reason_on_bad_depth():
    truth, monocular = small_person(4.0)
    clean = scene_depth(truth, K, SIZE, room_planes(truth, UP, wall_behind=1.0))
    cases = {
        "zeros": (np.zeros((480, 640), np.float32), "no depth in 0.2-20 m anywhere"),
        "nan": (np.full((480, 640), np.nan, np.float32), "no depth in 0.2-20 m anywhere"),
        "wrong size": (np.full((100, 100), 3.0, np.float32), "no depth at the torso"),
        "board over the torso": (
            with_occluder(
                clean, occluder_over(truth, K, (0, 1, 4, 7, 8, 11, 14), gap=0.4, margin=0.05)
            ),
            "an occluder in front",
        ),
    }
    for name, (depth, message) in cases.items():
        if name == "board over the torso":
            depth = sensor_effects(depth, SensorModel(), np.random.default_rng(0))
        fit = fuse_one(depth, truth, monocular)
        assert not fit.used and message in fit.reason, (name, fit.reason)


def test_a_table_in_front_of_the_hips_does_not_pull_the_body_forward():
    truth, monocular = small_person(4.0)
    clean = scene_depth(truth, K, SIZE, room_planes(truth, UP, wall_behind=1.0))
    table = occluder_over(
        truth, K, (0, 1, 2, 3, 4, 5, 6, 7), gap=0.6, margin=0.05
    )  # hips, legs and spine hidden
    depth = sensor_effects(with_occluder(clean, table), SensorModel(), np.random.default_rng(0))
    fit = fuse_one(depth, truth, monocular)
    assert fit.used, fit.reason
    assert np.linalg.norm(fit.root - truth[0]) < 0.08


@pytest.fixture(scope="module")
def heldout_rgbd():
    world, _ = heldout_world_poses(source_names=["hdm05"], frames_per_sequence=1)
    # HDM05's held-out actor, shrunk to 1.49 m: the monocular lifter assumes an adult and
    # places them too far; depth should find their size and distance.
    views = rgbd_views(0.85 * world[np.linspace(0, len(world) - 1, 12).astype(int)], seed=0)
    images = [
        render_cases(views["pose"][i], views["K"][i], views["up"][i], seed=i)[0]["sensor"]
        for i in range(len(views["pose"]))
    ]
    return views, images


def test_lift_with_depth_places_heldout_people(heldout_rgbd):
    views, images = heldout_rgbd
    lifter = Lifter(
        BackendSpec(backend="torch"), LiftSettings(num_hypotheses=10, confidence_threshold=1e-6)
    )
    n = len(images)
    assert n >= 8
    rng = np.random.default_rng(0)
    mono_error, depth_error, used, mono_size, depth_size = [], [], [], [], []
    for i in range(n):
        args = (views["uv"][i : i + 1], views["confidence"][i : i + 1], views["K"][i])
        noise = rng.standard_normal((1, 10, 51))
        mono = lifter.lift(*args, noise=noise)
        fused = lifter.lift(*args, noise=noise, depth=images[i])
        assert mono.position_source[0] == "monocular" and mono.depth_reason[0] == "no depth image"
        truth = views["pose"][i]
        mono_error.append(np.linalg.norm(mono.poses[0, 0] - truth[0]))
        depth_error.append(np.linalg.norm(fused.poses[0, 0] - truth[0]))
        used.append(fused.position_source[0] == "depth")
        mono_size.append(stature(mono.poses[0]) / stature(truth))
        depth_size.append(stature(fused.poses[0]) / stature(truth))
        if used[-1]:
            s = fused.body_scale[0]
            np.testing.assert_allclose(fused.joint_std, s * mono.joint_std)
            # The hypotheses move with the pose: scaled about the camera, then shifted by one
            # vector.
            shift = fused.hypotheses[0] - s * mono.hypotheses[0]
            np.testing.assert_allclose(
                shift, np.broadcast_to(shift[:1, :1], shift.shape), atol=1e-9
            )
        else:
            np.testing.assert_array_equal(fused.poses, mono.poses)
            assert fused.depth_reason[0]
    assert np.mean(used) >= 0.75
    # Measured (12 views, 1-8 m): root 13-62 mm (median 30) with depth, 197-1311 mm without;
    # the body 0.95-1.03 of its true stature with depth, 1.10-1.17 without.
    assert np.median(depth_error) < 0.06 and np.median(depth_error) < 0.25 * np.median(mono_error)
    assert abs(np.median(depth_size) - 1) < 0.05 and np.median(mono_size) > 1.08


def test_lift_depth_arguments(heldout_rgbd):
    views, images = heldout_rgbd
    lifter = Lifter(
        BackendSpec(backend="torch", steps=1),
        LiftSettings(num_hypotheses=4, confidence_threshold=1e-6),
    )
    args = (views["uv"][:2], views["confidence"][:2], views["K"][0])
    for bad in (np.zeros((480, 640, 3)), np.zeros((480, 640), np.uint16), "depth.png"):
        with pytest.raises(InputError):
            lifter.lift(*args, depth=bad)
    # One image for all people of the call; unusable data falls back per person, never raises.
    for depth in (
        np.zeros((480, 640)),
        np.full((480, 640), np.nan),
        np.zeros((0, 0)),
        [[1.0, 2.0], [3.0, 4.0]],
    ):
        result = lifter.lift(*args, depth=depth)
        assert list(result.position_source) == ["monocular", "monocular"] and all(
            result.depth_reason
        )
    with pytest.raises(SettingsError, match="DepthFusionConfig"):
        LiftSettings(depth_fusion={"min_joints": 3})
    empty = LiftResult(
        np.zeros((0, 17, 3)),
        np.zeros((0, 4, 17, 3)),
        np.zeros((0, 4)),
        np.zeros((0, 17)),
        np.zeros((0, 17), bool),
        np.zeros(0),
    )
    assert empty.position_source.shape == (0,)
    assert place_with_depth(empty, []).position_source.shape == (0,)


def gfpose(*args):
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    return subprocess.run(
        [sys.executable, "-m", "gfpose_ros.cli", *args],
        cwd=root,
        capture_output=True,
        text=True,
        timeout=300,
        env=dict(os.environ, OMP_NUM_THREADS="1"),
    )


@pytest.mark.slow
def test_eval_depth_command(tmp_path):
    bad = gfpose("eval-depth", "--views", "2", "--out", str(tmp_path / "x.json"))
    assert (
        bad.returncode == 2
        and "views must be >= 4" in bad.stderr
        and "Traceback" not in bad.stderr
    )
    out = tmp_path / "depth.json"
    ok = gfpose(
        "eval-depth",
        "--sources",
        "hdm05",
        "--views",
        "8",
        "--hypotheses",
        "4",
        "--steps",
        "1",
        "--out",
        str(out),
    )
    assert ok.returncode == 0, ok.stderr
    results = json.loads(out.read_text())
    assert set(results["cases"]) == {"sensor", "occluder", "holes"}
    row = results["cases"]["sensor"]["bins"]["all"]
    assert row["views"] == results["views"] >= 6 and 0 <= row["fallback_rate"] <= 1
    assert "| sensor | all |" in (tmp_path / "depth.md").read_text()
