"""The lift node's lifecycle over real DDS: configure failures, transitions driven through the
lifecycle services, and the fallback intrinsics when no camera_info arrives."""

import os
import tempfile

import pytest

from ros_helpers import import_gfpose_msgs, import_rclpy_or_skip, rclpy_context, start_lift_node

pytestmark = pytest.mark.ros  # starts DDS participants or node processes


def test_configure_fails_clearly_on_missing_or_corrupt_model_and_bad_parameters():
    import_rclpy_or_skip()
    with tempfile.TemporaryDirectory() as tmp:
        corrupt = os.path.join(tmp, 'corrupt.pt')
        with open(corrupt, 'wb') as f:
            f.write(b'this is not a torch checkpoint' * 10)
        cases = {  # all three start at once: each pays the interpreter and torch start-up
            'model file not found': start_lift_node(
                '/fail_missing', 'model_path:=/nonexistent/gfpose.pt'
            ),
            'cannot load model': start_lift_node('/fail_corrupt', f'model_path:={corrupt}'),
            'invalid parameters: aggregation must be one of': start_lift_node(
                '/fail_param', 'aggregation:=median'
            ),
        }
        try:
            for expected, node in cases.items():
                assert node.proc.wait(90) == 1, f'{expected}: the node did not exit with an error'
                node._t_err.join(5)
                log = '\n'.join(node.stderr_lines)
                assert 'configure failed' in log and expected in log, log[-2000:]
        finally:
            for node in cases.values():
                node.stop()


def test_an_active_node_without_input_says_so_and_why():
    """Active with nothing on keypoints_2d (the usual cause: a topic or remapping that does not
    match the driver's): after INPUT_SILENCE s the node warns, naming the resolved topic and that
    no one publishes it, instead of staying silent."""
    import_rclpy_or_skip()
    node = start_lift_node('/silent_input')
    try:
        warning = node.wait_for_stderr('no keypoints on', 90.0)
        assert 'WARN' in warning
        assert 'no keypoints on /silent_input/keypoints_2d' in warning, warning
        assert 'since activation' in warning and 'no publisher' in warning, warning
    finally:
        node.stop()


def test_a_node_whose_publisher_does_not_match_says_so():
    """A best-effort publisher against a reliable subscription (keypoints_reliability) never
    matches: frames are sent, none arrives, and the warning names the publisher and the QoS."""
    rclpy = import_rclpy_or_skip()
    import_gfpose_msgs()
    from gfpose_msgs.msg import Keypoints2DArray
    from rclpy.qos import qos_profile_sensor_data

    with rclpy_context() as ctx:
        client = rclpy.create_node('silent_qos_client', context=ctx)
        pub = client.create_publisher(
            Keypoints2DArray, '/silent_qos/keypoints_2d', qos_profile_sensor_data
        )
        node = start_lift_node('/silent_qos', 'keypoints_reliability:=reliable')
        try:
            # Were the QoS compatible, the node would receive these frames.
            warning = node.wait_for_stderr(
                'no keypoints on', 90.0, on_idle=lambda: pub.publish(Keypoints2DArray()), poll=0.1
            )
            assert '1 publisher(s) on it' in warning and 'QoS' in warning, warning
        finally:
            node.stop()
            client.destroy_node()


def _call(client, service_type, name, request, timeout=20.0):
    cli = client.create_client(service_type, name)
    assert cli.wait_for_service(timeout_sec=timeout), f'service {name} not available'
    future = cli.call_async(request)
    client.spin_until(future.done, timeout)
    client.destroy_client(cli)
    return future.result()


def test_lifecycle_transitions_and_fallback_intrinsics():
    import_rclpy_or_skip()
    import_gfpose_msgs()
    from lifecycle_msgs.msg import State, Transition
    from lifecycle_msgs.srv import ChangeState, GetState
    from rclpy.parameter import Parameter
    from rclpy.parameter_client import AsyncParameterClient

    from gfpose_ros.tools.client import LiftClient, load_demo_sequence

    namespace = '/lifecycle_test'
    name = namespace + '/gfpose_lift'
    seq = load_demo_sequence()
    person = [('p', 'h36m17', seq['keypoints_2d'][0], seq['confidence'][0])]
    node = start_lift_node(namespace, 'autostart:=false')
    with rclpy_context() as ctx:
        client = LiftClient(namespace=namespace, context=ctx)
        try:

            def state():
                return _call(
                    client, GetState, name + '/get_state', GetState.Request()
                ).current_state.id

            def transition(transition_id):
                return _call(
                    client,
                    ChangeState,
                    name + '/change_state',
                    ChangeState.Request(transition=Transition(id=transition_id)),
                ).success

            def set_params(**values):
                params = AsyncParameterClient(client, name)
                assert params.wait_for_services(10.0)
                future = params.set_parameters([Parameter(k, value=v) for k, v in values.items()])
                client.spin_until(future.done, 10.0)
                return [(r.successful, r.reason) for r in future.result().results]

            assert state() == State.PRIMARY_STATE_UNCONFIGURED  # autostart:=false waits
            assert set_params(steps=4) == [
                (True, '')
            ]  # startup parameters may change while unconfigured
            assert transition(Transition.TRANSITION_CONFIGURE)
            assert not set_params(steps=5)[0][0]  # ... but not once configured
            assert transition(Transition.TRANSITION_ACTIVATE)
            assert state() == State.PRIMARY_STATE_ACTIVE
            assert client.wait_for_node(30.0, node.proc)

            # No camera_info has been published and no fallback intrinsics are set: skipped,
            # warned.
            assert client.request((3, 1), person, timeout=1.5) is None
            assert client.spin_until(
                lambda: any('no camera_info' in line for line in node.stderr_lines), 3.0
            )
            K = seq['intrinsics']
            assert (
                set_params(
                    fx=float(K[0, 0]), fy=float(K[1, 1]), cx=float(K[0, 2]), cy=float(K[1, 2])
                )
                == [(True, '')] * 4
            )
            reply = client.request((3, 2), person, timeout=5.0)
            assert reply is not None and len(reply.people) == 1
            assert abs(reply.people[0].joints[0].z - seq['poses_3d'][0, 0, 2] / 1000) < 1.5

            assert transition(Transition.TRANSITION_DEACTIVATE)
            assert client.request((3, 3), person, timeout=1.0) is None  # inactive: no output
            assert transition(Transition.TRANSITION_ACTIVATE)
            client.spin_until(lambda: client.keypoints_pub.get_subscription_count() > 0, 10.0)
            assert client.request((3, 4), person, timeout=5.0) is not None
            assert transition(Transition.TRANSITION_DEACTIVATE)
            assert transition(Transition.TRANSITION_CLEANUP)
            assert state() == State.PRIMARY_STATE_UNCONFIGURED
            assert node.proc.poll() is None
        finally:
            client.close()
            node.stop()
