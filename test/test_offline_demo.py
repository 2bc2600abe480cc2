"""The offline demo (detector + lifter, no ROS) on the photos and video that registry packages
ship: portraits get their legs completed with a larger spread than the seen joints, full-body
photos get their legs observed, and the video demo lifts several people per frame."""

import argparse
import importlib.util
import json
import os

import numpy as np
import pytest

from gfpose_ros.skeleton import LOWER_BODY
from test_detect import FULL_BODY, OPENCV_DATA, PORTRAITS, load_photo

pytestmark = pytest.mark.skipif(
    importlib.util.find_spec('mediapipe') is None,
    reason='mediapipe is not installed (scripts/setup_env.sh)',
)


def demo_args(*argv):
    from gfpose_ros.tools.offline_demo import add_arguments

    return add_arguments(argparse.ArgumentParser()).parse_args(list(argv))


@pytest.fixture(scope='module')
def pipeline():
    """(detector, FramePipeline) shared by the photo tests: loading them once keeps the tests
    fast. The demo's own settings for a photo (cold, min_joints 3)."""
    from gfpose_ros.detect import create_detector
    from gfpose_ros.lifter import Lifter
    from gfpose_ros.tools.offline_demo import demo_settings
    from gfpose_ros.pipeline import FramePipeline

    detector = create_detector('mediapipe')
    spec, settings = demo_settings(demo_args('--image', 'unused.jpg'))
    yield detector, FramePipeline(Lifter(spec, settings, seed=0))
    detector.close()


def run_photo(pipeline, name, out_dir):
    """The demo on a photo (written to disk first: the demo reads files); returns the JSON
    record."""
    from PIL import Image

    from gfpose_ros.tools.offline_demo import run_image

    path = os.path.join(out_dir, name.split('.')[0] + '_input.png')
    Image.fromarray(load_photo(name)).save(path)
    args = demo_args('--image', path, '--out-dir', str(out_dir))
    args.detector = 'mediapipe'
    record = run_image(args, *pipeline)
    stem = os.path.join(out_dir, name.split('.')[0] + '_input')
    assert os.path.getsize(stem + '.png') > 10_000
    with open(stem + '.json') as f:
        assert json.load(f) == json.loads(json.dumps(record))
    return record


@pytest.mark.parametrize('name', PORTRAITS)
def test_portrait_legs_completed_with_larger_spread(pipeline, name, tmp_path):
    record = run_photo(pipeline, name, tmp_path)
    assert 'assuming a 60 deg horizontal field of view' in record['intrinsics_source']
    [person] = record['frames'][0]['people']
    observed, hypotheses = np.array(person['observed']), np.array(person['hypotheses_m'])
    legs = list(LOWER_BODY)
    assert not observed[legs].any(), 'the legs are not in the picture: they must be completed'
    assert observed.sum() >= 3
    assert hypotheses.shape == (20, 17, 3)
    # Spread of the hypotheses in the camera frame (each placed by its own reprojection fit): the
    # seen joints are pinned by the image, the legs are not. (joint_std is root-relative, and the
    # root, the pelvis, is itself unseen here, so it says little about the seen joints.)
    spread = np.sqrt(((hypotheses - hypotheses.mean(0)) ** 2).sum(-1).mean(0))
    assert spread[legs].mean() > 1.5 * spread[observed].mean(), (spread[legs], spread[observed])
    pose = np.array(person['pose_3d_m'])
    assert np.isfinite(pose).all() and 0.1 < pose[observed, 2].mean() < 10


@pytest.mark.parametrize('name', FULL_BODY)
def test_full_body_legs_observed(pipeline, name, tmp_path):
    record = run_photo(pipeline, name, tmp_path)
    [person] = record['frames'][0]['people']
    observed = np.array(person['observed'])
    assert observed[list(LOWER_BODY)].all()
    pose = np.array(person['pose_3d_m'])
    # Ankles below the pelvis (y points down in the camera frame) unless the person lies down.
    assert pose[[3, 6], 1].mean() > pose[0, 1]


@pytest.mark.slow
def test_video_demo_several_people(tmp_path):
    from gfpose_ros.tools.offline_demo import main

    video = os.path.join(OPENCV_DATA, 'vtest.avi')
    if not os.path.exists(video):
        pytest.skip(f'{video} missing: apt-get install opencv-doc')
    # 30 frames of the clip, every 5th one processed: several people, and fast enough for a test.
    assert (
        main(
            [
                '--video',
                video,
                '--frames',
                '6',
                '--stride',
                '5',
                '--hypotheses',
                '10',
                '--out-dir',
                str(tmp_path),
            ]
        )
        == 0
    )
    assert os.path.getsize(tmp_path / 'vtest.gif') > 10_000
    with open(tmp_path / 'vtest.json') as f:
        record = json.load(f)
    assert record['detector'] == 'mediapipe_hog'
    counts = [len(frame['people']) for frame in record['frames']]
    assert len(counts) == 6 and [frame['frame'] for frame in record['frames']] == [
        0,
        5,
        10,
        15,
        20,
        25,
    ]
    assert min(counts) >= 2, counts
    assert all(len(p['pose_3d_m']) == 17 for frame in record['frames'] for p in frame['people'])


def test_bench_writes_latency_json(tmp_path):
    from gfpose_ros.tools.offline_demo import main

    out = tmp_path / 'latency.json'
    assert main(['--bench', '--frames', '4', '--warmup', '1', '--bench-out', str(out)]) == 0
    record = json.loads(out.read_text())
    assert record['machine'] and record['frames'] == 4
    assert 0 < record['total']['p50_ms'] <= record['total']['p90_ms']


def test_bad_input_is_one_line_error(tmp_path, capsys):
    from gfpose_ros.tools.offline_demo import main

    assert main(['--image', str(tmp_path / 'missing.jpg'), '--out-dir', str(tmp_path)]) == 2
    assert 'no such file' in capsys.readouterr().err


def test_cli_subcommand_parser():
    from gfpose_ros.tools.offline_demo import add_demo_parser

    parser = argparse.ArgumentParser()
    add_demo_parser(parser.add_subparsers(dest='command'))
    args = parser.parse_args(['demo', '--image', 'x.jpg', '--fov', '70'])
    assert args.image == 'x.jpg' and args.fov == 70 and callable(args.func)
