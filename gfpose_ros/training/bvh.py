"""BVH import: parse, forward kinematics, and map onto the H36M-17 joints.

Supports the CMU (31-joint) and Bandai Namco (27-node) rigs of ../shared/data/bvh, with the
joint-name mappings of the data README. Output is (frames, 17, 3) in millimetres, z up, like
the mocap .npz files.
"""

import numpy as np

from ..skeleton import NUM_JOINTS


class BVHError(ValueError):
    pass


class Node:
    def __init__(self, name, parent):
        self.name, self.parent = name, parent
        self.offset = np.zeros(3)
        self.channels = []
        self.children = []
        self.end_offset = None  # an End Site's offset, if the node has one


def parse(text):
    """Returns (nodes in file order, motion (frames, channels), frame time)."""
    tokens = text.split()
    nodes, stack, i = [], [], 0
    current = None
    try:
        while tokens[i] != "MOTION":
            token = tokens[i]
            if token in ("ROOT", "JOINT"):
                current = Node(tokens[i + 1], stack[-1] if stack else None)
                if current.parent:
                    current.parent.children.append(current)
                nodes.append(current)
                i += 2
            elif token == "End":
                end_parent = stack[-1]
                i += 2  # "End Site"
                if tokens[i] != "{" or tokens[i + 1] != "OFFSET":
                    raise BVHError("malformed End Site")
                end_parent.end_offset = np.array(tokens[i + 2 : i + 5], dtype=float)
                i += 6  # { OFFSET x y z }
                continue
            elif token == "{":
                stack.append(current)
                i += 1
            elif token == "}":
                stack.pop()
                i += 1
            elif token == "OFFSET":
                current.offset = np.array(tokens[i + 1 : i + 4], dtype=float)
                i += 4
            elif token == "CHANNELS":
                count = int(tokens[i + 1])
                current.channels = tokens[i + 2 : i + 2 + count]
                i += 2 + count
            else:
                i += 1
        frames = int(tokens[i + 2])
        frame_time = float(tokens[i + 5])
        values = np.array(tokens[i + 6 :], dtype=float)
    except (IndexError, ValueError) as exc:
        raise BVHError(f"malformed BVH: {exc}") from None
    width = sum(len(n.channels) for n in nodes)
    if not nodes or values.size != frames * width:
        raise BVHError(
            f"BVH motion has {values.size} values, expected {frames} frames x {width} channels"
        )
    return nodes, values.reshape(frames, width), frame_time


def _axis_rotation(axis, degrees):
    r = np.deg2rad(degrees)
    c, s = np.cos(r), np.sin(r)
    R = np.zeros(r.shape + (3, 3))
    a = "XYZ".index(axis)
    b, d = (a + 1) % 3, (a + 2) % 3
    R[..., a, a] = 1
    R[..., b, b], R[..., b, d], R[..., d, b], R[..., d, d] = c, -s, s, c
    return R


def forward_kinematics(nodes, motion):
    """Global positions {name: (frames, 3)} (and '<name>_end' for End Sites), in file units."""
    frames = motion.shape[0]
    positions, rotations, column = {}, {}, 0
    for node in nodes:
        local_t = np.broadcast_to(node.offset, (frames, 3)).copy()
        local_R = np.broadcast_to(np.eye(3), (frames, 3, 3)).copy()
        for channel in node.channels:
            values = motion[:, column]
            column += 1
            if channel.endswith("position"):
                local_t[:, "XYZ".index(channel[0])] = (
                    values  # position channels replace the offset
                )
            else:
                local_R = local_R @ _axis_rotation(channel[0], values)
        if node.parent is None:
            positions[node.name], rotations[node.name] = local_t, local_R
        else:
            parent_R = rotations[node.parent.name]
            positions[node.name] = positions[node.parent.name] + np.einsum(
                "fij,fj->fi", parent_R, local_t
            )
            rotations[node.name] = parent_R @ local_R
        if node.end_offset is not None:
            positions[node.name + "_end"] = positions[node.name] + np.einsum(
                "fij,j->fi", rotations[node.name], node.end_offset
            )
    return positions


def _mid(p, a, b):
    return 0.5 * (p[a] + p[b])


def _cmu(p):
    head = _mid(p, "Head", "Head_end")
    return [
        _mid(p, "LeftUpLeg", "RightUpLeg"),
        p["RightUpLeg"],
        p["RightLeg"],
        p["RightFoot"],
        p["LeftUpLeg"],
        p["LeftLeg"],
        p["LeftFoot"],
        p["Spine"],
        p["Neck"],
        p["Neck1"],
        head,
        p["LeftArm"],
        p["LeftForeArm"],
        p["LeftHand"],
        p["RightArm"],
        p["RightForeArm"],
        p["RightHand"],
    ]


def _bandai(p, unit_mm):
    direction = p["Head"] - p["Neck"]
    direction /= np.linalg.norm(direction, axis=-1, keepdims=True)
    nose = p["Head"] + direction * (50.0 / unit_mm)
    top = p["Head"] + direction * (160.0 / unit_mm)
    return [
        p["Hips"],
        p["UpperLeg_R"],
        p["LowerLeg_R"],
        p["Foot_R"],
        p["UpperLeg_L"],
        p["LowerLeg_L"],
        p["Foot_L"],
        _mid(p, "Spine", "Chest"),
        p["Neck"],
        nose,
        top,
        p["UpperArm_L"],
        p["LowerArm_L"],
        p["Hand_L"],
        p["UpperArm_R"],
        p["LowerArm_R"],
        p["Hand_R"],
    ]


RIGS = {
    # name: (a joint that identifies the rig, millimetres per file unit, mapping)
    "cmu": ("LeftUpLeg", 56.444, lambda p, unit: _cmu(p)),
    "bandai": ("UpperLeg_L", 10.0, _bandai),
}


def _custom(mapping):
    """A user's joint-name mapping: H36M joint name -> BVH joint (``Name_end`` for its end site) or
    [a, b]."""
    from ..skeleton import JOINT_NAMES

    def apply(p, unit_mm):
        return [
            _mid(p, *mapping[j]) if isinstance(mapping[j], (list, tuple)) else p[mapping[j]]
            for j in JOINT_NAMES
        ]

    return apply


def load_bvh(path, rig=None, mapping=None, unit_mm=None):
    """Read a BVH file -> (poses (frames, 17, 3) in mm, z up, frame time in s, rig name).

    ``mapping`` (with ``unit_mm``, millimetres per file unit) maps any other rig's joints onto
    the 17 H36M joints by name; without it the CMU and Bandai rigs are recognised.
    """
    try:
        with open(path) as f:
            text = f.read()
    except OSError as exc:
        raise BVHError(f"cannot read {path}: {exc.strerror}") from None
    nodes, motion, frame_time = parse(text)
    names = {n.name for n in nodes}
    if mapping is not None:
        rig, mapping = "custom", _custom(mapping)
    else:
        rig = rig or next((r for r, (marker, _, _) in RIGS.items() if marker in names), None)
        if rig not in RIGS:
            raise BVHError(
                f"{path}: unknown rig (joints {sorted(names)[:6]}...); supported: "
                f"{', '.join(RIGS)}, "
                "or give a joint-name mapping"
            )
        _, unit_mm, mapping = RIGS[rig]
    try:
        joints = np.stack(mapping(forward_kinematics(nodes, motion), unit_mm), axis=1) * unit_mm
    except KeyError as exc:
        raise BVHError(f"{path}: joint {exc} missing for the {rig} mapping") from None
    y_up = joints.copy()
    joints[..., 1], joints[..., 2] = -y_up[..., 2], y_up[..., 1]  # y up -> z up, right-handed
    assert joints.shape[1] == NUM_JOINTS
    return joints.astype(np.float32), frame_time, rig
