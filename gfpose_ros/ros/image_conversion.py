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
        raise ImageError(f'unsupported image encoding {msg.encoding!r}; supported: {", ".join(SUPPORTED_ENCODINGS)}')
    channels = _CHANNELS[msg.encoding]
    if msg.width == 0 or msg.height == 0:
        raise ImageError(f'empty image ({msg.width}x{msg.height})')
    if msg.step < msg.width * channels:
        raise ImageError(f'step {msg.step} is smaller than width x channels = {msg.width * channels}')
    if len(msg.data) < msg.step * msg.height:
        raise ImageError(f'truncated image buffer: {len(msg.data)} bytes, {msg.encoding} {msg.width}x{msg.height} '
                         f'with step {msg.step} needs {msg.step * msg.height}')
    if _BRIDGE is not None:
        return _BRIDGE.imgmsg_to_cv2(msg, desired_encoding='rgb8')
    rows = np.frombuffer(msg.data, dtype=np.uint8, count=msg.step * msg.height).reshape(msg.height, msg.step)
    pixels = rows[:, :msg.width * channels].reshape(msg.height, msg.width, channels)
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
    return Image(header=header, height=h, width=w, encoding=encoding, is_bigendian=0,
                 step=pixels[0].nbytes, data=pixels.tobytes())
