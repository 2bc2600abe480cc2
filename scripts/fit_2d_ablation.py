"""The model card's 2D-fit table (GitHub issue 20): on 2-LOSO, the plain conditional sampler
against the 2D fit between the denoising steps ("rays", shipped) and the bone-length-consistent
alternative ("bones"), each with exact, clean (1%) and detector-like 2D, same network, same noise.

    python scripts/fit_2d_ablation.py [--max-frames N] [--out outputs/fit_2d]

Each half is all of one source, judged by the model trained without it (models/reference/loso);
the 2D noise level sets keypoint_noise (0, 0.01, 0.03), as a user declares it. Runs on ONNX Runtime
(each variant's graph is cached under its own key: export.fit_method).
"""

import argparse
import json
import os
import subprocess

from gfpose_ros import export
from gfpose_ros.evaluation.evaluate import evaluate

HALVES = (
    ("hdm05", "models/reference/loso/without_hdm05.pt"),
    ("everyday", "models/reference/loso/without_everyday.pt"),
)
TWO_D = (
    ("exact", 0.0, []),
    ("clean 1%", 0.01, []),
    ("detector-like", 0.03, ["--noise", "0.03", "--outlier-prob", "0.05"]),
)
VARIANTS = (
    ("conditional sampler (no fit)", None),
    ("fit: rays (shipped)", "rays"),
    ("fit: bones (option c)", "bones"),
)
COLUMNS = (
    "mpjpe_mm",
    "pmpjpe_mm",
    "best_of_n_mpjpe_mm",
    "bone_along_ray_ratio",
    "bone_across_ray_ratio",
    "limb_length_ratio",
    "error_to_spread_ratio",
)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--max-frames", type=int, default=0)
    parser.add_argument("--out", default="outputs/fit_2d")
    args = parser.parse_args()
    os.makedirs(args.out, exist_ok=True)
    rows, results = [], {}
    for source, model in HALVES:
        for kind, keypoint_noise, noise_args in TWO_D:
            data = os.path.join(args.out, f"{source}_{kind.split()[0]}.npz")
            if not os.path.exists(data):
                noise = noise_args or ["--noise", str(keypoint_noise)]
                subprocess.run(
                    [
                        "gfpose",
                        "make-eval-set",
                        "--sources",
                        source,
                        "--split",
                        "all",
                        *noise,
                        "--out",
                        data,
                    ],
                    check=True,
                )
            for name, method in VARIANTS:
                with export.fit_method(method or "rays"):
                    run = evaluate(
                        data,
                        model,
                        "torch",
                        (4,),
                        (20,),
                        max_frames=args.max_frames,
                        keypoint_noise=keypoint_noise,
                        fit_2d=method is not None,
                        log=lambda *a: None,
                    )["runs"][0]
                results[f"{source}/{kind}/{name}"] = {c: run[c] for c in COLUMNS}
                rows.append((source, kind, name, *(run[c] for c in COLUMNS)))
                print(
                    " | ".join(str(v) if isinstance(v, str) else f"{v:.3f}" for v in rows[-1]),
                    flush=True,
                )
    with open(os.path.join(args.out, "fit_2d.json"), "w") as f:
        json.dump(results, f, indent=1)
    header = (
        "source left out",
        "2D",
        "sampler",
        "MPJPE",
        "P-MPJPE",
        "best of 20",
        "along ray",
        "across ray",
        "limbs",
        "error/spread",
    )
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for row in rows:
        cells = (
            [row[0], row[1], row[2]]
            + [f"{v:.1f}" for v in row[3:6]]
            + [f"{v:.3f}" for v in row[6:9]]
            + [f"{row[9]:.2f}"]
        )
        lines.append("| " + " | ".join(cells) + " |")
    for kind, _, _ in TWO_D:  # the 2-LOSO mean of each variant
        for name, _ in VARIANTS:
            mean = [
                sum(results[f"{s}/{kind}/{name}"][c] for s, _ in HALVES) / 2 for c in COLUMNS[:3]
            ]
            lines.append(
                f"| 2-LOSO mean | {kind} | {name} | "
                + " | ".join(f"{v:.1f}" for v in mean)
                + " | | | | |"
            )
    table = "\n".join(lines)
    with open(os.path.join(args.out, "fit_2d.md"), "w") as f:
        f.write(table + "\n")
    print(table)


if __name__ == "__main__":
    main()
