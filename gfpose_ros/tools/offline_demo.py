"""The camera pipeline without ROS: photo or video -> 2D keypoints -> metric 3D poses.

    gfpose demo --image photo.jpg             # outputs/demo/photo.png + photo.json
    gfpose demo --video clip.avi --frames 30  # outputs/demo/clip.gif + clip.json
    python -m gfpose_ros.tools.offline_demo --bench # camera-to-3D latency per frame (p50/p90)

The picture shows the 2D detection (masked joints hollow, orange) beside the 3D result seen
from the camera and from the side: observed joints green, joints completed by the pose prior
orange, and the hypotheses as a grey cloud. Without intrinsics (--fov or --fx) a horizontal
field of view of DEFAULT_HFOV_DEG is assumed, which scales the depth, and the run says so.
"""

import argparse
import json
import os
import platform
import sys
import time

import numpy as np

from ..camera import intrinsics
from ..detect import DETECTORS, create_detector, draw_people
from ..lifter import Lifter
from ..pipeline import FramePipeline
from ..selection import Person2D
from ..settings import BackendSpec, LiftSettings
from ..skeleton import BONES

SPEC_DEFAULTS, LIFT_DEFAULTS = BackendSpec(), LiftSettings()
DEFAULT_HFOV_DEG = 60.0  # a typical webcam / robot camera
DEFAULT_OUT_DIR = os.path.join("outputs", "demo")
OPENCV_DATA = "/usr/share/doc/opencv-doc/examples/data"


def default_intrinsics(width, height, hfov_deg=DEFAULT_HFOV_DEG):
    """K of an ideal pinhole camera with square pixels and the principal point at the centre."""
    f = 0.5 * width / np.tan(np.radians(hfov_deg) / 2)
    return intrinsics(f, f, width / 2.0, height / 2.0)


def camera_matrix(args, width, height):
    """(K, description): from --fx/--fy/--cx/--cy, else from --fov (default DEFAULT_HFOV_DEG)."""
    if args.fx:
        K = intrinsics(
            args.fx,
            args.fy or args.fx,
            args.cx if args.cx is not None else width / 2.0,
            args.cy if args.cy is not None else height / 2.0,
        )
        return (
            K,
            f"given intrinsics fx={K[0, 0]:.1f} fy={K[1, 1]:.1f} cx={K[0, 2]:.1f} "
            f"cy={K[1, 2]:.1f}",
        )
    fov = args.fov or DEFAULT_HFOV_DEG
    K = default_intrinsics(width, height, fov)
    return K, (
        f"no intrinsics given: assuming a {fov:g} deg horizontal field of view (fx = fy = "
        f"{K[0, 0]:.1f} px, "
        "principal point at the image centre); metric depth scales with this guess"
    )


def lift_people(pipeline, people, K, stamp=0.0):
    """Lift a detector's people through the node's per-frame path (pipeline.FramePipeline).
    Returns (the people lifted, LiftResult or None when nobody was)."""
    frame = pipeline.lift_frame(
        [Person2D(i, p.layout, p.keypoints, p.confidence) for i, p in enumerate(people)],
        K,
        stamp,
    )
    if not frame.ids:
        return [], None
    return [people[i] for i in frame.indices], frame.result


# ------------------------------------------------------------------ pictures


def _xyz(points):
    """Camera optical frame (x right, y down, z forward) -> plot axes (x, depth, up)."""
    p = np.asarray(points).reshape(-1, 3)
    return p[:, 0], p[:, 2], -p[:, 1]


def _bone_segments(poses):
    """(P * bones, 2, 3) line segments in plot axes of poses (P, 17, 3)."""
    return np.stack(_xyz(poses[:, np.array(BONES)].reshape(-1, 3)), -1).reshape(-1, 2, 3)


def _draw_3d(ax, result, azim, title):
    from mpl_toolkits.mplot3d.art3d import Line3DCollection

    for i, (pose, observed) in enumerate(zip(result.poses, result.observed)):
        # The hypotheses as faint skeletons, so the spread shows per limb; one artist for all is
        # fast.
        ax.add_collection3d(
            Line3DCollection(
                _bone_segments(result.hypotheses[i]),
                colors="gray",
                linewidths=0.6,
                alpha=0.3,
                label="hypotheses" if i == 0 else None,
            )
        )
        ax.add_collection3d(
            Line3DCollection(_bone_segments(pose[None]), colors="tab:blue", linewidths=2)
        )
        ax.scatter(
            *_xyz(pose[observed]), color="tab:green", s=14, label="observed" if i == 0 else None
        )
        ax.scatter(
            *_xyz(pose[~observed]), color="tab:orange", s=22, label="completed" if i == 0 else None
        )
    points = result.poses.reshape(-1, 3)
    centre = 0.5 * (points.min(0) + points.max(0))
    radius = 0.5 * max(1.8, (points.max(0) - points.min(0)).max()) + 0.2
    ax.set_xlim(centre[0] - radius, centre[0] + radius)
    ax.set_ylim(centre[2] - radius, centre[2] + radius)
    ax.set_zlim(-centre[1] - radius, -centre[1] + radius)
    ax.view_init(elev=10, azim=azim)
    ax.set_xlabel("x (m)", fontsize=7)
    ax.set_ylabel("depth z (m)", fontsize=7)
    ax.set_zlabel("up (m)", fontsize=7)
    ax.tick_params(labelsize=6)
    ax.set_title(title, fontsize=9)


def render(image, people, result, threshold, caption):
    """One RGB picture: 2D overlay | 3D seen from the camera | 3D seen from the side."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig = plt.figure(figsize=(15, 5), dpi=80)
    ax = fig.add_subplot(1, 3, 1)
    ax.imshow(draw_people(image, people, threshold))
    ax.set_axis_off()
    ax.set_title(
        f"2D: {len(people)} people (hollow orange: below confidence {threshold})", fontsize=9
    )
    if result is not None:
        # azim -90 looks along +depth, i.e. from behind the camera; 0 looks from the person's side.
        _draw_3d(fig.add_subplot(1, 3, 2, projection="3d"), result, -90, "3D, camera view")
        ax3 = fig.add_subplot(1, 3, 3, projection="3d")
        _draw_3d(ax3, result, -15, "3D, side view")
        ax3.legend(loc="upper right", fontsize=7)
    fig.suptitle(caption, fontsize=9)
    fig.subplots_adjust(left=0.01, right=0.97, bottom=0.04, top=0.88, wspace=0.05)
    fig.canvas.draw()
    picture = np.asarray(fig.canvas.buffer_rgba())[..., :3].copy()
    plt.close(fig)
    return picture


# ------------------------------------------------------------------ results


def frame_record(people, result, seconds):
    """JSON-ready results of one frame."""
    record = {
        "detect_ms": round(seconds[0] * 1e3, 1),
        "lift_ms": round(seconds[1] * 1e3, 1),
        "people": [],
    }
    for i, person in enumerate(people):
        entry = {
            "layout": person.layout,
            "box": [round(v, 1) for v in person.box],
            "score": round(person.score, 3),
            "keypoints_2d": np.round(person.keypoints, 1).tolist(),
            "confidence_2d": np.round(person.confidence, 3).tolist(),
        }
        if result is not None:
            entry.update(
                {
                    "pose_3d_m": np.round(result.poses[i], 4).tolist(),
                    "joint_std_m": np.round(result.joint_std[i], 4).tolist(),
                    "observed": result.observed[i].tolist(),
                    "confidence_3d": round(float(result.confidence[i]), 3),
                    "hypotheses_m": np.round(result.hypotheses[i], 3).tolist(),
                }
            )
        record["people"].append(entry)
    return record


def process(detector, pipeline, image, K, stamp=0.0):
    """(people lifted, LiftResult or None, (detect s, lift s)) of one RGB image."""
    t0 = time.perf_counter()
    people = detector(image)
    t1 = time.perf_counter()
    people, result = lift_people(pipeline, people, K, stamp)
    return people, result, (t1 - t0, time.perf_counter() - t1)


def load_image(path):
    import cv2

    bgr = cv2.imread(path, cv2.IMREAD_COLOR)
    if bgr is None:
        raise OSError(f"cannot read image {path}")
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


def run_image(args, detector, pipeline):
    image = load_image(args.image)
    K, k_note = camera_matrix(args, image.shape[1], image.shape[0])
    print(k_note)
    people, result, seconds = process(detector, pipeline, image, K)
    name = os.path.splitext(os.path.basename(args.image))[0]
    os.makedirs(args.out_dir, exist_ok=True)
    caption = (
        f"{name}: {len(people)} people lifted, "
        f"{pipeline.lifter.settings.num_hypotheses} hypotheses, backend "
        f"{pipeline.lifter.backend.name}; {k_note.split(';')[0]}"
    )
    png = os.path.join(args.out_dir, name + ".png")
    _save_png(
        png, render(image, people, result, pipeline.lifter.settings.confidence_threshold, caption)
    )
    record = {
        "input": os.path.abspath(args.image),
        "image_size": [image.shape[1], image.shape[0]],
        "intrinsics": K.tolist(),
        "intrinsics_source": k_note,
        **_settings(args, pipeline),
        "frames": [frame_record(people, result, seconds)],
    }
    _write_json(os.path.join(args.out_dir, name + ".json"), record)
    _summarise(name, people, result, seconds)
    print(f"wrote {png} and {os.path.join(args.out_dir, name + '.json')}")
    return record


def run_video(args, detector, pipeline):
    import cv2

    capture = cv2.VideoCapture(args.video)
    if not capture.isOpened():
        raise OSError(f"cannot open video {args.video}")
    fps = capture.get(cv2.CAP_PROP_FPS) or 25.0
    name = os.path.splitext(os.path.basename(args.video))[0]
    os.makedirs(args.out_dir, exist_ok=True)
    frames, pictures, K, k_note = [], [], None, ""
    index = 0
    while args.frames <= 0 or len(frames) < args.frames:
        ok, bgr = capture.read()
        if not ok:
            break
        index += 1
        if (index - 1) % args.stride:
            continue
        image = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
        if K is None:
            K, k_note = camera_matrix(args, image.shape[1], image.shape[0])
            print(k_note)
        people, result, seconds = process(detector, pipeline, image, K, (index - 1) / fps)
        frames.append({"frame": index - 1, **frame_record(people, result, seconds)})
        caption = f"{name} frame {index - 1}: {len(people)} people lifted"
        pictures.append(
            render(image, people, result, pipeline.lifter.settings.confidence_threshold, caption)
        )
        _summarise(f"frame {index - 1}", people, result, seconds)
    capture.release()
    if not frames:
        raise OSError(f"no frames could be read from {args.video}")
    movie = os.path.join(args.out_dir, name + (".mp4" if args.mp4 else ".gif"))
    _save_movie(movie, pictures, fps / args.stride)
    record = {
        "input": os.path.abspath(args.video),
        "intrinsics": K.tolist(),
        "intrinsics_source": k_note,
        "fps": fps,
        "stride": args.stride,
        **_settings(args, pipeline),
        "frames": frames,
    }
    _write_json(os.path.join(args.out_dir, name + ".json"), record)
    print(f"wrote {movie} and {os.path.join(args.out_dir, name + '.json')} ({len(frames)} frames)")
    return record


def _settings(args, pipeline):
    lifter = pipeline.lifter
    return {
        "detector": args.detector,
        "backend": lifter.backend.name,
        "steps": lifter.spec.steps,
        "num_hypotheses": lifter.settings.num_hypotheses,
        "confidence_threshold": lifter.settings.confidence_threshold,
        "frame": "camera optical frame (x right, y down, z forward), metres; joints in H36M-17 "
        "order",
    }


def _summarise(label, people, result, seconds):
    completed = (
        ""
        if result is None
        else ", completed joints per person: " + str([int((~o).sum()) for o in result.observed])
    )
    print(
        f"{label}: {len(people)} people; detect {seconds[0] * 1e3:.0f} ms, lift "
        f"{seconds[1] * 1e3:.0f} ms" + completed
    )


def _save_png(path, picture):
    from PIL import Image

    Image.fromarray(picture).save(path)


def _save_movie(path, pictures, fps):
    if path.endswith(".mp4"):
        import cv2

        h, w = pictures[0].shape[:2]
        writer = cv2.VideoWriter(path, cv2.VideoWriter_fourcc(*"mp4v"), fps, (w, h))
        for p in pictures:
            writer.write(cv2.cvtColor(p, cv2.COLOR_RGB2BGR))
        writer.release()
        return
    from PIL import Image

    images = [Image.fromarray(p) for p in pictures]
    images[0].save(path, save_all=True, append_images=images[1:], duration=int(1000 / fps), loop=0)


def _write_json(path, record):
    with open(path, "w") as f:
        json.dump(record, f)


# ------------------------------------------------------------------ benchmark


def bundled_photos():
    """The test photos that registry packages ship (those present on this machine)."""
    paths = []
    try:
        import matplotlib.cbook

        paths.append(matplotlib.cbook.get_sample_data("grace_hopper.jpg", asfileobj=False))
    except Exception:
        pass
    paths += [
        os.path.join(OPENCV_DATA, n) for n in ("messi5.jpg", "basketball1.png", "basketball2.png")
    ]
    return [p for p in paths if os.path.exists(str(p))]


def machine_name():
    from .bench import machine_info

    info = machine_info(threads=0)
    return f"{platform.node()}: {info['cpu']}, {info['cores']} cores"


def run_bench(args, detector, pipeline):
    """Camera-to-3D latency per frame (detect + lift) over the bundled photos, cycled, each
    shown for ``args.hold`` frames."""
    photos = [load_image(p) for p in bundled_photos()]
    if not photos:
        raise OSError(
            "no bundled photos found (matplotlib's grace_hopper.jpg, opencv-doc's examples)"
        )
    Ks = [camera_matrix(args, p.shape[1], p.shape[0])[0] for p in photos]

    def shown(i):
        return (i // args.hold) % len(photos)

    for i in range(args.warmup):
        process(detector, pipeline, photos[shown(i)], Ks[shown(i)])
    detect, lift, total, people = [], [], [], []
    for i in range(args.frames):
        lifted, _, (d, lift_s) = process(detector, pipeline, photos[shown(i)], Ks[shown(i)])
        people.append(len(lifted))
        detect.append(d * 1e3)
        lift.append(lift_s * 1e3)
        total.append((d + lift_s) * 1e3)

    def stats(ms):
        return {
            "p50_ms": round(float(np.percentile(ms, 50)), 1),
            "p90_ms": round(float(np.percentile(ms, 90)), 1),
            "mean_ms": round(float(np.mean(ms)), 1),
        }

    record = {
        "machine": machine_name(),
        "detector": args.detector,
        "backend": pipeline.lifter.backend.name,
        "steps": pipeline.lifter.spec.steps,
        "num_hypotheses": pipeline.lifter.settings.num_hypotheses,
        "frames": args.frames,
        "images": [os.path.basename(p) for p in bundled_photos()],
        "frames_per_image": args.hold,
        "detector_follows_person": bool(getattr(detector, "track", False)),
        "people_per_frame": float(np.mean(people)),
        "total": stats(total),
        "detect": stats(detect),
        "lift": stats(lift),
    }
    print(
        f"camera-to-3D latency per frame on {record['machine']}, detector {args.detector}, "
        "backend "
        f"{pipeline.lifter.backend.name}, {pipeline.lifter.settings.num_hypotheses} hypotheses "
        f"x {pipeline.lifter.spec.steps} steps, "
        f"{args.frames} frames, each photo for {args.hold} "
        f"({record['people_per_frame']:.1f} people lifted per frame; the detector "
        f"{'follows the person' if record['detector_follows_person'] else 'detects every frame'}):"
    )
    for stage in ("total", "detect", "lift"):
        print(
            f"  {stage:>6}: p50 {record[stage]['p50_ms']:.1f} ms, p90 "
            f"{record[stage]['p90_ms']:.1f} ms"
        )
    os.makedirs(os.path.dirname(os.path.abspath(args.bench_out)), exist_ok=True)
    _write_json(args.bench_out, record)
    print(f"wrote {args.bench_out}")
    return record


# ------------------------------------------------------------------ command line


def add_arguments(p):
    source = p.add_mutually_exclusive_group(required=True)
    source.add_argument("--image", help="a photo (jpg, png, ...)")
    source.add_argument("--video", help="a video file (anything OpenCV reads)")
    source.add_argument(
        "--bench", action="store_true", help="camera-to-3D latency per frame on the bundled photos"
    )
    p.add_argument(
        "--detector",
        default=None,
        choices=DETECTORS,
        help="2D detector; default: mediapipe_hog (several people) for a video, else mediapipe",
    )
    p.add_argument("--onnx-model", default="", help="COCO-17 keypoint model for --detector onnx")
    p.add_argument(
        "--track-person",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="--video or --bench with detector mediapipe: follow the person between frames "
        "(MediaPipe's video mode, the camera node's track_person, on by default): about 20 ms "
        "less per frame; a change of scene makes it detect afresh",
    )
    p.add_argument(
        "--hold",
        type=int,
        default=10,
        help="--bench: frames each photo is shown for, as a camera watching a still scene (the "
        "first frame of each photo finds the person afresh)",
    )
    p.add_argument(
        "--fov",
        type=float,
        default=0.0,
        help=f"horizontal field of view in degrees (default {DEFAULT_HFOV_DEG:g} when no --fx)",
    )
    p.add_argument("--fx", type=float, default=0.0, help="focal length x [px]")
    p.add_argument("--fy", type=float, default=0.0, help="focal length y [px] (default fx)")
    p.add_argument(
        "--cx", type=float, default=None, help="principal point x [px] (default image centre)"
    )
    p.add_argument(
        "--cy", type=float, default=None, help="principal point y [px] (default image centre)"
    )
    p.add_argument("--model", default=None, help="model weights; default the shipped model")
    p.add_argument("--backend", default="auto", help="auto, tensorrt, onnxruntime or torch")
    p.add_argument("--hypotheses", type=int, default=LIFT_DEFAULTS.num_hypotheses)
    p.add_argument("--steps", type=int, default=SPEC_DEFAULTS.steps)
    p.add_argument(
        "--confidence-threshold", type=float, default=LIFT_DEFAULTS.confidence_threshold
    )
    p.add_argument(
        "--min-joints",
        type=int,
        default=3,
        help="people with fewer confident joints are not lifted (3: a head-and-shoulders portrait "
        "gives nose + shoulders)",
    )
    p.add_argument("--max-people", type=int, default=LIFT_DEFAULTS.max_people)
    p.add_argument(
        "--frames",
        type=int,
        default=0,
        help="video: at most this many frames (0 = all); bench: frames timed (default 50)",
    )
    p.add_argument("--stride", type=int, default=1, help="video: use every n-th frame")
    p.add_argument("--mp4", action="store_true", help="video: write MP4 instead of GIF")
    p.add_argument("--warmup", type=int, default=5, help="bench: untimed frames first")
    p.add_argument(
        "--threads",
        type=int,
        default=1,
        help="ONNX Runtime threads (0 = one per core; 1, as the lift node, suits a shared CPU)",
    )
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out-dir", default=DEFAULT_OUT_DIR)
    p.add_argument("--bench-out", default=os.path.join("outputs", "bench", "camera_latency.json"))
    p.set_defaults(func=run)
    return p


def add_demo_parser(subparsers):
    """The ``gfpose demo`` subcommand."""
    return add_arguments(
        subparsers.add_parser("demo", help="photo or video -> 2D keypoints -> 3D, without ROS")
    )


def demo_settings(args):
    """(BackendSpec, LiftSettings) of the demo's arguments. A video is tracked (stable ids and
    warm starts, as the node's default); a photo and the latency bench are lifted cold."""
    spec = BackendSpec(
        model_path=args.model or "",
        backend=args.backend,
        steps=args.steps,
        num_threads=args.threads,
    )
    settings = LiftSettings(
        num_hypotheses=args.hypotheses,
        confidence_threshold=args.confidence_threshold,
        min_joints=args.min_joints,
        max_people=args.max_people,
        tracking=bool(args.video),
    )
    return spec, settings.check_batch(spec.max_batch)


def run(args):
    detector_kind = args.detector or ("mediapipe_hog" if args.video else "mediapipe")
    args.detector = detector_kind
    if args.stride < 1:
        raise ValueError("--stride must be >= 1")
    for path in (args.image, args.video):  # before loading any model: fail fast
        if path and not os.path.isfile(path):
            raise OSError(f"no such file: {path}")
    # Settings before the detector and the model load: a bad value fails fast.
    spec, settings = demo_settings(args)
    if args.hold < 1:
        raise ValueError("--hold must be >= 1")
    track = args.track_person and not args.image
    detector = create_detector(
        detector_kind, args.onnx_model, args.max_people, threads=args.threads, track=track
    )
    try:
        pipeline = FramePipeline(Lifter(spec, settings, seed=args.seed))
        if args.bench:
            args.frames = args.frames or 50
            return run_bench(args, detector, pipeline)
        if args.image:
            return run_image(args, detector, pipeline)
        return run_video(args, detector, pipeline)
    finally:
        detector.close()


def main(argv=None):
    parser = argparse.ArgumentParser(
        prog="python -m gfpose_ros.tools.offline_demo", description=__doc__.splitlines()[0]
    )
    args = add_arguments(parser).parse_args(argv)
    try:
        run(args)
    except (
        ValueError,
        RuntimeError,
        OSError,
        ImportError,
    ) as exc:  # as the gfpose command: one line, status 2
        print(
            f"gfpose demo: error: {str(exc).splitlines()[0] if str(exc) else type(exc).__name__}",
            file=sys.stderr,
        )
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
