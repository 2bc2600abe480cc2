"""The body as capsules around the H36M-17 bones, and where camera rays first meet it.

Shared by the depth estimator (depth_fusion: how far behind the visible surface a joint centre
lies) and the depth renderer (depth_render: the synthetic RGB-D views it is evaluated on).
Points are in the camera optical frame (x right, y down, z forward), metres; a ray is given by
its normalised image coordinates (x/z, y/z), and a depth is the z of its first hit, as in a
depth image.
"""

import numpy as np

# (joint a, joint b, radius in metres) of an adult of average build. The trunk is a pelvis
# capsule between the hips, two fat capsules along the spine, a shoulder girdle and two flanks
# (hip to shoulder), so that it is wider than deep; the head is a capsule from the nose to the
# head top. Hands and feet are left out (the 17 joints do not say where they point).
BODY_CAPSULES = (
    (1, 4, 0.11),  # pelvis, hip to hip
    (0, 7, 0.13),  # abdomen
    (7, 8, 0.13),  # chest
    (11, 14, 0.07),  # shoulder girdle
    (4, 11, 0.08),  # left flank
    (1, 14, 0.08),  # right flank
    (8, 9, 0.05),  # neck
    (9, 10, 0.09),  # head
    (1, 2, 0.08),
    (4, 5, 0.08),  # thighs
    (2, 3, 0.05),
    (5, 6, 0.05),  # shins
    (11, 12, 0.045),
    (14, 15, 0.045),  # upper arms
    (12, 13, 0.035),
    (15, 16, 0.035),  # forearms
)
CAPSULE_JOINTS = np.array([(a, b) for a, b, _ in BODY_CAPSULES])
CAPSULE_RADII = np.array([r for _, _, r in BODY_CAPSULES])


def rays(xy):
    """Unnormalised ray directions (..., 3) = (x, y, 1) for normalised image coordinates (...,
    2)."""
    xy = np.asarray(xy, dtype=np.float64)
    return np.concatenate([xy, np.ones(xy.shape[:-1] + (1,))], axis=-1)


def ray_capsule_depth(directions, a, b, radius):
    """Depth z of the first hit of rays from the camera centre with capsules; inf where missed.

    directions (P, 3) as from ``rays`` (z = 1), a and b (C, 3) the capsules' segment ends,
    radius (C,). Returns (P, C). A capsule is a cylinder of the radius around the segment,
    closed by two spheres; the cylinder's hit counts only between the ends, else the nearer
    sphere's does (the capsule lies inside its infinite cylinder, so this is exact).
    """
    norm = np.linalg.norm(directions, axis=-1, keepdims=True)
    d = (directions / norm)[:, None, :]  # (P, 1, 3) unit directions
    axis = (b - a)[None]  # (1, C, 3)
    to_origin = -a[None]  # (1, C, 3): ray origin (0) minus a
    axis2 = (axis**2).sum(-1)
    axis_d = (axis * d).sum(-1)
    axis_o = (axis * to_origin).sum(-1)
    d_o = (d * to_origin).sum(-1)
    o_o = (to_origin**2).sum(-1)
    r2 = radius[None] ** 2
    qa = axis2 - axis_d**2
    qb = axis2 * d_o - axis_o * axis_d
    qc = axis2 * o_o - axis_o**2 - r2 * axis2
    h = qb**2 - qa * qc
    usable = (qa > 1e-12) & (h >= 0)
    t_cyl = np.where(
        usable, (-qb - np.sqrt(np.where(usable, h, 0.0))) / np.where(usable, qa, 1.0), np.inf
    )
    along = axis_o + np.where(usable, t_cyl, 0.0) * axis_d  # where the hit is along the axis
    t_cyl = np.where(usable & (along > 0) & (along < axis2) & (t_cyl > 0), t_cyl, np.inf)
    t = np.minimum(t_cyl, np.minimum(_ray_sphere(d, a[None], r2), _ray_sphere(d, b[None], r2)))
    return t / norm  # distance along the unit ray -> z, since the direction's z is 1


def _ray_sphere(d, centre, r2):
    """Distance along unit rays d to the first hit of spheres (inf where missed or behind)."""
    b = (d * centre).sum(-1)
    h = b**2 - ((centre**2).sum(-1) - r2)
    t = b - np.sqrt(np.where(h >= 0, h, 0.0))
    return np.where((h >= 0) & (t > 0), t, np.inf)


def capsule_segments(pose, girth=1.0):
    """The body's capsules for a pose (17, 3): ends a, b (C, 3) and radii (C,) x ``girth``."""
    pose = np.asarray(pose, dtype=np.float64)
    return pose[CAPSULE_JOINTS[:, 0]], pose[CAPSULE_JOINTS[:, 1]], CAPSULE_RADII * girth


def surface_depth(pose, xy, girth=1.0):
    """Depth (P,) where the rays through normalised points xy (P, 2) first meet the body of
    ``pose`` (17, 3), camera frame; inf where a ray misses it."""
    a, b, radius = capsule_segments(pose, girth)
    return ray_capsule_depth(rays(xy).reshape(-1, 3), a, b, radius).min(-1)
