"""The benchmark result as one table (plain text or Markdown), each value followed by its ratio to the baseline."""

from __future__ import annotations

from selfre.bench.runner import LABELS

# (JSON field, column title, value format). The training FLOP column sits right before the training-time
# column so the FLOP ratio and the time ratio can be read side by side.
COLUMNS = (
    ("params", "params", lambda v: f"{v / 1e6:.2f}M"),
    ("flops_per_example", "GFLOP/ex infer", lambda v: f"{v / 1e9:.3f}"),
    ("train_flops_per_example", "GFLOP/ex train", lambda v: f"{v / 1e9:.3f}"),
    ("train_step_ms", "train step ms", lambda v: f"{v:.1f}"),
    ("infer_ms_batch1", "infer ms (b=1)", lambda v: f"{v:.2f}"),
    ("throughput_batch64", "ex/s (b=64)", lambda v: f"{v:.1f}"),
    ("peak_mem_mb", "peak MB train", lambda v: f"{v:.0f}"),
    ("peak_mem_infer_mb", "peak MB infer", lambda v: f"{v:.0f}"),
)
FOOTNOTE = (
    "GFLOP/ex: forward (infer) or forward+backward (train) FLOPs per example, counted by torch.utils.flop_counter "
    "(1 multiply-add = 2 FLOPs); (x.xx) = ratio to the baseline; ex/s higher is better, all else lower."
)


def _caption(result: dict) -> list[str]:
    enc, load = result["encoder"], result["loadavg"]
    return [
        f"model={result['model']} ({enc['model_type']}, {enc['num_hidden_layers']} layers, d={enc['hidden_size']}), "
        f"batch={result['batch_size']}, seq_len={result['seq_len']}, device={result['device']} "
        f"({result['device_name']}), spp_kernel={result['spp_kernel']}",
        f"medians of {result['repeats']} interleaved repetitions after {result['warmup']} warm-up round(s), "
        f"clock: {result['clock']}"
        + (f"; load average {load['start'][0]:.2f} -> {load['end'][0]:.2f}" if load.get("start") else ""),
    ]


def _rows(result: dict) -> list[list[str]]:
    rows = [["variant", *[title for _, title, _ in COLUMNS], "kernel train/infer"]]
    for name, v in result["variants"].items():
        cells = [LABELS.get(name, name)]
        for key, _, fmt in COLUMNS:
            ratio = v["ratios"].get(key)
            cells.append(fmt(v[key]) + (f" ({ratio:.2f})" if ratio is not None else ""))
        cells.append(f"{v['attn_implementation']}/{v['attn_implementation_infer']}")
        rows.append(cells)
    return rows


def format_table(result: dict) -> str:
    rows = _rows(result)
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = ["selfre bench: " + _caption(result)[0], _caption(result)[1]]
    for r in rows:
        lines.append(
            "  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths, strict=True)))
        )
    lines.append(FOOTNOTE)
    return "\n".join(lines)


def format_markdown(result: dict) -> str:
    rows = _rows(result)
    lines = [f"_{line}_  " for line in _caption(result)] + [""]
    lines.append("| " + " | ".join(rows[0]) + " |")
    lines.append("|" + "|".join(["---"] + ["---:"] * (len(rows[0]) - 2) + ["---"]) + "|")
    lines += ["| " + " | ".join(r) + " |" for r in rows[1:]]
    return "\n".join(lines)
