"""sensor_msgs/Image <-> numpy RGB, with cv_bridge when it is importable and a few lines of
numpy otherwise (cv_bridge is not available as a wheel)."""

import numpy as np
from sensor_msgs.msg import Image

SUPPORTED_ENCODINGS = ('rgb8', 'bgr8', 'mono8', 'rgba8')
_CHANNELS = {'rgb8': 3, 'bgr8': 3, 'mono8': 1, 'rgba8': 4}

try:
    from cv_bridge import CvBridge

    _BRIDGE = CvBridge()
except ImportError:
    _BRIDGE = None


class ImageError(ValueError):
    pass


def image_to_rgb(msg):
    """(H, W, 3) uint8 RGB of an Image message; raises ImageError with the reason on bad input."""
    if msg.encoding not in SUPPORTED_ENCODINGS:
        raise ImageError(
            f'unsupported image encoding {msg.encoding!r}; supported: '
            f'{", ".join(SUPPORTED_ENCODINGS)}'
        )
    channels = _CHANNELS[msg.encoding]
    if msg.width == 0 or msg.height == 0:
        raise ImageError(f'empty image ({msg.width}x{msg.height})')
    if msg.step < msg.width * channels:
        raise ImageError(
            f'step {msg.step} is smaller than width x channels = {msg.width * channels}'
        )
    if len(msg.data) < msg.step * msg.height:
        raise ImageError(
            f'truncated image buffer: {len(msg.data)} bytes, {msg.encoding} '
            f'{msg.width}x{msg.height} '
            f'with step {msg.step} needs {msg.step * msg.height}'
        )
    if _BRIDGE is not None:
        return _BRIDGE.imgmsg_to_cv2(msg, desired_encoding='rgb8')
    rows = np.frombuffer(msg.data, dtype=np.uint8, count=msg.step * msg.height).reshape(
        msg.height, msg.step
    )
    pixels = rows[:, : msg.width * channels].reshape(msg.height, msg.width, channels)
    if msg.encoding == 'rgb8':
        return pixels.copy()
    if msg.encoding == 'bgr8':
        return pixels[..., ::-1].copy()
    if msg.encoding == 'rgba8':
        return pixels[..., :3].copy()
    return np.repeat(pixels, 3, axis=2)  # mono8


def image_msg(header, pixels, encoding):
    """An Image message of ``pixels`` (H, W, C) uint8 already in ``encoding``'s channel order."""
    pixels = np.ascontiguousarray(pixels, dtype=np.uint8)
    h, w = pixels.shape[:2]
    return Image(
        header=header,
        height=h,
        width=w,
        encoding=encoding,
        is_bigendian=0,
        step=pixels[0].nbytes,
        data=pixels.tobytes(),
    )


_DEPTH_DTYPES = {'16UC1': np.uint16, 'mono16': np.uint16, '32FC1': np.float32}


def depth_image_to_metres(msg):
    """(H, W) float32 metres of a depth Image (16UC1 / mono16 millimetres, 32FC1 metres), 0 = no
    data; raises ImageError with the reason on bad input."""
    from gfpose_ros.depth_fusion import depth_to_metres

    if msg.encoding not in _DEPTH_DTYPES:
        raise ImageError(
            f'unsupported depth encoding {msg.encoding!r}; supported: {", ".join(_DEPTH_DTYPES)}'
        )
    dtype = np.dtype(_DEPTH_DTYPES[msg.encoding]).newbyteorder('>' if msg.is_bigendian else '<')
    if msg.width == 0 or msg.height == 0:
        raise ImageError(f'empty depth image ({msg.width}x{msg.height})')
    if msg.step < msg.width * dtype.itemsize or msg.step % dtype.itemsize:
        raise ImageError(
            f'step {msg.step} does not fit width {msg.width} x {dtype.itemsize} bytes'
        )
    if len(msg.data) < msg.step * msg.height:
        raise ImageError(
            f'truncated depth buffer: {len(msg.data)} bytes, {msg.encoding} '
            f'{msg.width}x{msg.height} '
            f'with step {msg.step} needs {msg.step * msg.height}'
        )
    rows = np.frombuffer(msg.data, dtype=dtype, count=msg.step * msg.height // dtype.itemsize)
    pixels = rows.reshape(msg.height, msg.step // dtype.itemsize)[:, : msg.width]
    return depth_to_metres(pixels, msg.encoding)


def depth_msg(header, metres, encoding='16UC1'):
    """A depth Image of ``metres`` (H, W): 16UC1 millimetres (0 = no data) or 32FC1 metres."""
    metres = np.nan_to_num(np.asarray(metres, dtype=np.float64), nan=0.0, posinf=0.0)
    if encoding == '16UC1':
        pixels = np.clip(np.round(metres * 1000), 0, 65535).astype('<u2')
    elif encoding == '32FC1':
        pixels = metres.astype('<f4')
    else:
        raise ImageError(f'depth_msg writes 16UC1 or 32FC1, not {encoding!r}')
    h, w = pixels.shape
    return Image(
        header=header,
        height=h,
        width=w,
        encoding=encoding,
        is_bigendian=0,
        step=pixels[0].nbytes,
        data=pixels.tobytes(),
    )
