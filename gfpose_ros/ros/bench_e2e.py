"""End-to-end latency of the lift node: ``python -m gfpose_ros.ros.bench_e2e``.

Publish -> receive over DDS on this machine: the node runs as its own process with its default
parameters (config/lift.yaml); this process publishes one person's keypoints (frames of the
bundled recording), waits for the poses, and repeats. One frame in flight at a time, so the
figures are the node's latency without queueing. Prints p50/p90/p99 and writes
outputs/bench_e2e.json with the machine named.
"""

import argparse
import json
import os
import sys
import time

import numpy as np
import rclpy

from gfpose_ros.bench import machine_info

from .client import (LiftClient, load_demo_sequence, node_overrides, package_file, start_lift_node,
                     stop_process)

NAMESPACE = '/gfpose_bench'


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--frames', type=int, default=300, help='measured frames (at least 200 for the report)')
    p.add_argument('--warmup', type=int, default=20, help='frames sent first and not measured')
    p.add_argument('--gap', type=float, default=0.005, help='seconds between a reply and the next frame')
    p.add_argument('--params-file', help='node parameters; default: config/lift.yaml')
    p.add_argument('--backend', help='override the backend parameter')
    p.add_argument('-p', '--param', action='append', default=[], metavar='NAME:=VALUE',
                   help='override a node parameter (repeatable), e.g. -p num_threads:=1')
    p.add_argument('--out', default=os.path.join('outputs', 'bench_e2e.json'))
    args = p.parse_args(sys.argv[1:] if argv is None else argv)

    seq = load_demo_sequence()
    camera = (seq['intrinsics'], *seq['image_size'])
    params_file = args.params_file or package_file('config', 'lift.yaml')
    os.makedirs(os.path.dirname(args.out) or '.', exist_ok=True)
    log_file = os.path.splitext(args.out)[0] + '_lift_node.log'
    rclpy.init()
    node = start_lift_node(params_file, NAMESPACE, node_overrides(args), log_file)
    client = LiftClient(namespace=NAMESPACE)
    latencies, lost = [], 0
    try:
        if not client.wait_for_node(120.0, node):
            raise RuntimeError(f'the lift node did not come up within 120 s; see {log_file}')
        first = [('person_0', 'h36m17', seq['keypoints_2d'][0], seq['confidence'][0])]
        if not client.prime(first, camera):
            raise RuntimeError(f'the lift node does not answer; see {log_file}')
        for i in range(args.warmup + args.frames):
            f = i % len(seq['keypoints_2d'])
            people = [('person_0', 'h36m17', seq['keypoints_2d'][f], seq['confidence'][f])]
            reply = client.request((1, i), people, timeout=1.0, camera=camera)
            if i >= args.warmup:
                if reply is None:
                    lost += 1
                else:
                    latencies.append(client.latency[(1, i)] * 1000)
            client.spin_for(args.gap)
        client.spin_for(1.2)  # the node's diagnostics name the backend it chose
    finally:
        stop_process(node)
    diagnostics = client.diagnostics[-1] if client.diagnostics else None
    client.close()
    rclpy.shutdown()
    if not latencies:
        print(f'no replies; see {log_file}', file=sys.stderr)
        return 1

    lat = np.array(latencies)
    result = {
        'what': 'publish -> receive latency over DDS (Fast DDS), same machine, 1 person, one frame in flight',
        'frames': len(lat), 'lost': lost,
        'latency_ms': {q: float(np.percentile(lat, int(q[1:]))) for q in ('p50', 'p90', 'p99')}
        | {'mean': float(lat.mean()), 'min': float(lat.min()), 'max': float(lat.max())},
        'params_file': params_file,
        'backend': diagnostics.hardware_id if diagnostics else 'unknown',
        'node_diagnostics': {kv.key: kv.value for kv in diagnostics.values} if diagnostics else None,
        'machine': machine_info(threads=0) | {
            'load_average_1min': os.getloadavg()[0],
            'rmw': os.environ.get('RMW_IMPLEMENTATION', 'rmw_fastrtps_cpp (default)')},
        'date': time.strftime('%Y-%m-%d %H:%M:%S'),
    }
    with open(args.out, 'w') as f:
        json.dump(result, f, indent=1)
    m = result['latency_ms']
    print(f'{len(lat)} frames ({lost} lost), backend {result["backend"]}, {result["machine"]["cpu"]} '
          f'x{result["machine"]["cores"]} cores (load {result["machine"]["load_average_1min"]:.1f})')
    print(f'end-to-end latency: p50 {m["p50"]:.1f} ms  p90 {m["p90"]:.1f} ms  p99 {m["p99"]:.1f} ms  '
          f'(mean {m["mean"]:.1f}, max {m["max"]:.1f})')
    print(f'wrote {args.out}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
