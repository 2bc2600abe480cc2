"""RViz markers for lifted people: bones, joints (completed ones in another colour), hypotheses."""

from dataclasses import dataclass

from builtin_interfaces.msg import Duration
from geometry_msgs.msg import Point
from std_msgs.msg import ColorRGBA
from visualization_msgs.msg import Marker, MarkerArray

from gfpose_ros.skeleton import BONES

BONE_COLOR = ColorRGBA(r=0.1, g=0.8, b=1.0, a=1.0)
OBSERVED_COLOR = ColorRGBA(r=0.2, g=1.0, b=0.2, a=1.0)
COMPLETED_COLOR = ColorRGBA(r=1.0, g=0.55, b=0.0, a=1.0)  # filled in by the prior, not seen in 2D
_BONE_ENDS = [j for bone in BONES for j in bone]  # LINE_LIST: parent, child, parent, child, ...


@dataclass
class MarkerOptions:
    lifetime: float = 0.5  # s; markers vanish by themselves if the node stops publishing
    joint_diameter: float = 0.06  # m
    bone_width: float = 0.03  # m
    show_hypotheses: bool = True
    hypothesis_alpha: float = 0.15


def points(xyz):
    """geometry_msgs/Point list of an (M, 3) array. Built from Python floats (``tolist``) by
    attribute: half the cost of Point(x=float(p[0]), ...), which matters for the few hundred
    points of a hypothesis cloud on every frame."""
    out = []
    for x, y, z in xyz.tolist():
        point = Point()
        point.x, point.y, point.z = x, y, z
        out.append(point)
    return out


def pose_markers(header, result, options):
    """A MarkerArray that replaces everything shown before with the people of ``result``.

    It starts with DELETEALL, so people who left, and the whole skeleton set when nobody is
    seen, never linger; RViz applies the array in order, so this does not flicker.
    """
    markers = [Marker(header=header, action=Marker.DELETEALL)]
    lifetime = Duration(sec=int(options.lifetime), nanosec=int(options.lifetime % 1 * 1e9))

    def marker(ns, person, kind, scale):
        m = Marker(
            header=header, ns=ns, id=person, type=kind, action=Marker.ADD, lifetime=lifetime
        )
        m.pose.orientation.w = 1.0
        m.scale.x = m.scale.y = m.scale.z = scale
        return m

    for i, (pose, observed) in enumerate(zip(result.poses, result.observed)):
        bones = marker('bones', i, Marker.LINE_LIST, options.bone_width)
        bones.color = BONE_COLOR
        bones.points = points(pose[_BONE_ENDS])
        joints = marker('joints', i, Marker.SPHERE_LIST, options.joint_diameter)
        joints.color = (
            OBSERVED_COLOR  # per-point colours below override it; RViz needs a non-zero alpha here
        )
        joints.points = points(pose)
        joints.colors = [OBSERVED_COLOR if seen else COMPLETED_COLOR for seen in observed]
        markers += [bones, joints]
        if options.show_hypotheses:
            cloud = marker('hypotheses', i, Marker.POINTS, 0.5 * options.joint_diameter)
            cloud.color = ColorRGBA(r=0.8, g=0.8, b=0.8, a=options.hypothesis_alpha)
            cloud.points = points(result.hypotheses[i].reshape(-1, 3))
            markers.append(cloud)
    return MarkerArray(markers=markers)
