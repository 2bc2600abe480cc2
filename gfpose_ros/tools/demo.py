"""The main job on a bundled recording: ``python -m gfpose_ros.tools.demo`` (``make demo``).

Starts the lift node as its own process, plays the bundled keypoint sequence (2D keypoints of
held-out motion capture seen by a virtual camera, some joints occluded) and its camera_info to
it over ROS 2, receives poses_3d, and prints per frame the publish -> receive latency and the
error against the ground truth the recording carries. Writes outputs/demo.png (a frame's 2D
input beside its 3D result and hypotheses) and outputs/demo.json (the figures).
"""

import argparse
import json
import os
import sys
import time

import numpy as np
import rclpy
import yaml

from gfpose_ros.evaluation.evaluate import joint_errors, procrustes_aligned
from gfpose_ros.skeleton import BONES

from .client import (
    LiftClient,
    frame_stamp,
    load_demo_sequence,
    node_overrides,
    package_file,
    start_lift_node,
    stop_process,
)
from ..ros.conversions import hypotheses_from_msg, poses_from_msg

NAMESPACE = '/gfpose_demo'  # keeps the demo's topics apart from a robot's


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument(
        '--sequence', help='recording (.npz); default: the bundled data/demo_sequence.npz'
    )
    p.add_argument('--params-file', help='node parameters; default: config/lift.yaml')
    p.add_argument(
        '--backend', help='override the backend parameter (auto, tensorrt, onnxruntime, torch)'
    )
    p.add_argument(
        '-p',
        '--param',
        action='append',
        default=[],
        metavar='NAME:=VALUE',
        help='override a node parameter (repeatable), e.g. -p num_hypotheses:=50',
    )
    p.add_argument('--frames', type=int, default=0, help='play only this many frames (0 = all)')
    p.add_argument(
        '--rate', type=float, default=0.0, help='frames per second (0 = the recording\'s rate)'
    )
    p.add_argument(
        '--out-dir', default='outputs', help='where demo.png, demo.json and the node log go'
    )
    p.add_argument('--quiet', action='store_true', help='no per-frame lines')
    return p.parse_args(argv)


def play(client, seq, frames, rate, on_frame):
    """Publish ``frames`` frames at ``rate`` Hz (camera_info with each, as a camera driver does);
    ``on_frame(key, index)`` is called for each frame whose poses came back."""
    camera = (seq['intrinsics'], *seq['image_size'])
    keys, reported = [], set()

    def report():
        for i, key in enumerate(keys):
            if key in client.poses and i not in reported:
                reported.add(i)
                on_frame(key, i)

    next_time = time.monotonic()
    for i in range(frames):
        people = [('person_0', 'h36m17', seq['keypoints_2d'][i], seq['confidence'][i])]
        keys.append(client.send(frame_stamp(i, rate), people, camera=camera))
        next_time += 1.0 / rate
        client.spin_until(
            lambda: time.monotonic() >= next_time, max(0.0, next_time - time.monotonic())
        )
        report()
    client.spin_until(lambda: all(k in client.poses for k in keys), 2.0)
    report()
    return keys


def frame_figures(msg, gt_mm, confidence, threshold):
    """Errors of one received frame (mm), and whether its completed flags match the occlusion."""
    got = poses_from_msg(msg)
    pose, gt = got['poses'][0], gt_mm / 1000.0
    rel = joint_errors(pose, gt) * 1000
    completed = got['completed'][0]
    return {
        'mpjpe_mm': float(rel.mean()),  # root-relative, the standard protocol
        'pmpjpe_mm': float(
            np.linalg.norm(procrustes_aligned(pose, gt) - gt, axis=-1).mean() * 1000
        ),
        'absolute_mpjpe_mm': float(np.linalg.norm(pose - gt, axis=-1).mean() * 1000),
        'root_error_mm': float(np.linalg.norm(pose[0] - gt[0]) * 1000),
        'completed_joints': int(completed.sum()),
        'completed_error_mm': float(rel[completed].mean()) if completed.any() else None,
        'flags_match': bool((completed == (confidence < threshold)).all()),
        'joint_std_mm': float(got['joint_std'][0].mean() * 1000),
    }


def draw(path, seq, index, msg, hypotheses_msg, per_frame):
    """2D input | 3D result with hypotheses and ground truth | error and latency over the clip."""
    import matplotlib

    matplotlib.use('Agg')
    import matplotlib.pyplot as plt

    uv, conf, gt = (
        seq['keypoints_2d'][index],
        seq['confidence'][index],
        seq['poses_3d'][index] / 1000.0,
    )
    got = poses_from_msg(msg)
    pose, completed = got['poses'][0], got['completed'][0]
    fig = plt.figure(figsize=(16, 5.5))

    ax = fig.add_subplot(1, 3, 1)
    w, h = seq['image_size']
    seen = conf > 0
    for a, b in BONES:
        if seen[a] and seen[b]:
            ax.plot(uv[[a, b], 0], uv[[a, b], 1], color='tab:blue', lw=2)
    ax.scatter(*uv[seen].T, color='tab:green', zorder=3, label='observed')
    ax.scatter(
        *uv[~seen].T,
        facecolors='none',
        edgecolors='tab:orange',
        zorder=3,
        label='occluded (not sent)',
    )
    # The person's surroundings, not the whole image: the skeleton stays readable.
    lo, hi = uv[seen].min(0), uv[seen].max(0)
    margin = 0.6 * (hi - lo).max()
    ax.set_xlim(max(0, lo[0] - margin), min(w, hi[0] + margin))
    ax.set_ylim(min(h, hi[1] + margin), max(0, lo[1] - margin))
    ax.set_aspect('equal')
    ax.set_title(
        f'2D input, frame {index} of {w}x{h} image ({int((~seen).sum())} joints occluded)'
    )
    ax.legend(loc='lower right', fontsize=8)

    # Camera optical frame (x right, y down, z forward) drawn with z into the page and -y up.
    def xyz(p):
        p = np.asarray(p).reshape(-1, 3)
        return p[:, 0], p[:, 2], -p[:, 1]

    ax = fig.add_subplot(1, 3, 2, projection='3d')
    if hypotheses_msg is not None and hypotheses_msg.people:
        hyps, _ = hypotheses_from_msg(hypotheses_msg)[0]
        ax.scatter(*xyz(hyps), s=4, color='gray', alpha=0.35, label=f'{len(hyps)} hypotheses')
    for a, b in BONES:
        ax.plot(*xyz(gt[[a, b]]), color='black', lw=1, ls='--')
        ax.plot(*xyz(pose[[a, b]]), color='tab:blue', lw=2)
    ax.plot([], [], color='black', ls='--', label='ground truth')
    ax.scatter(*xyz(pose[~completed]), color='tab:green', s=20, label='observed joints')
    ax.scatter(*xyz(pose[completed]), color='tab:orange', s=30, label='completed joints')
    centre, radius = pose.mean(0), 1.0
    ax.set_xlim(centre[0] - radius, centre[0] + radius)
    ax.set_ylim(centre[2] - radius, centre[2] + radius)
    ax.set_zlim(-centre[1] - radius, -centre[1] + radius)
    ax.view_init(elev=15, azim=-60)
    ax.set_xlabel('x (m)')
    ax.set_ylabel('z, depth (m)')
    ax.set_zlabel('-y (m)')
    ax.set_title(
        f'3D result, camera frame: MPJPE {per_frame[index]["mpjpe_mm"]:.0f} mm, '
        f'root error {per_frame[index]["root_error_mm"]:.0f} mm',
        fontsize=10,
    )
    ax.legend(loc='upper left', fontsize=8)

    ax = fig.add_subplot(1, 3, 3)
    frames = sorted(per_frame)
    ax.plot(
        frames,
        [per_frame[i]['mpjpe_mm'] for i in frames],
        color='tab:blue',
        label='MPJPE, root-relative (mm)',
    )
    ax.plot(
        frames,
        [per_frame[i]['root_error_mm'] / 10 for i in frames],
        color='tab:purple',
        alpha=0.6,
        label='root position error (cm)',
    )
    occluded = [i for i in frames if per_frame[i]['completed_joints']]
    ax.scatter(
        occluded,
        [per_frame[i]['mpjpe_mm'] for i in occluded],
        s=6,
        color='tab:orange',
        label='frames with completed joints',
    )
    ax.set_xlabel('frame')
    ax.set_ylabel('error')
    ax2 = ax.twinx()
    ax2.plot(
        frames, [per_frame[i]['latency_ms'] for i in frames], color='tab:red', alpha=0.5, lw=1
    )
    ax2.set_ylabel('publish -> receive latency (ms)', color='tab:red')
    ax.axvline(index, color='gray', lw=0.5)
    ax.set_title('over the clip')
    ax.legend(loc='upper left', fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv=None):
    args = parse_args(sys.argv[1:] if argv is None else argv)
    seq = load_demo_sequence(args.sequence)
    frames = (
        len(seq['keypoints_2d']) if not args.frames else min(args.frames, len(seq['keypoints_2d']))
    )
    rate = args.rate or float(seq['frame_rate'])
    os.makedirs(args.out_dir, exist_ok=True)
    log_file = os.path.join(args.out_dir, 'demo_lift_node.log')
    params_file = args.params_file or package_file('config', 'lift.yaml')
    with open(params_file) as f:  # which joints the node should flag as completed
        threshold = yaml.safe_load(f)['/**']['ros__parameters'].get('confidence_threshold', 0.3)
    print(
        f'sequence {seq["sequence"]}: {frames} frames at {rate:.0f} Hz, camera '
        f'{seq["image_size"][0]}x'
        f'{seq["image_size"][1]}; lift node log: {log_file}',
        flush=True,
    )

    rclpy.init()
    node = start_lift_node(params_file, NAMESPACE, node_overrides(args), log_file)
    client = LiftClient(namespace=NAMESPACE)
    try:
        if not client.wait_for_node(120.0, node):
            raise RuntimeError('the lift node did not come up within 120 s')
        first = [('person_0', 'h36m17', seq['keypoints_2d'][0], seq['confidence'][0])]
        if not client.prime(first, (seq['intrinsics'], *seq['image_size'])):
            raise RuntimeError(f'the lift node does not answer; see {log_file}')

        per_frame = {}

        def on_frame(key, i):
            figures = frame_figures(
                client.poses[key], seq['poses_3d'][i], seq['confidence'][i], threshold
            )
            figures['latency_ms'] = client.latency[key] * 1000
            per_frame[i] = figures
            if not args.quiet:
                completed = (
                    f', {figures["completed_joints"]} completed joints: '
                    f'{figures["completed_error_mm"]:.0f} mm'
                    if figures['completed_joints']
                    else ''
                )
                print(
                    f'frame {i:4d}  latency {figures["latency_ms"]:6.1f} ms  MPJPE '
                    f'{figures["mpjpe_mm"]:6.1f} mm  '
                    f'root error {figures["root_error_mm"]:5.0f} mm{completed}',
                    flush=True,
                )

        keys = play(client, seq, frames, rate, on_frame)
        client.spin_for(1.2)  # one more diagnostics period
    finally:
        stop_process(node)
    diagnostics = client.diagnostics[-1] if client.diagnostics else None
    backend = diagnostics.hardware_id if diagnostics else 'unknown'

    if not per_frame:
        print('no poses came back; see ' + log_file, file=sys.stderr)
        return 1
    lat = np.array([f['latency_ms'] for f in per_frame.values()])
    completed_errors = [
        f['completed_error_mm'] for f in per_frame.values() if f['completed_error_mm'] is not None
    ]
    summary = {
        'sequence': str(seq['sequence']),
        'frames_sent': frames,
        'frames_received': len(per_frame),
        'rate_hz': rate,
        'backend': backend,
        'latency_ms': {
            'p50': float(np.percentile(lat, 50)),
            'p90': float(np.percentile(lat, 90)),
            'max': float(lat.max()),
        },
        'mpjpe_mm': float(np.mean([f['mpjpe_mm'] for f in per_frame.values()])),
        'pmpjpe_mm': float(np.mean([f['pmpjpe_mm'] for f in per_frame.values()])),
        'absolute_mpjpe_mm': float(np.mean([f['absolute_mpjpe_mm'] for f in per_frame.values()])),
        'root_error_mm': float(np.mean([f['root_error_mm'] for f in per_frame.values()])),
        'completed_joint_error_mm': float(np.mean(completed_errors)) if completed_errors else None,
        'completed_flags_match': all(f['flags_match'] for f in per_frame.values()),
        'node_diagnostics': {kv.key: kv.value for kv in diagnostics.values}
        if diagnostics
        else None,
    }
    # Picture: the frame with the most occluded joints, the median-error one among those.
    occluded = {i: int((seq['confidence'][i] < threshold).sum()) for i in per_frame}
    most = max(occluded.values())
    candidates = sorted((per_frame[i]['mpjpe_mm'], i) for i in per_frame if occluded[i] == most)
    index = candidates[len(candidates) // 2][1]
    key = keys[index]
    png = os.path.join(args.out_dir, 'demo.png')
    draw(png, seq, index, client.poses[key], client.hypotheses.get(key), per_frame)
    summary['figure_frame'] = index
    with open(os.path.join(args.out_dir, 'demo.json'), 'w') as f:
        json.dump({'summary': summary, 'frames': per_frame}, f, indent=1)
    client.close()
    rclpy.shutdown()

    print(
        f'\n{len(per_frame)}/{frames} frames lifted by the {backend} backend; '
        f'latency p50 {summary["latency_ms"]["p50"]:.1f} ms, p90 '
        f'{summary["latency_ms"]["p90"]:.1f} ms'
    )
    print(
        f'MPJPE {summary["mpjpe_mm"]:.1f} mm (root-relative), P-MPJPE {summary["pmpjpe_mm"]:.1f} '
        'mm, '
        f'root position error {summary["root_error_mm"]:.0f} mm, completed joints '
        + (f'{summary["completed_joint_error_mm"]:.1f} mm' if completed_errors else 'none')
    )
    print(f'completed flags exactly on the occluded joints: {summary["completed_flags_match"]}')
    print(f'wrote {png} and {os.path.join(args.out_dir, "demo.json")}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
