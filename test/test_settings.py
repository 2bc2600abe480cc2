"""Settings, the per-frame policy and the one path a frame takes, without ROS.

- settings.BackendSpec / LiftSettings: one place for defaults, ranges and reasons; the YAML and
  the README's parameter table agree with it.
- selection.select_people: who is lifted, and why the others are not.
- pipeline.FramePipeline: one entry point per frame, tracking as a setting, settings swapped
  whole between frames.
"""

import dataclasses
import os
import re

import numpy as np
import pytest
import yaml

from gfpose_ros.selection import InputError, Person2D, people_from_arrays, select_people
from gfpose_ros.settings import BackendSpec, LiftSettings, SettingsError
from gfpose_ros.skeleton import LayoutError

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def lift_yaml():
    with open(os.path.join(ROOT, 'config', 'lift.yaml')) as f:
        return yaml.safe_load(f)['/**']['ros__parameters']


def readme_parameter_defaults():
    """{name: default as written} of the README's lift-node parameter table."""
    with open(os.path.join(ROOT, 'README.md')) as f:
        text = f.read()
    table = text.split('## Parameters (`config/lift.yaml`)', 1)[1].split('\n## ', 1)[0]
    rows = re.findall(r'^\| `(\w+)` \| `([^`]*)` \|', table, re.M)
    return dict(rows)


def core_fields():
    for cls in (BackendSpec, LiftSettings):
        for f in dataclasses.fields(cls):
            yield f.name, getattr(cls(), f.name)


def test_the_yaml_and_the_readme_hold_the_core_defaults():
    params, readme = lift_yaml(), readme_parameter_defaults()
    checked = 0
    for name, default in core_fields():
        if name not in params:  # not a node parameter (max_batch, sampler, warm_steps, ...)
            continue
        assert params[name] == default and type(params[name]) is type(default), name
        assert name in readme, f'{name} is missing from the README parameter table'
        assert yaml.safe_load(readme[name] or '""') == default, (name, readme[name])
        checked += 1
    assert checked >= 15
    # And every row of the README's table is a parameter of config/lift.yaml, with its value.
    for name, written in readme.items():
        assert name in params, name
        assert yaml.safe_load(written or '""') == params[name], (name, written)


@pytest.mark.parametrize(
    'make, message',
    [
        (lambda: LiftSettings(num_hypotheses=0), 'num_hypotheses must be in'),
        (lambda: LiftSettings(num_hypotheses=2.5), 'num_hypotheses must be a number'),
        (lambda: LiftSettings(aggregation='median'), 'aggregation must be one of'),
        (lambda: LiftSettings(confidence_threshold=1.5), 'confidence_threshold must be in'),
        (lambda: LiftSettings(person_height=0.3), 'person_height must be 0'),
        (lambda: LiftSettings(tracking='yes'), 'tracking must be true or false'),
        (lambda: LiftSettings(depth_fusion={}), 'DepthFusionConfig'),
        (lambda: BackendSpec(backend='cuda'), 'backend must be one of'),
        (lambda: BackendSpec(steps=0), 'steps must be in'),
        (lambda: BackendSpec(warm_t_start=0.0), 'warm_t_start must be in'),
        (lambda: BackendSpec(max_batch=0), 'max_batch must be'),
        (lambda: LiftSettings().replace(bogus=1), 'unknown LiftSettings setting'),
        (lambda: LiftSettings(max_people=10, num_hypotheses=100).check_batch(512), 'max_people'),
    ],
)
def test_a_bad_setting_is_refused_with_its_name(make, message):
    with pytest.raises(SettingsError, match=message):
        make()


def test_settings_are_frozen_and_replace_makes_a_checked_copy():
    settings = LiftSettings()
    with pytest.raises(dataclasses.FrozenInstanceError):
        settings.num_hypotheses = 3
    changed = settings.replace(num_hypotheses=3)
    assert (changed.num_hypotheses, settings.num_hypotheses) == (3, 20)
    with pytest.raises(SettingsError):
        settings.replace(num_hypotheses=-1)


# --------------------------------------------------------------------------- select_people


def stick_person(x, confidence=1.0, seen=17):
    uv = np.stack([np.full(17, x), np.linspace(100, 300, 17)], -1)
    conf = np.where(np.arange(17) < seen, confidence, 0.0)
    return uv, conf


def test_select_people_drops_the_few_joints_and_keeps_the_most_confident_in_order():
    people = [
        Person2D('a', 'h36m17', *stick_person(100, 0.9)),
        Person2D('b', 'h36m17', *stick_person(200, 0.9, seen=3)),  # 3 < min_joints 4
        Person2D('c', 'h36m17', *stick_person(300, 0.5)),
        Person2D('d', 'h36m17', *stick_person(400, 0.8)),
    ]
    chosen = select_people(people, LiftSettings(max_people=2))
    assert chosen.ids == ['a', 'd'] and chosen.indices == [0, 3]  # input order kept
    assert chosen.uv.shape == (2, 17, 2) and chosen.observed.all()
    kinds = [kind for kind, _ in chosen.skipped]
    assert kinds == ['min_joints', 'max_people']
    assert "person 1 (id 'b') dropped: 3 confident joints" in chosen.skipped[0][1]


def test_select_people_maps_layouts_and_names_a_malformed_person():
    coco = np.zeros((17, 2)) + 100.0
    chosen = select_people(
        [Person2D('x', 'coco17', coco, np.ones(17))], LiftSettings(min_joints=2)
    )
    assert chosen.uv.shape == (1, 17, 2)  # H36M order, midpoints filled in
    bad_uv = stick_person(100)[0]
    bad_uv[3] = np.nan
    with pytest.raises(InputError, match=r"person 1 \(id 'y'\): uv contains NaN"):
        select_people(
            [
                Person2D('x', 'h36m17', *stick_person(0)),
                Person2D('y', 'h36m17', bad_uv, np.ones(17)),
            ],
            LiftSettings(),
        )
    with pytest.raises(LayoutError):
        select_people([Person2D('z', 'openpose25', coco, np.ones(17))], LiftSettings())
    with pytest.raises(InputError, match='ids must hold one entry per person'):
        people_from_arrays(np.zeros((2, 17, 2)), np.ones((2, 17)), ids=['only one'])


# --------------------------------------------------------------------------- the pipeline


class FakeBackend:
    """A stand-in graph: returns a fixed standing pose for every row, and records the batch."""

    name = 'fake'

    def __init__(self):
        self.batches = []
        self.pose = np.zeros((17, 3), np.float32)
        self.pose[:, 1] = np.linspace(-0.9, 0.9, 17)
        self.pose[:, 0] = np.linspace(-0.2, 0.2, 17)
        self.pose -= self.pose[:1]

    def __call__(self, inputs):
        self.batches.append((len(inputs['noise']), 'x_prev' in inputs))
        return np.repeat(self.pose[None], len(inputs['noise']), 0)


@pytest.fixture
def pipeline(monkeypatch):
    """A FramePipeline over a Lifter whose graphs are FakeBackends (no model is run)."""
    from gfpose_ros import lifter as lifter_module
    from gfpose_ros.pipeline import FramePipeline

    def fake_create_backend(kind, *args, **kwargs):
        return FakeBackend(), 'fake'

    monkeypatch.setattr(lifter_module, 'create_backend', fake_create_backend)
    return FramePipeline(lifter_module.Lifter(BackendSpec(backend='torch')))


def frame_people(xs, ids=None):
    from gfpose_ros.tools.bench import synthetic_frame

    uv, conf, K = synthetic_frame(1, np.random.default_rng(0))
    uv = np.concatenate([uv + [x, 0] for x in xs])
    return people_from_arrays(uv, np.ones(uv.shape[:2]), ids=ids), K


def test_tracking_is_a_setting_of_the_one_path(pipeline):
    people, K = frame_people([0, 300])
    pipeline.lifter.settings = LiftSettings(tracking=False)
    frame = pipeline.lift_frame(people, K, 0.0)
    assert frame.ids == [None, None] and frame.tracks is None
    pipeline.lifter.settings = LiftSettings(tracking=True)
    first = pipeline.lift_frame(people, K, 1.0)
    # The fake graph's fixed pose does not fit these keypoints, which would (rightly) replace
    # the warm starts by cold ones (tracking.PersonTracker.warm_gate): not what this test is about.
    pipeline.tracker.warm_gate = np.inf
    second = pipeline.lift_frame(people, K, 1.0 + 1 / 30)
    assert first.ids == second.ids == [0, 1]  # stable track ids for people sent without one
    cold, warm = pipeline.lifter.backend, pipeline.lifter.warm_backend()
    assert cold.batches[-1] == (40, False) and warm.batches == [(40, True)]  # one call a frame
    assert second.tracks.previous[0] is not None


def test_a_settings_swap_applies_whole_to_the_next_frame_and_restarts_tracks(pipeline):
    people, K = frame_people([0])
    pipeline.lifter.settings = LiftSettings(num_hypotheses=5)
    a = pipeline.lift_frame(people, K, 0.0)
    pipeline.lifter.settings = LiftSettings(num_hypotheses=7, track_max_age=1.0)
    b = pipeline.lift_frame(people, K, 1 / 30)
    assert a.result.hypotheses.shape[1] == 5 and b.result.hypotheses.shape[1] == 7
    assert b.tracks.previous == [None]  # a tracking setting changed: the tracks start over
    pipeline.tracker.warm_gate = np.inf  # the fake graph's pose does not fit the 2D
    c = pipeline.lift_frame(people, K, 2 / 30)
    assert c.tracks.previous[0] is not None and c.ids == b.ids
    with pytest.raises(SettingsError, match='max_people'):
        pipeline.lifter.settings = LiftSettings(num_hypotheses=100)  # x 10 people > 512


def test_an_empty_frame_needs_no_camera_and_a_bad_one_raises(pipeline):
    from gfpose_ros.camera import CameraError

    frame = pipeline.lift_frame([], None, 0.0)
    assert frame.ids == [] and frame.result.poses.shape == (0, 17, 3)
    people, K = frame_people([0])
    with pytest.raises(CameraError):
        pipeline.lift_frame(people, np.zeros((3, 3)), 0.0)
    few = [p._replace(confidence=np.where(np.arange(17) < 2, 1.0, 0.0)) for p in people]
    frame = pipeline.lift_frame(few, K, 0.0)  # skipped with a reason, not an error
    assert frame.ids == [] and frame.skipped[0][0] == 'min_joints'


def test_with_nothing_measuring_size_a_person_gets_the_population_stature(pipeline):
    from gfpose_ros.settings import POPULATION_STATURE
    from gfpose_ros.skeleton import stature

    people, K = frame_people([0])
    network = stature(pipeline.lifter.backend.pose.astype(np.float64))
    for settings, expected in (
        (LiftSettings(tracking=False), POPULATION_STATURE),
        (LiftSettings(tracking=False, population_size=False), network),
        (LiftSettings(tracking=False, person_height=1.9), 1.9),
    ):
        pipeline.lifter.settings = settings
        result = pipeline.lift_frame(people, K, 0.0).result
        hypotheses = result.hypotheses - result.hypotheses[:, :, :1]
        assert abs(stature(hypotheses).mean() - expected) < 1e-6, settings
    assert abs(network - POPULATION_STATURE) > 0.1  # the check above can tell them apart
