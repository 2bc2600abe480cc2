"""What the lift node and the camera node share: parameter descriptors, per-reason warnings, shutdown."""

import time

from rcl_interfaces.msg import FloatingPointRange, IntegerRange, ParameterDescriptor
from rclpy.lifecycle import LifecycleNode, TransitionCallbackReturn

WARN_PERIOD = 5.0  # s between two warnings of the same kind
STARTUP_CONSTRAINT = 'read at configure; change it only while the node is unconfigured'


def parameter_descriptor(description, low=None, high=None, choices=None, read_only_after_configure=False):
    """A descriptor with its range (integer or floating point) and its constraints in words."""
    d = ParameterDescriptor(description=description)
    if isinstance(low, int) and isinstance(high, int):
        d.integer_range = [IntegerRange(from_value=low, to_value=high, step=1)]
    elif low is not None:
        d.floating_point_range = [FloatingPointRange(from_value=float(low), to_value=float(high), step=0.0)]
    constraints = []
    if choices:
        constraints.append('one of: ' + ', '.join(choices))
    if read_only_after_configure:
        constraints.append(STARTUP_CONSTRAINT)
    d.additional_constraints = '; '.join(constraints)
    return d


def startup_parameters(parameters):
    """Names of the parameters in ``{name: (default, descriptor)}`` that are read at configure."""
    return {name for name, (_, d) in parameters.items() if STARTUP_CONSTRAINT in d.additional_constraints}


class GfposeLifecycleNode(LifecycleNode):
    """Base of the package's lifecycle nodes. Subclasses keep their subscriptions in
    ``self._subs`` and their lifecycle publishers in ``self._pubs`` (a dict)."""

    def warn(self, kind, message):
        """Log each kind at most once per WARN_PERIOD. rclpy throttles per call site, and a node's
        frame warnings come from one, so one bad input would hide another's reason."""
        last = self.__dict__.setdefault('_last_warning_by_kind', {})
        now = time.monotonic()
        if now - last.get(kind, -WARN_PERIOD) >= WARN_PERIOD:
            last[kind] = now
            self.get_logger().warning(message)

    def on_shutdown(self, state):
        """Shutdown from any state releases what deactivate and cleanup would have released."""
        if self._subs:
            self.on_deactivate(state)
        if self._pubs:
            self.on_cleanup(state)
        return TransitionCallbackReturn.SUCCESS
