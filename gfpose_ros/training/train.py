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
from tqdm import tqdm

from . import data, sources
from ..atomic_file import replaced_atomically
from ..camera import pixels_to_normalized
from ..model import POSE_SCALE, ScoreNet, make_condition, training_loss
from ..sampling import sample_ddim

DEFAULT_CONFIG = os.path.join(
    os.path.dirname(os.path.realpath(__file__)), "..", "..", "config", "train.yaml"
)
DEFAULTS = {
    "base": None,
    "out_dir": "outputs/train",
    "seed": 0,
    "init_from": None,
    "data": {"harmonise_joints": True, "sources": None, "leave_out": []},
    "augmentation": {},
    "model": {"hidden": 512, "blocks": 3},
    "batch_size": 1024,
    "lr": 5e-4,
    "warmup_steps": 1000,
    "total_steps": 60000,
    "grad_clip": 1.0,
    "ema_decay": 0.999,
    "checkpoint_every": 500,
    "validate_every": 1000,
    "validation_samples": 2048,
    "validation_steps": 4,
    "threads": 0,
    # Processes that draw and augment batches beside the training step (0: in the training
    # process, reproducible batch for batch on resume). On a GPU the augmentation, not the
    # network, bounds the step rate; a few workers keep the GPU fed.
    "loader_workers": 0,
}
_POSITIVE_INTS = (
    "batch_size",
    "total_steps",
    "checkpoint_every",
    "validate_every",
    "validation_samples",
    "validation_steps",
)
_SECTIONS = ("model", "data", "augmentation")  # merged key by key; everything else is replaced


class ConfigError(ValueError):
    """A training config that cannot be used; the message is one line."""


def _read_layer(path, seen=()):
    """A config file and the files it names as ``base``, oldest first, with paths made absolute."""
    path = os.path.abspath(path)
    if path in seen:
        raise ConfigError(f"{path}: 'base' files form a loop")
    try:
        with open(path) as f:
            loaded = yaml.safe_load(f) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f"cannot read {path}: {str(exc).splitlines()[0]}") from None
    if not isinstance(loaded, dict):
        raise ConfigError(f"{path}: expected a mapping at the top level")
    folder = os.path.dirname(path)

    def resolve(value):
        return value if value is None else os.path.join(folder, os.path.expanduser(str(value)))

    if isinstance(loaded.get("data"), dict) and isinstance(loaded["data"].get("sources"), list):
        loaded["data"]["sources"] = [
            dict(s, path=resolve(s["path"])) if isinstance(s, dict) and "path" in s else s
            for s in loaded["data"]["sources"]
        ]
    if isinstance(loaded.get("augmentation"), dict) and loaded["augmentation"].get("camera_file"):
        loaded["augmentation"]["camera_file"] = resolve(loaded["augmentation"]["camera_file"])
    if loaded.get("init_from"):
        loaded["init_from"] = resolve(loaded["init_from"])
    layers = _read_layer(resolve(loaded["base"]), seen + (path,)) if loaded.get("base") else []
    return layers + [(path, loaded)]


def load_config(path=None, overrides=None):
    """The training config: DEFAULTS, then the file's ``base`` chain, the file, and ``overrides``.

    Relative paths in a file (sources, camera_file, init_from, base) are relative to that file's
    folder; out_dir is relative to the working directory. Every problem is a ConfigError with one
    line.
    """
    config = copy.deepcopy(DEFAULTS)
    layers = _read_layer(path) if path else []
    for where, layer in layers + [("overrides", overrides or {})]:
        for key, value in layer.items():
            if key not in DEFAULTS:
                raise ConfigError(
                    f"{where}: unknown key {key!r}; known: {', '.join(sorted(DEFAULTS))}"
                )
            if key in _SECTIONS:
                if not isinstance(value, dict):
                    raise ConfigError(f"{where}: {key} must be a mapping")
                allowed = set(DEFAULTS[key]) | ({"time_dim"} if key == "model" else set())
                unknown = set(value) - allowed if key != "augmentation" else set()
                if unknown:
                    raise ConfigError(
                        f"{where}: unknown keys in {key}: {sorted(unknown)}; known: "
                        f"{', '.join(sorted(allowed))}"
                    )
                config[key] = {**config[key], **value}
            else:
                config[key] = value
    check_config(config)
    return config


def check_config(config):
    """Build the sources and the augmentation once, so a bad config fails before training
    starts."""
    for key in _POSITIVE_INTS:
        if not isinstance(config[key], int) or config[key] < 1:
            raise ConfigError(f"{key} must be an integer >= 1, got {config[key]!r}")
    if not isinstance(config["loader_workers"], int) or config["loader_workers"] < 0:
        raise ConfigError(
            f"loader_workers must be an integer >= 0, got {config['loader_workers']!r}"
        )
    for key in ("lr", "grad_clip"):
        if not isinstance(config[key], (int, float)) or config[key] <= 0:
            raise ConfigError(f"{key} must be > 0, got {config[key]!r}")
    if not (isinstance(config["ema_decay"], float) and 0 < config["ema_decay"] < 1):
        raise ConfigError(f"ema_decay must be in (0, 1), got {config['ema_decay']!r}")
    if config["data"]["sources"] is None:
        raise ConfigError("data.sources is empty: list the training data (see config/train.yaml)")
    try:
        training_sources(config)
        augmentation(config)
    except (sources.SourceError, ValueError, TypeError) as exc:
        raise ConfigError(str(exc).splitlines()[0]) from None


def all_sources(config):
    return sources.parse_sources(config["data"]["sources"])


def training_sources(config):
    """The sources the model learns from: all of them less ``data.leave_out``
    (leave-one-source-out)."""
    chosen = all_sources(config)
    leave_out = config["data"]["leave_out"] or []
    unknown = set(leave_out) - {s.name for s in chosen}
    if unknown:
        raise ConfigError(f"data.leave_out names unknown sources {sorted(unknown)}")
    chosen = [s for s in chosen if s.name not in leave_out]
    if not chosen:
        raise ConfigError("data.leave_out leaves no source to train on")
    return chosen


def augmentation(config):
    return data.AugmentConfig.from_dict(config["augmentation"])


def load_split(config, split):
    """{source name: [(sequence, poses)]} of a split, with a clear error when it is empty."""
    mocap = sources.load_sources(
        training_sources(config), split, config["data"]["harmonise_joints"]
    )
    for name, items in mocap.items():
        if split == "train" and not items:
            raise ConfigError(
                f"source {name!r} has no training frames: its held_out patterns take every "
                "sequence"
            )
    frames = sum(len(p) for items in mocap.values() for _, p in items)
    if not frames:
        what = "held-out (validation)" if split == "val" else split
        raise ConfigError(f"the {what} split has no frames: check the sources' held_out patterns")
    return mocap


def batch_from_view(view):
    """Augmented view -> (x0 target (B, 51), condition (B, C)), float32."""
    pose_rel = (view["pose_cam"] - view["pose_cam"][:, :1]) / POSE_SCALE
    mask = (view["confidence"] > 0).to(pose_rel.dtype)
    xy = pixels_to_normalized(view["uv"], view["K"])
    use_3d = view.get("use_3d_condition", torch.zeros(len(mask), dtype=torch.bool))[:, None]
    condition = make_condition(xy, mask * ~use_3d, pose_rel, mask * use_3d)
    return pose_rel.flatten(1).float(), condition.float()


def validation_set(config, generator):
    """Held-out poses at their own size and proportions, 1% 2D noise, all joints given (as
    ``gfpose make-eval-set`` without occlusion): the curve follows the honest protocol."""
    pool = data.PosePool(load_split(config, "val"))
    view = data.augment(
        pool.sample(config["validation_samples"], generator),
        data.evaluation_view(augmentation(config)),
        generator,
    )
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
    with replaced_atomically(path) as f:  # never a half-written checkpoint
        torch.save(state, f)


def export_weights(net_config, ema_state, path, meta):
    """The shipped file: EMA weights + architecture + provenance, nothing else."""
    torch.save({"config": net_config, "state_dict": ema_state, "meta": meta}, path)


class AugmentedBatches(torch.utils.data.IterableDataset):
    """Endless (x0, condition) training batches, for loader_workers: each worker draws with its
    own generator, seeded from the run's seed, the rank, the worker and the step the loader
    started at (a resumed run draws new batches, not the same ones again)."""

    def __init__(self, pool, augment_config, batch_size, seed):
        self.pool, self.augment_config = pool, augment_config
        self.batch_size, self.seed = batch_size, seed

    def __iter__(self):
        worker = torch.utils.data.get_worker_info()
        generator = torch.Generator().manual_seed(
            self.seed * 1000 + (worker.id if worker is not None else 0)
        )
        torch.set_num_threads(1)  # the workers share the cores: one thread each
        yield from _augmented(self.pool, self.augment_config, self.batch_size, generator)


def _augmented(pool, augment_config, batch_size, generator):
    """Endless (x0, condition) batches drawn from ``pool`` with ``generator``."""
    while True:
        view = data.augment(pool.sample(batch_size, generator), augment_config, generator)
        yield batch_from_view(view)


def _batches(config, pool, augment_config, generator, rank, step, device):
    """The training batches, on ``device``: drawn in this process with ``generator``, or by
    config["loader_workers"] processes."""
    workers = config["loader_workers"]
    if not workers:
        for batch in _augmented(pool, augment_config, config["batch_size"], generator):
            yield tuple(v.to(device) for v in batch)
    seed = (config["seed"] * 1000 + rank) * 1_000_000 + step
    loader = torch.utils.data.DataLoader(
        AugmentedBatches(pool, augment_config, config["batch_size"], seed),
        batch_size=None,
        num_workers=workers,
        pin_memory=device.type == "cuda",
        prefetch_factor=4,
        persistent_workers=True,
    )
    for x0, condition in loader:
        yield x0.to(device, non_blocking=True), condition.to(device, non_blocking=True)


def train(config, stop_after=None):
    """Train (or resume) with ``config``; ``stop_after`` seconds: checkpoint and return once
    that much wall time has passed (a time-boxed run, e.g. on a lent GPU), resumable as ever."""
    started = time.monotonic()
    distributed = int(os.environ.get("WORLD_SIZE", "1")) > 1
    rank = 0
    if distributed:
        torch.distributed.init_process_group("nccl" if torch.cuda.is_available() else "gloo")
        rank = torch.distributed.get_rank()
    device = torch.device(
        f"cuda:{int(os.environ.get('LOCAL_RANK', 0))}" if torch.cuda.is_available() else "cpu"
    )
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
            raise ValueError(
                f"{last} was trained with model {state['config']['model']}, not {config['model']}"
            )
        net.load_state_dict(state["model"])
        ema.load_state_dict(state["ema"])
        optimizer.load_state_dict(state["optimizer"])
        generator.set_state(state["generator"])
        torch.set_rng_state(state["torch_rng"])
        step = state["step"]
        print(f"resumed from {last} at step {step}", flush=True)
    elif config["init_from"]:
        # Fine-tuning: start the network and its EMA from earlier weights (same architecture).
        init = torch.load(config["init_from"], map_location=device, weights_only=False)
        if init["config"] != net.config:
            raise ConfigError(
                f"init_from {config['init_from']} has architecture {init['config']}, not "
                f"{net.config}"
            )
        net.load_state_dict(init["state_dict"])
        ema.load_state_dict(init["state_dict"])
        print(f"initialised from {config['init_from']}", flush=True)
    model = torch.nn.parallel.DistributedDataParallel(net) if distributed else net

    train_sources = training_sources(config)
    pool = data.PosePool(load_split(config, "train"), {s.name: s.share for s in train_sources})
    augment_config = augmentation(config)
    val = [v.to(device) for v in validation_set(config, torch.Generator().manual_seed(12345))]
    log = open(os.path.join(out_dir, "log.jsonl"), "a")
    last_val = "-"
    bar = tqdm(
        total=config["total_steps"],
        initial=step,
        disable=rank != 0,
        unit="step",
        dynamic_ncols=True,
        mininterval=1.0 if sys.stderr.isatty() else 30.0,
        desc="gfpose train",
    )

    def lr_at(s):
        if s < config["warmup_steps"]:
            return config["lr"] * (s + 1) / config["warmup_steps"]
        progress = min(
            1.0,
            (s - config["warmup_steps"]) / max(1, config["total_steps"] - config["warmup_steps"]),
        )
        return config["lr"] * (0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * progress)))

    batches = _batches(config, pool, augment_config, generator, rank, step, device)
    stopping = False
    while step < config["total_steps"] and not stopping:
        x0, condition = next(batches)
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
        bar.update(1)
        if rank == 0 and step % 50 == 0:
            bar.set_postfix_str(
                f"loss {loss.item():.4f} lr {lr_at(step):.1e} val MPJPE {last_val} mm",
                refresh=False,
            )
        if rank == 0 and step % config["validate_every"] == 0:
            mpjpe = validation_mpjpe(ema, *val, config["validation_steps"])
            record = {
                "step": step,
                "loss": loss.item(),
                "val_mpjpe_mm": mpjpe,
                "time": time.time(),
            }
            log.write(json.dumps(record) + "\n")
            log.flush()
            last_val = f"{mpjpe:.1f}"
            bar.write(
                f"step {step} validation MPJPE {mpjpe:.1f} mm ({config['validation_steps']} DDIM "
                "steps, EMA)"
            )
        stopping = stop_after is not None and time.monotonic() - started > stop_after
        if distributed and stop_after is not None:  # every rank stops at the same step
            flag = torch.tensor(float(stopping), device=device)
            torch.distributed.all_reduce(flag, op=torch.distributed.ReduceOp.MAX)
            stopping = bool(flag.item())
        if rank == 0 and (
            step % config["checkpoint_every"] == 0 or step == config["total_steps"] or stopping
        ):
            save_checkpoint(
                last,
                model=net.state_dict(),
                ema=ema.state_dict(),
                optimizer=optimizer.state_dict(),
                generator=generator.get_state(),
                torch_rng=torch.get_rng_state(),
                step=step,
                config=config,
            )
            export_weights(
                net.config,
                ema.state_dict(),
                os.path.join(out_dir, "ema.pt"),
                {"step": step, "train_config": config},
            )
    bar.close()
    if distributed:
        torch.distributed.destroy_process_group()
    return os.path.join(out_dir, "ema.pt")


def main(argv=None):
    """``python -m gfpose_ros.training.train ...`` is ``gfpose train ...``."""
    from ..cli import main as cli_main

    return cli_main(["train", *(sys.argv[1:] if argv is None else argv)])


if __name__ == "__main__":
    sys.exit(main())
