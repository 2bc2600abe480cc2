"""2D human keypoint detectors: an RGB image in, people with keypoints out. No ROS.

    detector = create_detector("mediapipe")              # one person, MediaPipe Pose (33)
    detector = create_detector("mediapipe", track=True)  # the same on a camera stream: follows
                                                         # the person between frames
    detector = create_detector("mediapipe_hog")          # several people: HOG boxes, pose each
    detector = create_detector("onnx", onnx_path=...)    # a user's COCO-17 model (ONNX Runtime)
    people = detector(image)  # (H, W, 3) uint8 RGB -> list of Person2D

Every detector returns keypoints in its own layout (``mediapipe33`` or ``coco17``); the lifter
maps them to H36M-17 (skeleton.to_h36m) and masks joints below its confidence threshold.

MediaPipe's legacy Pose solution ships its weights in the mediapipe==0.10.21 wheel for
model_complexity=1 only (0 and 2 would download at run time, which a robot cannot rely on).
"""

import contextlib
import logging
import os
import re
import sys
import tempfile
import warnings
from dataclasses import dataclass

import numpy as np

DETECTORS = ("mediapipe", "mediapipe_hog", "onnx")
COCO17 = "coco17"
MEDIAPIPE33 = "mediapipe33"


class DetectorError(RuntimeError):
    pass


@dataclass
class Person2D:
    keypoints: np.ndarray  # (K, 2) pixels in the full image
    confidence: np.ndarray  # (K,) 0..1
    layout: str  # "mediapipe33" or "coco17"
    box: tuple  # (x0, y0, x1, y1) pixels: the person's extent
    score: float  # detection score 0..1


def check_image(image):
    """Raise ValueError unless image is (H, W, 3) uint8 (RGB)."""
    image = np.asarray(image)
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        raise ValueError(
            f"expected an (H, W, 3) uint8 RGB image, got shape {image.shape} dtype {image.dtype}"
        )
    if image.shape[0] < 8 or image.shape[1] < 8:
        raise ValueError(f"image too small: {image.shape[1]}x{image.shape[0]}")
    return image


def keypoint_box(keypoints, confidence, threshold=0.3):
    """(x0, y0, x1, y1) of the confident keypoints (all keypoints when none is confident)."""
    seen = confidence >= threshold
    pts = keypoints[seen] if seen.any() else keypoints
    return tuple(float(v) for v in (*pts.min(0), *pts.max(0)))


# ------------------------------------------------------------------ MediaPipe


@contextlib.contextmanager
def _quiet_stderr():
    """Silence native stderr: mediapipe's bindings print a harmless protobuf probe error
    ("MessageFactory ... GetPrototype") at import with protobuf >= 5, which would alarm users."""
    fd = os.dup(2)
    try:
        with open(os.devnull, "w") as null:
            os.dup2(null.fileno(), 2)
            yield
    finally:
        os.dup2(fd, 2)
        os.close(fd)


# What MediaPipe's C++ side (absl logging, TFLite) prints on its own stderr when its graph starts
# and at the first person, each harmless and not actionable: routed to this module's Python logger
# at DEBUG instead (see _routed_native_stderr). Any other line is passed on unchanged.
_MEDIAPIPE_NOISE = re.compile(
    r"^(INFO: Created TensorFlow Lite XNNPACK delegate"
    r"|WARNING: All log messages before absl::InitializeLog\(\) is called"
    r"|[IW]\d{4} [\d:. ]+\d+ (inference_feedback_manager|landmark_projection_calculator)\.cc:)"
)
log = logging.getLogger(__name__)


@contextlib.contextmanager
def _routed_native_stderr():
    """For the block, the process's stderr (fd 2) goes to a temporary file; afterwards the lines
    that match _MEDIAPIPE_NOISE go to the logger at DEBUG and every other line (another thread's
    log, say) to the real stderr, in order."""
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with tempfile.TemporaryFile() as captured:
            os.dup2(captured.fileno(), 2)
            try:
                yield
            finally:
                os.dup2(saved, 2)
                captured.seek(0)
                for line in captured.read().decode(errors="replace").splitlines(keepends=True):
                    if _MEDIAPIPE_NOISE.match(line):
                        log.debug("mediapipe: %s", line.rstrip())
                    else:
                        os.write(2, line.encode())
    finally:
        os.close(saved)


def _import_mediapipe_pose():
    try:
        with _quiet_stderr():
            from mediapipe.python.solutions import pose
    except ImportError as exc:
        raise DetectorError(
            f"MediaPipe is not installed ({exc}); install it with "
            "`pip install --no-deps mediapipe==0.10.21` (see scripts/setup_env.sh)"
        ) from None
    return pose


# A change of scene, for a tracking detector: more than this share of a coarse grid of pixels
# (about 32 x 24) changed by more than SCENE_CHANGE_LEVEL grey levels since the last image, or
# another image size. Consecutive frames of a video with people walking change at most 4% of
# the grid (OpenCV's vtest.avi), two different photos 64%.
SCENE_CHANGE_SHARE = 0.3
SCENE_CHANGE_LEVEL = 48


def scene_thumbnail(image):
    """A coarse grid (about 32 x 24) of an RGB image's green channel, for scene_changed."""
    h, w = image.shape[:2]
    return image[:: max(1, h // 24), :: max(1, w // 32), 1].astype(np.int16)


def scene_changed(before, after):
    """Whether two scene_thumbnail grids show different scenes (a cut, a switch of cameras)."""
    if before.shape != after.shape:
        return True
    return np.mean(np.abs(after - before) > SCENE_CHANGE_LEVEL) > SCENE_CHANGE_SHARE


class MediaPipePose:
    """One person per image (the most prominent) with MediaPipe Pose's 33 landmarks.

    ``track``: follow the person from frame to frame (MediaPipe's video mode): the landmark
    model runs on the region the last frame's landmarks give, and the person detector only when
    the person is lost, which about halves the time per frame of a camera stream (README,
    *Camera mode*). The region is kept as long as the landmark model finds a body in it, so on
    a change of scene (scene_changed: a cut, another camera) the old region is dropped first and
    the person detector runs on the new image: otherwise the old region could report the old
    person's extent, or nobody, for a few frames. Without ``track`` every image is detected
    afresh, as crops of different people need (PosePerBox).
    """

    layout = MEDIAPIPE33

    def __init__(self, min_detection_confidence=0.5, track=False):
        pose = _import_mediapipe_pose()
        self.track = track
        with (
            warnings.catch_warnings()
        ):  # mediapipe 0.10.21 uses protobuf's deprecated FieldDescriptor.label
            warnings.simplefilter("ignore", DeprecationWarning)
            with _routed_native_stderr():
                self._pose = pose.Pose(
                    static_image_mode=not track,
                    model_complexity=1,
                    min_detection_confidence=min_detection_confidence,
                )
                # The graph starts on the first image, and its calculators log as they open.
                self._pose.process(np.zeros((64, 64, 3), np.uint8))
        # The first person found makes the landmark calculator log once more: route until then.
        self._route_native_log = True
        self._scene = None  # scene_thumbnail of the last image (track only)

    def __call__(self, image):
        image = check_image(image)
        if self.track:
            scene = scene_thumbnail(image)
            if self._scene is not None and scene_changed(self._scene, scene):
                # An empty image makes the landmark model lose the old region, so the person
                # detector runs on this one (cheaper than restarting MediaPipe's graph).
                self._pose.process(np.zeros_like(image))
            self._scene = scene
        person = self.detect_in_box(image, (0, 0, image.shape[1], image.shape[0]))
        return [] if person is None else [person]

    def detect_in_box(self, image, box, score=None):
        """The person in ``box`` (x0, y0, x1, y1) of image, in full-image pixels, or None."""
        x0, y0, x1, y1 = (int(round(v)) for v in box)
        crop = np.ascontiguousarray(image[y0:y1, x0:x1])
        if self._route_native_log:
            with _routed_native_stderr():
                result = self._pose.process(crop)
            self._route_native_log = result.pose_landmarks is None
        else:
            result = self._pose.process(crop)
        if result.pose_landmarks is None:
            return None
        marks = result.pose_landmarks.landmark
        h, w = crop.shape[:2]
        uv = np.array([(m.x * w + x0, m.y * h + y0) for m in marks])
        # Landmarks may be extrapolated outside the crop; visibility says whether each is seen.
        confidence = np.clip([m.visibility for m in marks], 0.0, 1.0)
        inside = (
            (uv[:, 0] >= 0)
            & (uv[:, 0] < image.shape[1])
            & (uv[:, 1] >= 0)
            & (uv[:, 1] < image.shape[0])
        )
        confidence = np.where(inside, confidence, 0.0)
        return Person2D(
            uv,
            confidence,
            MEDIAPIPE33,
            keypoint_box(uv, confidence),
            float(score if score is not None else confidence.mean()),
        )

    def close(self):
        self._pose.close()


# ------------------------------------------------------------------ person boxes


def non_max_suppression(boxes, scores, iou_threshold):
    """Indices of the boxes kept, best score first."""
    boxes, order = (
        np.asarray(boxes, dtype=np.float64).reshape(-1, 4),
        list(np.argsort(scores)[::-1]),
    )
    keep = []
    while order:
        i = order.pop(0)
        keep.append(i)
        rest = np.array(order, dtype=int)
        if not len(rest):
            break
        lo = np.maximum(boxes[i, :2], boxes[rest, :2])
        hi = np.minimum(boxes[i, 2:], boxes[rest, 2:])
        inter = np.prod((hi - lo).clip(0), axis=1)
        area = lambda b: np.prod(b[..., 2:] - b[..., :2], axis=-1)  # noqa: E731
        iou = inter / (area(boxes[i]) + area(boxes[rest]) - inter)
        order = [j for j, o in zip(rest, iou) if o < iou_threshold]
    return keep


def expand_box(box, image_shape, margin):
    """Grow a box by ``margin`` of its size on each side, clipped to the image."""
    x0, y0, x1, y1 = box
    dx, dy = margin * (x1 - x0), margin * (y1 - y0)
    h, w = image_shape[:2]
    return max(0.0, x0 - dx), max(0.0, y0 - dy), min(float(w), x1 + dx), min(float(h), y1 + dy)


class HogPeople:
    """OpenCV's built-in HOG + linear SVM pedestrian detector: no weights to download.
    Finds upright people at least ~100 px tall; small people are found after upscaling."""

    def __init__(self, min_score=0.3, upscale_below=600):
        import cv2

        self._cv2 = cv2
        self._hog = cv2.HOGDescriptor()
        self._hog.setSVMDetector(cv2.HOGDescriptor_getDefaultPeopleDetector())
        self.min_score = min_score
        self.upscale_below = upscale_below

    def __call__(self, image):
        """Person boxes (M, 4) x0 y0 x1 y1 in pixels and scores (M,)."""
        scale = max(1.0, self.upscale_below / min(image.shape[:2]))
        gray = self._cv2.cvtColor(image, self._cv2.COLOR_RGB2GRAY)
        if scale > 1:
            gray = self._cv2.resize(gray, None, fx=scale, fy=scale)
        rects, weights = self._hog.detectMultiScale(
            gray, winStride=(8, 8), padding=(8, 8), scale=1.05
        )
        if not len(rects):
            return np.zeros((0, 4)), np.zeros(0)
        rects = np.asarray(rects, dtype=np.float64) / scale
        boxes = np.concatenate([rects[:, :2], rects[:, :2] + rects[:, 2:]], axis=1)
        # SVM margins -> 0..1 scores, so one threshold reads the same for every detector.
        scores = 1.0 / (1.0 + np.exp(-np.asarray(weights, dtype=np.float64).ravel()))
        keep = [i for i in non_max_suppression(boxes, scores, 0.4) if scores[i] >= self.min_score]
        return boxes[keep], scores[keep]


class PosePerBox:
    """Several people: person boxes from ``boxes`` (e.g. HogPeople), then ``pose`` per crop."""

    def __init__(self, boxes, pose, max_people=10, margin=0.15):
        self.boxes, self.pose = boxes, pose
        self.layout = pose.layout
        self.max_people = max_people
        self.margin = margin

    def __call__(self, image):
        image = check_image(image)
        boxes, scores = self.boxes(image)
        people = []
        for box, score in list(zip(boxes, scores))[: self.max_people]:
            person = self.pose.detect_in_box(
                image, expand_box(box, image.shape, self.margin), score
            )
            if person is not None:
                people.append(person)
        return people

    def close(self):
        self.pose.close()


# ------------------------------------------------------------------ user ONNX model


class OnnxKeypoints:
    """A user-supplied COCO-17 keypoint model run by ONNX Runtime. Two output formats, told
    apart by their shapes:

    - single-stage, YOLO-pose style: one output (1, 4 + 1 + 17*3, N) or (1, N, 56) with box
      centre/size, person score and (u, v, score) per keypoint, in input pixels; the image is
      letterboxed to the model's square input.
    - top-down (RTMPose, HRNet, ViTPose exports): heatmaps (1, 17, h, w), or SimCC
      (1, 17, Wx) + (1, 17, Hy); it runs per person box from ``boxes`` (HOG by default),
      each crop resized to the model's input with ImageNet normalisation.
    """

    layout = COCO17

    def __init__(self, path, boxes=None, min_score=0.3, max_people=10, threads=0):
        try:
            import onnxruntime as ort
        except ImportError as exc:
            raise DetectorError(f"onnxruntime is not installed ({exc})") from None
        if not path or not os.path.isfile(path):
            raise DetectorError(f"ONNX keypoint model not found: {path!r}")
        from .onnxruntime_session import session_options

        try:
            self.session = ort.InferenceSession(
                path, session_options(threads), providers=["CPUExecutionProvider"]
            )
        except Exception as exc:
            raise DetectorError(f"cannot load ONNX model {path}: {exc}") from None
        inp = self.session.get_inputs()[0]
        self.input_name = inp.name
        self.input_hw = tuple(d if isinstance(d, int) else 640 for d in inp.shape[2:4])
        outputs = [o.shape for o in self.session.get_outputs()]
        self.single_stage = len(outputs) == 1 and len(outputs[0]) == 3
        self.boxes = None if self.single_stage else (boxes or HogPeople())
        self.min_score = min_score
        self.max_people = max_people

    def __call__(self, image):
        image = check_image(image)
        if self.single_stage:
            return self._single_stage(image)
        boxes, scores = self.boxes(image)
        people = [
            self._top_down(image, box, score)
            for box, score in list(zip(boxes, scores))[: self.max_people]
        ]
        return [p for p in people if p is not None]

    def _run(self, blob):
        return self.session.run(None, {self.input_name: blob.astype(np.float32)})

    def _single_stage(self, image):
        import cv2

        h_in, w_in = self.input_hw
        scale = min(w_in / image.shape[1], h_in / image.shape[0])
        resized = cv2.resize(image, (round(image.shape[1] * scale), round(image.shape[0] * scale)))
        canvas = np.full((h_in, w_in, 3), 114, np.uint8)
        canvas[: resized.shape[0], : resized.shape[1]] = resized
        out = np.asarray(self._run(canvas.transpose(2, 0, 1)[None] / 255.0)[0])[0]
        rows = out.T if out.shape[0] == 56 else out  # (N, 56)
        if rows.shape[-1] != 56:
            raise DetectorError(
                f"single-stage ONNX output must have 56 = 4 + 1 + 17*3 values per row, "
                f"got shape {out.shape}"
            )
        rows = rows[rows[:, 4] >= self.min_score]
        cx, cy, bw, bh = rows[:, :4].T / scale
        boxes = np.stack([cx - bw / 2, cy - bh / 2, cx + bw / 2, cy + bh / 2], axis=1)
        keep = non_max_suppression(boxes, rows[:, 4], 0.5)[: self.max_people]
        people = []
        for i in keep:
            kp = rows[i, 5:].reshape(17, 3)
            people.append(
                Person2D(
                    kp[:, :2] / scale,
                    kp[:, 2].clip(0, 1),
                    COCO17,
                    tuple(boxes[i]),
                    float(rows[i, 4]),
                )
            )
        return people

    def _top_down(self, image, box, score):
        import cv2

        h_in, w_in = self.input_hw
        # Widen the box to the model's aspect ratio so the crop is not distorted.
        x0, y0, x1, y1 = expand_box(box, image.shape, 0.1)
        cx, cy, bw, bh = (x0 + x1) / 2, (y0 + y1) / 2, x1 - x0, y1 - y0
        bw, bh = max(bw, bh * w_in / h_in), max(bh, bw * h_in / w_in)
        sx, sy = w_in / bw, h_in / bh
        affine = np.array([[sx, 0, w_in / 2 - sx * cx], [0, sy, h_in / 2 - sy * cy]])
        crop = cv2.warpAffine(image, affine, (w_in, h_in), flags=cv2.INTER_LINEAR)
        blob = (crop / 255.0 - [0.485, 0.456, 0.406]) / [0.229, 0.224, 0.225]
        outputs = [np.asarray(o)[0] for o in self._run(blob.transpose(2, 0, 1)[None])]
        if len(outputs) == 2:  # SimCC: a 1D distribution per axis, split_ratio = bins / input size
            x_bins, y_bins = outputs
            u = x_bins.argmax(-1) * w_in / x_bins.shape[-1]
            v = y_bins.argmax(-1) * h_in / y_bins.shape[-1]
            conf = np.minimum(x_bins.max(-1), y_bins.max(-1))
        else:  # heatmaps (17, h, w)
            heat = outputs[0]
            flat = heat.reshape(len(heat), -1)
            v_idx, u_idx = np.unravel_index(flat.argmax(-1), heat.shape[1:])
            u = (u_idx + 0.5) * w_in / heat.shape[2]
            v = (v_idx + 0.5) * h_in / heat.shape[1]
            conf = flat.max(-1)
        uv = np.stack([(u - affine[0, 2]) / sx, (v - affine[1, 2]) / sy], axis=-1)
        conf = np.clip(conf, 0.0, 1.0)
        if len(uv) != 17:
            raise DetectorError(
                f"ONNX keypoint model must output 17 COCO keypoints, got {len(uv)}"
            )
        return Person2D(uv, conf, COCO17, keypoint_box(uv, conf), float(score))

    def close(self):
        pass


def detector_source(kind, onnx_path=""):
    """Where a detector's weights come from, in words (for the start-up log line)."""
    if kind == "onnx":
        return f"ONNX model {onnx_path}"
    try:
        from importlib.metadata import version

        mediapipe = f"mediapipe {version('mediapipe')}"
    except Exception:  # metadata missing: the version is only informative
        mediapipe = "mediapipe"
    pose = f"MediaPipe Pose (full) from the {mediapipe} package"
    return pose if kind == "mediapipe" else f"OpenCV HOG people detector, then {pose}"


def create_detector(
    kind="mediapipe",
    onnx_path="",
    max_people=10,
    min_detection_confidence=0.5,
    threads=0,
    track=False,
):
    """A detector by name (DETECTORS); raises DetectorError when it cannot run here.
    ``track``: the one-person ``mediapipe`` follows its person between frames of a stream
    (MediaPipePose); the others detect every image afresh."""
    if kind == "mediapipe":
        return MediaPipePose(min_detection_confidence, track)
    if kind == "mediapipe_hog":
        return PosePerBox(HogPeople(), MediaPipePose(min_detection_confidence), max_people)
    if kind == "onnx":
        return OnnxKeypoints(onnx_path, max_people=max_people, threads=threads)
    raise DetectorError(f"unknown detector {kind!r}; choose one of {', '.join(DETECTORS)}")


# ------------------------------------------------------------------ drawing


def draw_people(image, people, threshold=0.3):
    """A copy of the RGB image with each person's skeleton, drawn in the H36M-17 joints the
    lifter sees: bones between confident joints, confident joints filled green, masked
    (below ``threshold``) joints as hollow orange circles where the detector guessed them."""
    import cv2

    from .skeleton import BONES, to_h36m

    out = np.ascontiguousarray(image).copy()
    scale = max(1, round(max(image.shape[:2]) / 500))
    for person in people:
        uv, conf = to_h36m(person.layout, person.keypoints, person.confidence)
        raw_uv, _ = to_h36m(person.layout, person.keypoints, np.ones(len(person.keypoints)))
        seen = conf >= threshold
        x0, y0, x1, y1 = (int(round(v)) for v in person.box)
        cv2.rectangle(out, (x0, y0), (x1, y1), (200, 200, 200), scale)
        for a, b in BONES:
            if seen[a] and seen[b]:
                cv2.line(out, _pt(uv[a]), _pt(uv[b]), (30, 144, 255), 2 * scale, cv2.LINE_AA)
        for j in range(len(uv)):
            if seen[j]:
                cv2.circle(out, _pt(uv[j]), 3 * scale, (40, 220, 40), -1, cv2.LINE_AA)
            elif j in _DETECTABLE[person.layout]:
                cv2.circle(out, _pt(raw_uv[j]), 4 * scale, (255, 140, 0), scale, cv2.LINE_AA)
    return out


def _pt(p):
    return int(round(float(p[0]))), int(round(float(p[1])))


def _detectable_joints():
    from .skeleton import LAYOUTS

    return {name: set(mapping) for name, (_, mapping) in LAYOUTS.items()}


_DETECTABLE = _detectable_joints()
