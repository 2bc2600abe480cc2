"""ONNX Runtime sessions as a node on a robot wants them (the lifter's graphs, the ONNX
keypoint detector)."""


def session_options(threads=0):
    """``onnxruntime.SessionOptions`` with ``threads`` intra-op threads (0: ONNX Runtime's own
    choice, one per core) and the thread pool's spinning off.

    By default ONNX Runtime's worker threads keep spinning for a while after each run, waiting for
    the next one. A node's runs come one per camera frame, with gaps, so the spinning only burns
    the cores that DDS, the detector and the robot's other processes need: through the lift node
    (`make bench-e2e`, 2 threads) the p50 latency went from 14.1 to 12.0-12.4 ms with it off, and
    the p99 from 31 to 15-17 ms.
    """
    import onnxruntime as ort

    options = ort.SessionOptions()
    if threads:
        options.intra_op_num_threads = threads
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return options
