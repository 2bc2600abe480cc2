"""Training the pose prior: data sources and the joint convention (sources), BVH import (bvh),
augmentation with virtual cameras (data), and the training loop with its config (train)."""
