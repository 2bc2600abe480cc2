"""Synthetic depth images of a 3D pose, to evaluate depth-assisted positioning (not used by the
node).

A view is the body (capsules around the bones, body_surface.BODY_CAPSULES), z-buffered in
front of a floor and a wall, optionally behind an occluder, then spoiled the way a stereo or
time-of-flight sensor spoils it: noise that grows with depth squared (part of it correlated
over blocks of pixels, so that a window median cannot average it away), flying pixels at
silhouette edges, holes, and no data beyond the sensor's range. Depth images are (H, W)
float32 metres, 0 = no data, as ``depth_fusion.depth_to_metres`` returns them.
"""

from dataclasses import dataclass

import numpy as np

from ..body_surface import capsule_segments, ray_capsule_depth, rays
from ..camera import pixels_to_normalized, project


@dataclass(frozen=True)
class SensorModel:
    noise_quadratic: float = 0.001  # std per metre squared of depth: 1 mm at 1 m, 36 mm at 6 m
    noise_floor: float = 0.002  # std at any depth, metres
    correlated_share: float = 0.5  # share of the noise variance shared by a block of pixels
    block: int = 8  # pixels per side of a correlated block
    edge_jump: float = 0.1  # a depth step (m) between neighbours that makes an edge
    edge_prob: float = 0.5  # share of edge pixels that fly (mix foreground and background)
    hole_fraction: float = 0.01  # isolated pixels with no data
    hole_blobs: int = 3  # discs with no data ...
    blob_radius: tuple = (2, 12)  # ... of this radius range in pixels
    min_range: float = 0.3  # no data nearer or farther than these, metres
    max_range: float = 10.0


IDEAL = SensorModel(
    noise_quadratic=0.0,
    noise_floor=0.0,
    edge_prob=0.0,
    hole_fraction=0.0,
    hole_blobs=0,
    max_range=np.inf,
    min_range=0.0,
)


@dataclass(frozen=True)
class Occluder:
    """A flat board facing the camera at ``depth`` metres, covering the pixel box (u0, v0, u1,
    v1)."""

    box: tuple
    depth: float


def pixel_grid(image_size, box=None):
    """Pixel centres (h, w, 2) of a (width, height) image, or of its sub-box (u0, v0, u1, v1)."""
    u0, v0, u1, v1 = box or (0, 0, image_size[0], image_size[1])
    u, v = np.meshgrid(np.arange(u0, u1), np.arange(v0, v1))
    return np.stack([u, v], -1).astype(np.float64)


def body_depth(pose, K, image_size, girth=1.0):
    """Clean depth (H, W) of the body of ``pose`` (17, 3); inf off the body.

    Each capsule is cast only over the pixel box its ends and radius can project into, so the
    cost follows the area the body covers, not the image's.
    """
    width, height = image_size
    K = np.asarray(K, dtype=np.float64)
    depth = np.full((height, width), np.inf)
    a, b, radius = capsule_segments(pose, girth)
    for ends, r in zip(np.stack([a, b], 1), radius):
        if (ends[:, 2] - r < 0.05).any():
            continue  # a capsule at or behind the camera: no pinhole projection
        centre = project(ends, K)
        pad = K[0, 0] * r / (ends[:, 2] - r).min() + 1
        u0, v0 = np.floor(centre.min(0) - pad).astype(int).clip(0)
        u1, v1 = np.ceil(centre.max(0) + pad).astype(int) + 1
        u1, v1 = min(u1, width), min(v1, height)
        if u0 >= u1 or v0 >= v1:
            continue
        xy = pixels_to_normalized(pixel_grid(image_size, (u0, v0, u1, v1)).reshape(-1, 2), K)
        hit = ray_capsule_depth(rays(xy), ends[:1], ends[1:], np.array([r]))[:, 0]
        region = depth[v0:v1, u0:u1]
        np.minimum(region, hit.reshape(region.shape), out=region)
    return depth


def pixel_rays(K, image_size):
    """Ray directions (H, W, 3) = (x, y, 1) through every pixel centre."""
    xy = pixels_to_normalized(pixel_grid(image_size), np.asarray(K, dtype=np.float64))
    return rays(xy)


def plane_depth(K, image_size, normal, offset, directions=None):
    """Depth (H, W) of the plane normal . p = offset (camera frame); inf where it is behind the
    camera. ``directions`` (pixel_rays) saves recomputing the rays for several planes."""
    directions = pixel_rays(K, image_size) if directions is None else directions
    along = directions @ np.asarray(normal, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        z = offset / along
    return np.where(np.isfinite(z) & (z > 0), z, np.inf)


def room_planes(pose, up, floor_below=0.08, wall_behind=2.0):
    """A floor under the pose's lowest joint and a wall facing the camera ``wall_behind`` metres
    behind its root, as (normal, offset) planes in the camera frame. ``up`` is the world's up
    in the camera frame (R @ [0, 0, 1] for a world-to-camera rotation R). A camera below the
    floor's level (a virtual camera looking up at the person) gets no floor, only the wall."""
    pose = np.asarray(pose, dtype=np.float64)
    up = np.asarray(up, dtype=np.float64) / np.linalg.norm(up)
    floor = (
        up,
        float((pose @ up).min() - floor_below),
    )  # the camera (origin) is above it if offset < 0
    forward = np.array([0.0, 0.0, 1.0]) - up * up[2]  # the viewing direction, made horizontal
    forward = forward / max(np.linalg.norm(forward), 1e-6)
    wall = (forward, float(pose[0] @ forward + wall_behind))
    return (floor, wall) if floor[1] < 0 else (wall,)


def occluder_over(pose, K, joints, gap, margin=0.15):
    """An occluder ``gap`` metres in front of the nearest of ``joints``, covering their pixel box
    grown by ``margin`` of the body's 2D height on each side."""
    pose = np.asarray(pose, dtype=np.float64)
    uv = project(pose, np.asarray(K, dtype=np.float64))
    grow = margin * (uv[:, 1].max() - uv[:, 1].min())
    lo, hi = uv[list(joints)].min(0) - grow, uv[list(joints)].max(0) + grow
    return Occluder(
        box=(lo[0], lo[1], hi[0], hi[1]), depth=float(pose[list(joints), 2].min() - gap)
    )


def scene_depth(pose, K, image_size, planes=(), occluder=None, girth=1.0):
    """Clean depth (H, W) of the body in front of the planes and behind the occluder; inf =
    nothing."""
    depth = body_depth(pose, K, image_size, girth)
    directions = pixel_rays(K, image_size) if planes else None
    for normal, offset in planes:
        depth = np.minimum(depth, plane_depth(K, image_size, normal, offset, directions))
    return depth if occluder is None else with_occluder(depth, occluder)


def with_occluder(depth, occluder):
    """A copy of a clean depth (H, W) with the occluder in front of whatever it covers."""
    depth = depth.copy()
    u0, v0, u1, v1 = (int(round(c)) for c in occluder.box)
    u0, v0 = max(u0, 0), max(v0, 0)
    region = depth[v0 : max(v1, v0), u0 : max(u1, u0)]
    np.minimum(region, occluder.depth, out=region)
    return depth


def sensor_effects(depth, sensor, rng):
    """What a sensor makes of a clean depth (H, W; inf = nothing): float32 metres, 0 = no data."""
    height, width = depth.shape
    depth = np.where(np.isfinite(depth), depth, 0.0).astype(np.float32)
    depth = _flying_pixels(depth, sensor, rng)
    sigma = sensor.noise_floor + sensor.noise_quadratic * depth**2
    iid = rng.standard_normal(depth.shape, dtype=np.float32)
    blocks = rng.standard_normal(
        (height // sensor.block + 1, width // sensor.block + 1), dtype=np.float32
    )
    shared = np.repeat(np.repeat(blocks, sensor.block, 0), sensor.block, 1)[:height, :width]
    c = sensor.correlated_share
    noisy = depth + sigma * (np.sqrt(1 - c) * iid + np.sqrt(c) * shared)
    valid = (depth > 0) & (noisy >= sensor.min_range) & (noisy <= sensor.max_range)
    if sensor.hole_fraction > 0:
        valid &= rng.random(depth.shape, dtype=np.float32) >= sensor.hole_fraction
    _punch_blobs(valid, sensor, rng)
    return np.where(valid, noisy, 0.0).astype(np.float32)


def _flying_pixels(depth, sensor, rng):
    """At depth steps larger than ``edge_jump``, a share of pixels take a random mix of their
    own depth and their most different neighbour's (a sensor's footprint straddling the edge)."""
    if sensor.edge_prob <= 0:
        return depth
    padded = np.pad(depth, 1, mode="edge")
    step = np.zeros_like(depth)
    for neighbour in (padded[1:-1, :-2], padded[1:-1, 2:], padded[:-2, 1:-1], padded[2:, 1:-1]):
        candidate = neighbour - depth
        step = np.where(np.abs(candidate) > np.abs(step), candidate, step)
    flying = (np.abs(step) > sensor.edge_jump) & (depth > 0) & (depth + step > 0)
    flying &= rng.random(depth.shape, dtype=np.float32) < sensor.edge_prob
    return np.where(flying, depth + rng.random(depth.shape, dtype=np.float32) * step, depth)


def _punch_blobs(valid, sensor, rng):
    """Clear discs of random centre and radius in the (H, W) mask ``valid``, in place."""
    height, width = valid.shape
    for _ in range(sensor.hole_blobs):
        cu, cv, r = rng.uniform(0, width), rng.uniform(0, height), rng.uniform(*sensor.blob_radius)
        u0, u1 = int(max(cu - r, 0)), int(min(cu + r + 1, width))
        v0, v1 = int(max(cv - r, 0)), int(min(cv + r + 1, height))
        v, u = np.mgrid[v0:v1, u0:u1]
        valid[v0:v1, u0:u1] &= (u - cu) ** 2 + (v - cv) ** 2 > r**2


def render_depth(
    pose, K, image_size, seed=0, planes=(), occluder=None, sensor=SensorModel(), girth=1.0
):
    """A sensor's depth image (H, W) float32 metres, 0 = no data, of ``pose`` (17, 3) metres in the
    camera frame, seen with intrinsics K (3, 3) at ``image_size`` (width, height). ``planes``:
    (normal, offset) background planes (``room_planes``); ``girth`` scales every capsule's radius
    (body build). Deterministic from ``seed``."""
    clean = scene_depth(pose, K, image_size, planes, occluder, girth)
    return sensor_effects(clean, sensor, np.random.default_rng(seed))
