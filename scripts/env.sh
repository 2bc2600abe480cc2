# shellcheck shell=bash
# Source this (bash) after scripts/setup_env.sh:  source scripts/env.sh
# Activates the venv, keeps the venv on AMENT_PREFIX_PATH (where the ROS wheels
# register their packages) and overlays the colcon workspace in install/.
_gfpose_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
_gfpose_venv="${GFPOSE_VENV:-$_gfpose_root/.venv}"
if [[ ! -f "$_gfpose_venv/bin/activate" || ! -f "$_gfpose_root/install/setup.bash" ]]; then
  echo "gfpose env: not set up; run: bash $_gfpose_root/scripts/setup_env.sh" >&2
  unset _gfpose_root _gfpose_venv
  return 1 2>/dev/null || exit 1
fi
# With a system ROS install, source it first (as setup_env.sh was run with it).
if [[ -n "${ROS_DISTRO:-}" && -f "/opt/ros/${ROS_DISTRO}/setup.bash" && -z "${AMENT_PREFIX_PATH:-}" ]]; then
  # shellcheck disable=SC1090
  source "/opt/ros/${ROS_DISTRO}/setup.bash"
fi
# shellcheck disable=SC1091
source "$_gfpose_venv/bin/activate"
case ":${AMENT_PREFIX_PATH:-}:" in
  *":$_gfpose_venv:"*) ;;
  *) export AMENT_PREFIX_PATH="$_gfpose_venv${AMENT_PREFIX_PATH:+:$AMENT_PREFIX_PATH}" ;;
esac
# shellcheck disable=SC1091
source "$_gfpose_root/install/setup.bash"
unset _gfpose_root _gfpose_venv
