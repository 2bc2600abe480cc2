"""The 2D detector stage on real photos and video that registry packages ship: matplotlib's
grace_hopper.jpg and scikit-image's astronaut (upper-body portraits), opencv-doc's messi5.jpg,
basketball1/2.png (full body) and vtest.avi (several pedestrians). Plus the ONNX detector's
output decoding on tiny synthetic models, and the image-message conversion."""

import importlib.util
import os

import numpy as np
import pytest

from gfpose_ros.skeleton import LOWER_BODY, to_h36m

OPENCV_DATA = '/usr/share/doc/opencv-doc/examples/data'
PORTRAITS = ('grace_hopper', 'astronaut')
FULL_BODY = ('messi5.jpg', 'basketball1.png', 'basketball2.png')
THRESHOLD = 0.3
NOSE, L_SHOULDER, R_SHOULDER, L_HIP, R_HIP, L_WRIST, R_WRIST, L_ANKLE, R_ANKLE = (
    0,
    11,
    12,
    23,
    24,
    15,
    16,
    27,
    28,
)


def load_photo(name):
    """An RGB photo by name; skips when the package that ships it is missing."""
    from gfpose_ros.tools.offline_demo import load_image

    if name == 'grace_hopper':
        import matplotlib.cbook

        return load_image(matplotlib.cbook.get_sample_data('grace_hopper.jpg', asfileobj=False))
    if name == 'astronaut':
        data = pytest.importorskip(
            'skimage.data', reason='scikit-image is not installed (scripts/setup_env.sh)'
        )
        return np.ascontiguousarray(data.astronaut())
    path = os.path.join(OPENCV_DATA, name)
    if not os.path.exists(path):
        pytest.skip(f'{path} missing: apt-get install opencv-doc')
    return load_image(path)


@pytest.fixture(scope='module')
def mediapipe():
    if importlib.util.find_spec('mediapipe') is None:
        pytest.skip('mediapipe is not installed (scripts/setup_env.sh)')
    from gfpose_ros.detect import create_detector

    detector = create_detector('mediapipe')
    yield detector
    detector.close()


@pytest.mark.parametrize('name', PORTRAITS + FULL_BODY)
def test_one_person_with_plausible_upper_body(mediapipe, name):
    image = load_photo(name)
    people = mediapipe(image)
    assert len(people) == 1
    person = people[0]
    assert (
        person.layout == 'mediapipe33'
        and person.keypoints.shape == (33, 2)
        and person.confidence.shape == (33,)
    )
    kp, conf = person.keypoints, person.confidence
    h, w = image.shape[:2]
    for joint in (NOSE, L_SHOULDER, R_SHOULDER):
        assert conf[joint] > 0.8, f'joint {joint} not seen'
        assert 0 <= kp[joint, 0] < w and 0 <= kp[joint, 1] < h
    # Shoulders below the nose, on either side of it (the person faces the camera in all of these).
    assert kp[NOSE, 1] < min(kp[L_SHOULDER, 1], kp[R_SHOULDER, 1])
    assert (
        min(kp[L_SHOULDER, 0], kp[R_SHOULDER, 0])
        < kp[NOSE, 0]
        < max(kp[L_SHOULDER, 0], kp[R_SHOULDER, 0])
    )
    x0, y0, x1, y1 = person.box
    assert kp[NOSE, 1] < y0 + 0.35 * (y1 - y0), 'the head is near the top of the person'
    for joint in (L_WRIST, R_WRIST):  # seen wrists lie inside the image
        if conf[joint] >= THRESHOLD:
            assert 0 <= kp[joint, 0] < w and 0 <= kp[joint, 1] < h


@pytest.mark.parametrize('name', PORTRAITS)
def test_portrait_legs_are_masked(mediapipe, name):
    person = mediapipe(load_photo(name))[0]
    _, conf = to_h36m(person.layout, person.keypoints, person.confidence)
    assert (conf[list(LOWER_BODY)] < THRESHOLD).all()


@pytest.mark.parametrize('name', FULL_BODY)
def test_full_body_legs_are_seen(mediapipe, name):
    person = mediapipe(load_photo(name))[0]
    kp = person.keypoints
    _, conf = to_h36m(person.layout, kp, person.confidence)
    assert (conf[list(LOWER_BODY)] >= THRESHOLD).all()
    assert max(kp[L_SHOULDER, 1], kp[R_SHOULDER, 1]) < min(kp[L_HIP, 1], kp[R_HIP, 1])


def test_nobody_in_a_blank_image(mediapipe):
    assert mediapipe(np.full((240, 320, 3), 90, np.uint8)) == []


def test_bad_image_is_rejected(mediapipe):
    with pytest.raises(ValueError, match='uint8 RGB'):
        mediapipe(np.zeros((100, 100), np.uint8))


def test_following_the_person_agrees_with_detecting_afresh_on_a_still_scene(mediapipe):
    """track=True (the camera node's track_person): on a still scene, frame after frame, its
    keypoints are the ones a fresh detection gives, and a blank image ends the track."""
    from gfpose_ros.detect import create_detector

    image = load_photo('basketball1.png')
    (truth,) = mediapipe(image)
    size = np.linalg.norm(np.subtract(truth.box[2:], truth.box[:2]))
    follower = create_detector('mediapipe', track=True)
    try:
        for _ in range(4):
            (person,) = follower(image)
            seen = (person.confidence > 0.8) & (truth.confidence > 0.8)
            assert seen[[NOSE, L_SHOULDER, R_SHOULDER]].all()
            error = np.linalg.norm(person.keypoints[seen] - truth.keypoints[seen], axis=1)
            assert np.median(error) < 0.03 * size
        assert follower(np.full((240, 320, 3), 90, np.uint8)) == []
    finally:
        follower.close()


def test_scene_change_is_a_cut_or_another_size_never_people_walking():
    import cv2

    from gfpose_ros.detect import scene_changed, scene_thumbnail

    first, second = load_photo('basketball1.png'), load_photo('basketball2.png')
    assert first.shape == second.shape
    assert not scene_changed(scene_thumbnail(first), scene_thumbnail(second))  # one scene
    portrait = cv2.resize(load_photo('grace_hopper'), first.shape[1::-1])
    assert scene_changed(scene_thumbnail(first), scene_thumbnail(portrait))  # a cut
    assert scene_changed(scene_thumbnail(first), scene_thumbnail(first[:-8]))  # another size
    path = os.path.join(OPENCV_DATA, 'vtest.avi')
    if not os.path.exists(path):
        return  # the photos above cover both answers; the video adds people walking
    capture = cv2.VideoCapture(path)
    previous, cuts = None, 0
    for _ in range(200):
        ok, bgr = capture.read()
        assert ok
        scene = scene_thumbnail(bgr)
        cuts += previous is not None and scene_changed(previous, scene)
        previous = scene
    capture.release()
    assert cuts == 0


def test_following_the_person_starts_afresh_after_a_change_of_scene(mediapipe):
    """On the first image of a new scene the tracking detector finds what a fresh detection
    finds (it used to keep the old region and report nobody, or the old extent, for a frame
    or more), then follows on."""
    from gfpose_ros.detect import create_detector

    follower = create_detector('mediapipe', track=True)
    try:
        for name in ('basketball1.png', 'grace_hopper', 'messi5.jpg', 'basketball1.png'):
            image = load_photo(name)
            (truth,) = mediapipe(image)
            size = np.linalg.norm(np.subtract(truth.box[2:], truth.box[:2]))
            for _ in range(2):
                (person,) = follower(image)
                seen = (person.confidence > 0.5) & (truth.confidence > 0.5)
                assert seen.sum() >= 10, name
                error = np.linalg.norm(person.keypoints[seen] - truth.keypoints[seen], axis=1)
                assert np.median(error) < 0.03 * size, name
                # Nothing reported seen that a fresh detection does not see.
                assert not ((person.confidence > 0.5) & (truth.confidence <= 0.3)).any(), name
    finally:
        follower.close()


def test_hog_finds_several_people_in_the_video(mediapipe):
    import cv2

    from gfpose_ros.detect import HogPeople, PosePerBox

    path = os.path.join(OPENCV_DATA, 'vtest.avi')
    if not os.path.exists(path):
        pytest.skip(f'{path} missing: apt-get install opencv-doc')
    capture = cv2.VideoCapture(path)
    capture.set(cv2.CAP_PROP_POS_FRAMES, 20)
    ok, bgr = capture.read()
    capture.release()
    assert ok
    people = PosePerBox(HogPeople(), mediapipe)(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))
    assert len(people) >= 2
    boxes = np.array([p.box for p in people])
    centres = 0.5 * (boxes[:, :2] + boxes[:, 2:])
    assert np.linalg.norm(centres[0] - centres[1]) > 20, (
        'two different people, not one found twice'
    )


# ------------------------------------------------------------------ ONNX decoding


def _constant_model(path, input_shape, outputs):
    """An ONNX model that ignores its image input and returns fixed tensors: enough to test
    decoding."""
    onnx = pytest.importorskip('onnx')
    from onnx import TensorProto, helper, numpy_helper

    nodes, infos = [], []
    for i, value in enumerate(outputs):
        name = f'out{i}'
        nodes.append(
            helper.make_node(
                'Constant', [], [name], value=numpy_helper.from_array(value.astype(np.float32))
            )
        )
        infos.append(helper.make_tensor_value_info(name, TensorProto.FLOAT, list(value.shape)))
    graph = helper.make_graph(
        nodes,
        'g',
        [helper.make_tensor_value_info('images', TensorProto.FLOAT, list(input_shape))],
        infos,
    )
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid('', 13)]), path)
    return path


def test_onnx_single_stage_yolo_pose_decoding(tmp_path):
    from gfpose_ros.detect import OnnxKeypoints

    keypoints = np.stack(
        [np.linspace(100, 200, 17), np.linspace(50, 300, 17), np.full(17, 0.9)], -1
    )
    person = np.concatenate([[150, 175, 100, 250, 0.95], keypoints.ravel()])
    weak = person.copy()
    weak[4] = 0.1  # below min_score: dropped
    rows = np.stack([person, weak], 1)[None]  # (1, 56, 2), as YOLO-pose exports it
    detector = OnnxKeypoints(
        _constant_model(str(tmp_path / 'yolo.onnx'), (1, 3, 640, 640), [rows])
    )
    image = np.zeros((320, 640, 3), np.uint8)  # scale 1 into the 640 x 640 letterbox
    people = detector(image)
    assert len(people) == 1 and people[0].layout == 'coco17'
    np.testing.assert_allclose(people[0].keypoints, keypoints[:, :2], atol=1e-3)
    np.testing.assert_allclose(people[0].box, (100, 50, 200, 300), atol=1e-3)
    half = detector(np.zeros((640, 1280, 3), np.uint8))  # scale 0.5: pixels come back doubled
    np.testing.assert_allclose(half[0].keypoints, 2 * keypoints[:, :2], atol=1e-3)


def test_onnx_top_down_heatmap_decoding(tmp_path):
    from gfpose_ros.detect import OnnxKeypoints

    heat = np.zeros((1, 17, 64, 48))
    heat[0, :, 32, 24] = 0.8  # every joint at the crop centre
    model = _constant_model(str(tmp_path / 'heat.onnx'), (1, 3, 256, 192), [heat])

    def one_box(image):
        return np.array([[100.0, 100.0, 196.0, 356.0]]), np.array([0.9])

    detector = OnnxKeypoints(model, boxes=one_box)
    people = detector(np.zeros((480, 640, 3), np.uint8))
    assert len(people) == 1
    centre = np.array([148.0, 228.0])
    assert np.abs(people[0].keypoints - centre).max() < 6, people[0].keypoints[0]
    np.testing.assert_allclose(people[0].confidence, 0.8)


def test_onnx_missing_model_is_a_clear_error():
    from gfpose_ros.detect import DetectorError, create_detector

    with pytest.raises(DetectorError, match='not found'):
        create_detector('onnx', '/nonexistent/model.onnx')
    with pytest.raises(DetectorError, match='unknown detector'):
        create_detector('yolo')


# ------------------------------------------------------------------ image messages


@pytest.mark.parametrize('encoding', ['rgb8', 'bgr8', 'mono8', 'rgba8'])
def test_image_message_conversion(encoding):
    pytest.importorskip('sensor_msgs.msg', reason='needs ROS 2 message packages')
    from gfpose_ros.ros.image_conversion import image_msg, image_to_rgb
    from std_msgs.msg import Header

    rgb = np.random.default_rng(0).integers(0, 256, (5, 7, 3), dtype=np.uint8)
    pixels = {
        'rgb8': rgb,
        'bgr8': rgb[..., ::-1],
        'mono8': rgb[..., :1],
        'rgba8': np.concatenate([rgb, np.full((5, 7, 1), 255, np.uint8)], -1),
    }[encoding]
    msg = image_msg(Header(), pixels, encoding)
    # Rows padded to a larger step, as some drivers do.
    channels = pixels.shape[2]
    padded = np.zeros((5, 7 * channels + 3), np.uint8)
    padded[:, : 7 * channels] = pixels.reshape(5, -1)
    msg.step, msg.data = 7 * channels + 3, padded.tobytes()
    expected = np.repeat(rgb[..., :1], 3, axis=2) if encoding == 'mono8' else rgb
    np.testing.assert_array_equal(image_to_rgb(msg), expected)


def test_image_message_rejections():
    pytest.importorskip('sensor_msgs.msg', reason='needs ROS 2 message packages')
    from gfpose_ros.ros.image_conversion import ImageError, image_msg, image_to_rgb
    from std_msgs.msg import Header

    msg = image_msg(Header(), np.zeros((4, 4, 3), np.uint8), 'rgb8')
    msg.encoding = 'yuv422'
    with pytest.raises(ImageError, match="unsupported image encoding 'yuv422'"):
        image_to_rgb(msg)
    msg.encoding, msg.data = 'rgb8', b'\0' * 10
    with pytest.raises(ImageError, match='truncated'):
        image_to_rgb(msg)
    msg.width = 0
    with pytest.raises(ImageError, match='empty'):
        image_to_rgb(msg)
