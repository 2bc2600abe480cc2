"""Pairing keypoints with depth images by stamp (gfpose_ros/stamp_cache.py)."""

import pytest

from gfpose_ros.stamp_cache import StampCache


def test_nearest_item_in_the_same_frame_within_max_age():
    cache = StampCache(max_age=0.05, capacity=4)
    for i in range(6):  # 30 Hz depth; the oldest two fall out of the 4-slot cache
        cache.put(10 + i / 30, 'cam', f'depth{i}')
    match = cache.match(10 + 3.4 / 30, 'cam')
    assert match.item == 'depth3' and match.reason == '' and match.age == pytest.approx(0.4 / 30)
    assert cache.match(10 + 1.2 / 30, 'cam').item == 'depth2'  # depth1, nearer, was evicted
    assert cache.match(10 - 1.0, 'cam').item is None  # a second away is stale


def test_misses_say_why():
    cache = StampCache(max_age=0.03)
    assert 'no depth image received yet' in cache.match(5.0, 'cam').reason
    assert cache.match(5.0, 'cam').kind == 'empty'
    cache.put(5.0, 'other_cam', 'depth')
    assert 'not the same camera' in cache.match(5.0, 'cam').reason
    assert cache.match(5.0, 'cam').kind == 'other_frame'
    cache.put(4.0, 'cam', 'old')
    assert (
        cache.match(5.0, 'cam').kind == 'other_frame'
    )  # the image of that moment is another camera's
    stale = cache.match(4.5, 'cam')
    assert stale.item is None and '500 ms' in stale.reason and stale.age == pytest.approx(0.5)
    assert stale.kind == 'stale'
    cache.clear()
    assert cache.match(4.0, 'cam').item is None


@pytest.mark.parametrize('max_age, capacity', [(0, 4), (-1, 4), (0.1, 0)])
def test_bad_settings_are_rejected(max_age, capacity):
    with pytest.raises(ValueError):
        StampCache(max_age, capacity)
