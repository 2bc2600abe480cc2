"""Measuring the lifter: held-out evaluation sets and metrics (evaluate), rendered RGB-D views
(depth_render) and the depth evaluation (depth_eval), and tracked lifting over clips
(eval_tracking)."""
