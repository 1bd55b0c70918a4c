#!/usr/bin/env python
"""How strongly SPP pulls on the encoder in each regime, at initialisation: the numbers a search space's λ
ranges are set from (tune/configs/semeval-cpu-spp.yaml).

    python benchmarks/spp_regimes.py --config tune/configs/semeval-cpu-spp.yaml --dataset semeval \
        --data-dir ../shared/data/semeval2010_task8

For each SPP regime (model.spp_alpha x model.spp_target, model.spp_layers all and last) the same encoder (same
seed) sees the first `--sentences` training sentences once, in training mode, and the table gives L_re, L_spp
and the ratio of their gradient norms on the encoder's weights (selfre.train.spp_diagnostics.gradient_share,
unweighted: multiply by λ for manual weighting), and the λ range that puts SPP's gradient between 2% and 100%
of the relation loss's. One forward and two backward passes per regime; about a minute on one core for MiniLM.
"""

from __future__ import annotations

import argparse
import itertools
import sys

import torch

from selfre.config import RunConfig, load_yaml
from selfre.config_flags import SECTIONS, add_config_args, config_from_args
from selfre.data.datasets import load_splits
from selfre.encoding.collate import collate
from selfre.encoding.encode import RelationEncoder
from selfre.model.build import build_for_training
from selfre.train import spp_diagnostics
from selfre.train.rng import seed_all


def measure(cfg, sentences: int) -> list[dict]:
    splits = load_splits(cfg.data)
    rows = []
    for alpha, target, layers in itertools.product(("softmax", "renormalize"), ("softmax", "smooth"), ("all", "last")):
        cfg.model.spp_alpha, cfg.model.spp_target, cfg.model.spp_layers = alpha, target, layers
        cfg.model.use_spp, cfg.model.weighting, cfg.model.spp_lambda = True, "manual", 1.0
        seed_all(cfg.train.seed)
        model, tokenizer = build_for_training(cfg.model, cfg.data.marker, len(splits.label_set), splits.train)
        encoder = RelationEncoder(tokenizer, cfg.data.marker, cfg.data.max_seq_length, cfg.model.iel_include_markers)
        examples, _ = encoder.encode(splits.train[:sentences], splits.label_set)
        batch = collate(examples, tokenizer.pad_token_id)
        batch.pop("index")
        model.train()
        out = model(**batch)
        ratio = spp_diagnostics.gradient_share(model, out.loss_re, out.loss_spp)["spp_grad_ratio_raw"]
        rows.append(
            {
                "spp_alpha": alpha,
                "spp_target": target,
                "spp_layers": layers,
                "loss_re": float(out.loss_re.detach()),
                "loss_spp": float(out.loss_spp.detach()),
                "grad_ratio": ratio,
            }
        )
    return rows


def markdown(rows: list[dict]) -> str:
    lines = [
        "| spp_alpha | spp_target | spp_layers | L_re | L_spp (nats) | ‖∇L_spp‖ / ‖∇L_re‖ | λ for 2%–100% |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['spp_alpha']} | {r['spp_target']} | {r['spp_layers']} | {r['loss_re']:.3f} | {r['loss_spp']:.4f} "
            f"| {r['grad_ratio']:.4f} | {0.02 / r['grad_ratio']:.3g}–{1 / r['grad_ratio']:.3g} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="benchmarks/spp_regimes.py", description=__doc__.split("\n\n")[0])
    p.add_argument(
        "--sentences", type=int, default=32, help="Training sentences in the one batch measured (default 32)."
    )
    p.add_argument(
        "--config",
        metavar="FILE.yaml",
        help="A search or train config: its data:/model:/train: sections "
        "(a search: section is ignored); flags override it.",
    )
    add_config_args(
        p, exclude=("use_spp", "spp_alpha", "spp_target", "spp_layers", "weighting", "spp_lambda"), config_file=False
    )
    args = p.parse_args(argv)
    loaded = load_yaml(args.config) if args.config else {}
    flags = argparse.Namespace(**{**vars(args), "config": None})  # the file is merged here, without its search:
    cfg = config_from_args(flags, base=RunConfig.from_dict({k: v for k, v in loaded.items() if k in SECTIONS}))
    if cfg.train.num_threads:
        torch.set_num_threads(cfg.train.num_threads)
    print(markdown(measure(cfg, args.sentences)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
