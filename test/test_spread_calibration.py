"""The published spread's calibration (gfpose_ros.spread_calibration, gfpose calibrate-spread)."""

import json
import os

import numpy as np
import pytest

from gfpose_ros import spread_calibration
from gfpose_ros.evaluation.evaluate import evaluate, fit_spread_calibration, make_eval_set
from gfpose_ros.lifter import Lifter
from gfpose_ros.settings import BackendSpec, LiftSettings, default_model_path


def test_fit_spread_scale_is_the_ratio_of_error_to_spread_per_joint():
    rng = np.random.default_rng(0)
    spreads = rng.uniform(0.01, 0.1, (200, 17))
    spreads[:, 0] = 0.0  # the root: no spread by construction
    factors = np.linspace(0.8, 2.4, 17)
    scale = spread_calibration.fit_spread_scale(spreads * factors, spreads)
    assert scale[0] == 1.0
    np.testing.assert_allclose(scale[1:], factors[1:], rtol=1e-12)
    with pytest.raises(ValueError, match=r"\(N, 17\)"):
        spread_calibration.fit_spread_scale(np.ones((3, 16)), np.ones((3, 16)))


@pytest.fixture(scope="module")
def halves(tmp_path_factory):
    """Held-out views of the training sources, split in two: one to fit on, one to judge by."""
    arrays = make_eval_set(frames_per_sequence=1, seed=4)
    folder = tmp_path_factory.mktemp("spread")
    paths = []
    for name, part in (("fit", slice(0, None, 2)), ("judge", slice(1, None, 2))):
        path = folder / f"{name}.npz"
        np.savez(path, **{k: v[part][:150] for k, v in arrays.items()})
        paths.append(str(path))
    return paths


@pytest.mark.slow  # two evaluations of 150 views x 20 hypotheses
def test_calibrated_on_one_set_the_spread_matches_the_error_on_another(halves, tmp_path):
    fit_on, judge_on = halves
    model = str(tmp_path / "calibrated.pt")
    scale = fit_spread_calibration(fit_on, default_model_path(), backend="torch")
    spread_calibration.write_spread_scale(default_model_path(), scale, model, "fit.npz")
    np.testing.assert_allclose(spread_calibration.read_spread_scale(model), scale)
    ratios = {}
    for calibrated in (False, True):
        run = evaluate(
            judge_on,
            model,
            "torch",
            (4,),
            (20,),
            log=lambda *a: None,
            calibrated_spread=calibrated,
        )["runs"][0]
        ratios[calibrated] = run["error_to_spread_ratio"]
    assert ratios[False] > 1.25, ratios  # the raw spread understates the error
    assert 0.8 <= ratios[True] <= 1.25, ratios


def test_lifter_scales_joint_std_by_the_model_files_factors(tmp_path):
    model = str(tmp_path / "scaled.pt")
    scale = np.linspace(1.0, 3.0, 17)
    spread_calibration.write_spread_scale(default_model_path(), scale, model)
    uv = np.array([[[320 + 40 * np.sin(j), 100 + 18 * j] for j in range(17)]], dtype=float)
    K = np.array([[600.0, 0, 320], [0, 600.0, 240], [0, 0, 1]])
    noise = np.random.default_rng(0).standard_normal((1, 10, 51))
    spreads = {}
    for calibrated in (False, True):
        lifter = Lifter(
            BackendSpec(model_path=model, backend="torch"),
            LiftSettings(num_hypotheses=10, calibrated_spread=calibrated),
        )
        spreads[calibrated] = lifter.lift(uv, np.ones((1, 17)), K, noise=noise).joint_std
    np.testing.assert_allclose(spreads[True], spreads[False] * scale, rtol=1e-9)


def _eval_json(path, ratio):
    runs = [{"hypotheses": 1, "error_to_spread_ratio": None}]
    runs.append({"hypotheses": 20, "error_to_spread_ratio": ratio})
    path.write_text(json.dumps({"runs": runs}))
    return str(path)


def test_unseen_source_factor_is_the_geometric_mean_of_left_out_sources(tmp_path):
    paths = [_eval_json(tmp_path / "a.json", 1.3), _eval_json(tmp_path / "b.json", 1.07)]
    assert spread_calibration.unseen_source_factor(paths) == pytest.approx((1.3 * 1.07) ** 0.5)
    assert spread_calibration.unseen_source_factor([]) == 1.0
    with pytest.raises(ValueError, match="no error / spread ratio at 20"):
        spread_calibration.unseen_source_factor([_eval_json(tmp_path / "c.json", None)])
    model = str(tmp_path / "unseen.pt")
    scale = np.linspace(1.0, 2.0, 17)
    spread_calibration.write_spread_scale(default_model_path(), scale, model, unseen_factor=1.2)
    np.testing.assert_allclose(spread_calibration.read_spread_scale(model), scale * 1.2)
    with pytest.raises(ValueError, match="must be positive"):
        spread_calibration.write_spread_scale(default_model_path(), scale, model, unseen_factor=0)


def test_calibrate_spread_cli(run_gfpose, halves, tmp_path):
    out = tmp_path / "cli.pt"
    result = run_gfpose(
        "calibrate-spread", "--data", halves[0], "--model", default_model_path(), "--out", out
    )
    assert result.returncode == 0, result.stderr
    assert "spread factors" in result.stdout
    plain = spread_calibration.read_spread_scale(str(out))
    assert plain.shape == (17,)
    unseen = _eval_json(tmp_path / "left_out.json", 1.25)
    result = run_gfpose(
        "calibrate-spread",
        "--data",
        halves[0],
        "--model",
        default_model_path(),
        "--out",
        out,
        "--unseen-from",
        unseen,
    )
    assert result.returncode == 0, result.stderr
    assert "times 1.250 for unseen sources" in result.stdout
    np.testing.assert_allclose(spread_calibration.read_spread_scale(str(out)), plain * 1.25)
    bad = run_gfpose("calibrate-spread", "--data", halves[0], "--unseen-from", tmp_path / "x.json")
    assert bad.returncode == 2 and len(bad.stderr.strip().splitlines()) == 1
    missing = run_gfpose("calibrate-spread", "--data", tmp_path / "none.npz", "--out", out)
    assert missing.returncode == 2 and len(missing.stderr.strip().splitlines()) == 1
    assert os.path.getsize(out) > 0
