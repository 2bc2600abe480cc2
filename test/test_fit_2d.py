"""The 2D fit between denoising steps (gfpose_ros.fit_2d) and its place in the sampler graph."""

import numpy as np
import pytest
import torch

from gfpose_ros import fit_2d
from gfpose_ros.camera import pixels_to_normalized, project
from gfpose_ros.evaluation.evaluate import joint_errors, make_eval_set
from gfpose_ros.lifter import Lifter
from gfpose_ros.settings import BackendSpec, LiftSettings
from gfpose_ros.skeleton import PARENTS


@pytest.fixture(scope="module")
def views():
    """Held-out people of every source (their own proportions), exact 2D."""
    arrays = make_eval_set(frames_per_sequence=1, noise=0.0, occlusion_prob=0.0, seed=2)
    keep = np.linspace(0, len(arrays["poses_3d"]) - 1, 64).astype(int)
    return {k: v[keep] for k, v in arrays.items()}


def _as_torch(views):
    gt = torch.tensor(views["poses_3d"], dtype=torch.float64) / 1000.0
    xy = torch.tensor(pixels_to_normalized(views["keypoints_2d"], views["intrinsics"]))
    return gt - gt[:, :1], gt[:, :1], xy


def test_the_truth_is_a_fixed_point_and_zero_weight_changes_nothing(views):
    rel, _, xy = _as_torch(views)
    ones = torch.ones(rel.shape[:2], dtype=rel.dtype)
    assert (fit_2d.fit_to_2d(rel, xy, ones, "rays") - rel).abs().max() < 1e-6
    # The ray-sphere intersection is ill-conditioned for bones near tangent to their ray (the
    # keypoints are float32): sub-millimetre on average.
    assert (fit_2d.fit_to_2d(rel, xy, ones, "bones") - rel).norm(dim=-1).mean() < 1e-3
    disturbed = rel + 0.05 * torch.randn(rel.shape, generator=torch.Generator().manual_seed(0))
    disturbed -= disturbed[:, :1].clone()
    unchanged = fit_2d.fit_to_2d(disturbed, xy, torch.zeros_like(ones))
    assert (unchanged - disturbed).abs().max() < 1e-12


def test_seen_joints_move_onto_their_rays_at_their_own_depth(views):
    rel, root, xy = _as_torch(views)
    g = torch.Generator().manual_seed(1)
    # Small lateral errors (about 1% of the person's size): within the outlier scale.
    disturbed = rel + torch.cat(
        [
            0.01 * torch.randn(rel.shape[:2] + (2,), generator=g),
            torch.zeros(rel.shape[:2] + (1,), dtype=rel.dtype),
        ],
        -1,
    )
    disturbed -= disturbed[:, :1].clone()
    weight = torch.ones(rel.shape[:2], dtype=rel.dtype)
    weight[:, 13] = 0.0  # the right wrist unseen: it follows the elbow

    fitted = fit_2d.fit_to_2d(disturbed, xy, weight)
    translation, valid = fit_2d.fit_root(fitted, xy, weight)
    assert valid.all()

    def residual(pose):
        placed = pose + fit_2d.fit_root(pose, xy, weight)[0][:, None]
        return (placed[..., :2] / placed[..., 2:] - xy).norm(dim=-1)

    seen = weight > 0
    assert residual(fitted)[seen].mean() < 0.2 * residual(disturbed)[seen].mean()
    # The wrist kept its offset from the elbow; seen joints moved across the ray, not along it.
    wrist_offset = fitted[:, 13] - fitted[:, 12]
    assert torch.allclose(wrist_offset, disturbed[:, 13] - disturbed[:, 12], atol=1e-9)
    depth_change = (fitted[..., 2] - disturbed[..., 2]).abs().mean()
    assert depth_change < 0.2 * (fitted - disturbed).norm(dim=-1).mean()


def test_an_outlier_joint_pulls_less_than_a_consistent_one(views):
    rel, _, xy = _as_torch(views)
    weight = torch.ones(rel.shape[:2], dtype=rel.dtype)
    bad = xy.clone()
    bad[:, 16] += 0.3  # the left wrist's 2D far off (a detector's gross error)
    shift_bad = (fit_2d.fit_to_2d(rel, bad, weight)[:, 16] - rel[:, 16]).norm(dim=-1)
    slightly = xy.clone()
    slightly[:, 16] += 0.005
    shift_small = (fit_2d.fit_to_2d(rel, slightly, weight)[:, 16] - rel[:, 16]).norm(dim=-1)
    depth = (rel[:, 16] + _as_torch(views)[1][:, 0])[:, 2]
    # A consistent joint follows most of its 2D shift; the outlier a small part of its own.
    assert (shift_small / (0.005 * depth)).median() > 0.7
    assert (shift_bad / (0.3 * depth)).median() < 0.1


def test_bones_method_keeps_lengths_and_reaches_the_rays_from_the_true_root(views):
    """The ablation's option (c): from the true root it recovers a flattened pose's depth, from
    the fitted root it does not."""
    rel, root, xy = _as_torch(views)
    flat = rel.clone()
    flat[..., 2] *= 0.6
    true_bones = rel[:, 1:] - rel[:, PARENTS[1:]]
    flat_bones = flat[:, 1:] - flat[:, PARENTS[1:]]
    flat_bones = (
        flat_bones / flat_bones.norm(dim=-1, keepdim=True) * true_bones.norm(dim=-1, keepdim=True)
    )
    rebuilt = [torch.zeros_like(rel[:, 0])]
    for j in range(1, 17):
        rebuilt.append(rebuilt[PARENTS[j]] + flat_bones[:, j - 1])
    flat = torch.stack(rebuilt, 1)
    ones = torch.ones(rel.shape[:2], dtype=rel.dtype)
    original = fit_2d.fit_root
    try:  # the true root, as a depth sensor would give
        fit_2d.fit_root = lambda pose, xy_, w: (root[:, 0], torch.ones(len(pose), dtype=bool))
        fitted = fit_2d.fit_to_2d(flat, xy, ones, "bones")
    finally:
        fit_2d.fit_root = original
    before = (flat - rel).norm(dim=-1).mean()
    assert (fitted - rel).norm(dim=-1).mean() < 0.2 * before
    # From the root fitted to the 2D (all one camera gives) it does not recover: the depth of
    # the root and the depth offsets of the bones trade off (the model card's 2D fit section).
    from_fitted_root = fit_2d.fit_to_2d(flat, xy, ones, "bones")
    assert (from_fitted_root - rel).norm(dim=-1).mean() > 0.8 * before


def test_fit_in_the_sampler_lowers_the_error_on_exact_2d(views):
    """Same network, same noise: the fit on against the plain conditional sampler."""
    noise = np.random.default_rng(0).standard_normal((len(views["poses_3d"]), 10, 51))
    errors = {}
    for fit in (True, False):
        lifter = Lifter(
            BackendSpec(backend="torch", max_batch=640),
            LiftSettings(num_hypotheses=10, keypoint_noise=0.0, fit_2d=fit),
        )
        result = lifter.lift(
            views["keypoints_2d"], views["confidence"], views["intrinsics"], noise=noise
        )
        errors[fit] = joint_errors(result.poses * 1000, views["poses_3d"]).mean()
        pixels = np.linalg.norm(
            project(result.poses, views["intrinsics"]) - views["keypoints_2d"], axis=-1
        )
        assert pixels[result.observed].max() < 1e-3  # keypoint_noise 0: on the rays either way
    assert errors[True] < errors[False] - 1.0, errors
