"""Training: denoising score matching with GFPose's condition masking on augmented mocap.

Resumable: ``out_dir/last.pt`` holds the model, EMA, optimiser, step and RNG state, and a
second run with the same out_dir continues from it. Runs on one CPU or GPU, or several GPUs
under torchrun (DDP; each rank draws its own batches, rank 0 writes).
"""

import copy
import json
import math
import os
import sys
import time

import torch
import yaml

from . import data
from .camera import pixels_to_normalized
from .model import POSE_SCALE, ScoreNet, make_condition, training_loss
from .sampling import sample_ddim

DEFAULTS = {
    "data_dir": data.DEFAULT_DATA_DIR, "out_dir": "outputs/train", "seed": 0,
    "model": {"hidden": 512, "blocks": 3}, "batch_size": 1024, "lr": 5e-4, "warmup_steps": 1000,
    "total_steps": 60000, "grad_clip": 1.0, "ema_decay": 0.999, "checkpoint_every": 500,
    "validate_every": 1000, "validation_samples": 2048, "validation_steps": 4, "threads": 0,
}


def load_config(path=None, overrides=None):
    config = copy.deepcopy(DEFAULTS)
    if path:
        with open(path) as f:
            loaded = yaml.safe_load(f) or {}
        unknown = set(loaded) - set(DEFAULTS)
        if unknown:
            raise ValueError(f"{path}: unknown keys {sorted(unknown)}")
        config.update(loaded)
    config.update(overrides or {})
    return config


def batch_from_view(view):
    """Augmented view -> (x0 target (B, 51), condition (B, C)), float32."""
    pose_rel = (view["pose_cam"] - view["pose_cam"][:, :1]) / POSE_SCALE
    mask = (view["confidence"] > 0).to(pose_rel.dtype)
    xy = pixels_to_normalized(view["uv"], view["K"])
    use_3d = view.get("use_3d_condition", torch.zeros(len(mask), dtype=torch.bool))[:, None]
    condition = make_condition(xy, mask * ~use_3d, pose_rel, mask * use_3d)
    return pose_rel.flatten(1).float(), condition.float()


def validation_set(config, generator):
    pool = data.PosePool(data.load_mocap(config["data_dir"], "val"))
    view = data.augment(pool.sample(config["validation_samples"], generator), data.AugmentConfig(), generator)
    view["use_3d_condition"][:] = False
    x0, condition = batch_from_view(view)
    noise = torch.randn(x0.shape, generator=generator)
    return x0, condition, noise


@torch.no_grad()
def validation_mpjpe(net, x0, condition, noise, steps):
    """Root-relative MPJPE (mm) of one DDIM sample per pose, all joints."""
    embedding = net.embed_condition(condition)
    pred = sample_ddim(lambda x, t: net.denoise(x, t, embedding), noise, steps)
    err = (pred - x0).view(-1, 17, 3).norm(dim=-1) * POSE_SCALE * 1000
    return float(err.mean())


def save_checkpoint(path, **state):
    tmp = path + ".tmp"
    torch.save(state, tmp)
    os.replace(tmp, path)  # never leave a half-written checkpoint behind


def export_weights(net_config, ema_state, path, meta):
    """The shipped file: EMA weights + architecture + provenance, nothing else."""
    torch.save({"config": net_config, "state_dict": ema_state, "meta": meta}, path)


def train(config):
    distributed = int(os.environ.get("WORLD_SIZE", "1")) > 1
    rank = 0
    if distributed:
        torch.distributed.init_process_group("nccl" if torch.cuda.is_available() else "gloo")
        rank = torch.distributed.get_rank()
    device = torch.device(f"cuda:{int(os.environ.get('LOCAL_RANK', 0))}" if torch.cuda.is_available() else "cpu")
    if config["threads"]:
        torch.set_num_threads(config["threads"])
    torch.manual_seed(config["seed"] + rank)
    generator = torch.Generator().manual_seed(config["seed"] + 1000 * rank)
    out_dir = config["out_dir"]
    os.makedirs(out_dir, exist_ok=True)

    net = ScoreNet(**config["model"]).to(device)
    ema = copy.deepcopy(net).requires_grad_(False)
    optimizer = torch.optim.Adam(net.parameters(), lr=config["lr"])
    step = 0
    last = os.path.join(out_dir, "last.pt")
    if os.path.exists(last):
        state = torch.load(last, map_location=device, weights_only=False)
        if state["config"]["model"] != config["model"]:
            raise ValueError(f"{last} was trained with model {state['config']['model']}, not {config['model']}")
        net.load_state_dict(state["model"])
        ema.load_state_dict(state["ema"])
        optimizer.load_state_dict(state["optimizer"])
        generator.set_state(state["generator"])
        torch.set_rng_state(state["torch_rng"])
        step = state["step"]
        print(f"resumed from {last} at step {step}", flush=True)
    model = torch.nn.parallel.DistributedDataParallel(net) if distributed else net

    pool = data.PosePool(data.load_mocap(config["data_dir"], "train"))
    augment_config = data.AugmentConfig()
    val = [v.to(device) for v in validation_set(config, torch.Generator().manual_seed(12345))]
    log = open(os.path.join(out_dir, "log.jsonl"), "a")
    started, seen = time.time(), 0

    def lr_at(s):
        if s < config["warmup_steps"]:
            return config["lr"] * (s + 1) / config["warmup_steps"]
        progress = min(1.0, (s - config["warmup_steps"]) / max(1, config["total_steps"] - config["warmup_steps"]))
        return config["lr"] * (0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * progress)))

    while step < config["total_steps"]:
        view = data.augment(pool.sample(config["batch_size"], generator), augment_config, generator)
        x0, condition = (v.to(device) for v in batch_from_view(view))
        for group in optimizer.param_groups:
            group["lr"] = lr_at(step)
        loss = training_loss(model, x0, condition, generator=None)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(net.parameters(), config["grad_clip"])
        optimizer.step()
        with torch.no_grad():
            decay = min(config["ema_decay"], (1 + step) / (10 + step))
            for p_ema, p in zip(ema.parameters(), net.parameters()):
                p_ema.lerp_(p, 1 - decay)
        step += 1
        seen += 1
        if rank == 0 and step % 50 == 0:
            rate = seen / (time.time() - started)
            print(f"step {step}/{config['total_steps']} loss {loss.item():.4f} lr {lr_at(step):.2e} "
                  f"{rate:.2f} it/s eta {(config['total_steps'] - step) / rate / 60:.0f} min", flush=True)
        if rank == 0 and step % config["validate_every"] == 0:
            mpjpe = validation_mpjpe(ema, *val, config["validation_steps"])
            record = {"step": step, "loss": loss.item(), "val_mpjpe_mm": mpjpe, "time": time.time()}
            log.write(json.dumps(record) + "\n")
            log.flush()
            print(f"step {step} validation MPJPE {mpjpe:.1f} mm ({config['validation_steps']} DDIM steps, EMA)", flush=True)
        if rank == 0 and (step % config["checkpoint_every"] == 0 or step == config["total_steps"]):
            save_checkpoint(last, model=net.state_dict(), ema=ema.state_dict(), optimizer=optimizer.state_dict(),
                            generator=generator.get_state(), torch_rng=torch.get_rng_state(), step=step, config=config)
            export_weights(net.config, ema.state_dict(), os.path.join(out_dir, "ema.pt"),
                           {"step": step, "train_config": config})
    if distributed:
        torch.distributed.destroy_process_group()
    return os.path.join(out_dir, "ema.pt")


def main(argv=None):
    import argparse
    parser = argparse.ArgumentParser(prog="gfpose train", description=__doc__.splitlines()[0])
    parser.add_argument("--config", help="YAML file (see config/train.yaml)")
    parser.add_argument("--out-dir")
    parser.add_argument("--total-steps", type=int)
    args = parser.parse_args(argv)
    overrides = {k: v for k, v in {"out_dir": args.out_dir, "total_steps": args.total_steps}.items() if v is not None}
    print(train(load_config(args.config, overrides)))


if __name__ == "__main__":
    sys.exit(main())
