"""`selfre bench` (paper Table 9) on a tiny random RoBERTa: output shape, counts and kernels — never timings.

Speed targets live in docs/benchmarks.md; a unit test on a shared machine can only check what does not
depend on load: the JSON layout, parameter counts (HR's against its formula), FLOP counts (positive,
ordered, the CPU attention kernel included) and which attention kernel each variant runs.
"""

from __future__ import annotations

import json

import pytest
import torch
import torch.nn.functional as F

from selfre.bench.inputs import synthetic_batch
from selfre.bench.measure import _LiveTensorBytes, count_flops
from selfre.bench.result_table import format_markdown, format_table
from selfre.cli import main
from selfre.model.backbone import load_tokenizer
from selfre.model.presets import build_tiny_encoder

HIDDEN, LAYERS, HEADS = 32, 2, 2
SEQ_LEN, BATCH = 16, 2
REQUIRED = ("params", "flops_per_example", "train_step_ms", "infer_ms_batch1", "throughput_batch64", "peak_mem_mb")
TEXTS = ["@ * person * Bill Gates @ founded # ^ organization ^ Microsoft # in 1975 ."] * 4


@pytest.fixture(scope="module")
def encoder_dir(tmp_path_factory):
    return build_tiny_encoder(
        TEXTS,
        tmp_path_factory.mktemp("bench-encoder"),
        hidden_size=HIDDEN,
        num_hidden_layers=LAYERS,
        num_attention_heads=HEADS,
        intermediate_size=64,
    )


_RESULTS: dict[str, dict] = {}


@pytest.fixture(params=["eager", "fused"])
def bench_json(request, encoder_dir, capsys) -> dict:
    """One `selfre bench --json` run per SPP kernel (cached: the module's tests share it)."""
    kernel = request.param
    if kernel not in _RESULTS:
        argv = [
            "bench",
            "--model",
            str(encoder_dir),
            "--json",
            "--batch-size",
            str(BATCH),
            "--seq-len",
            str(SEQ_LEN),
            "--repeats",
            "1",
            "--warmup",
            "0",
            "--device",
            "cpu",
            "--spp-kernel",
            kernel,
        ]
        assert main(argv) == 0
        _RESULTS[kernel] = json.loads(capsys.readouterr().out)
    return _RESULTS[kernel]


def hr_param_formula(d: int, num_layers: int) -> int:
    """HR's parameters (docs/method.md §4) for s = L+1 hidden states:
    connector Q, K, V, W_h (4 × (d² + d)) + its LayerNorm (2d); per-layer FFN W_1^l (2d×d, split into the
    T^L and R_l halves), b_1^l, W_2^l (d×d), b_2^l: s × (3d² + 2d); gate W_g ((s+1)·d × (s+1)) and its bias (s+1)."""
    s = num_layers + 1
    return 4 * (d * d + d) + 2 * d + s * (3 * d * d + 2 * d) + (s + 1) * d * (s + 1) + (s + 1)


def test_json_shape(bench_json, encoder_dir):
    r = bench_json
    assert r["model"] == str(encoder_dir)
    assert (r["batch_size"], r["seq_len"], r["device"]) == (BATCH, SEQ_LEN, "cpu")
    assert list(r["variants"]) == ["baseline", "spp", "hr", "self"]
    for name, v in r["variants"].items():
        for field in REQUIRED:
            assert isinstance(v[field], int | float) and v[field] > 0, (name, field)
        assert isinstance(v["params"], int)
        assert set(v["ratios"]) >= set(REQUIRED)
    assert all(x == 1.0 for x in r["variants"]["baseline"]["ratios"].values())
    assert r["encoder"]["hidden_size"] == HIDDEN and r["encoder"]["num_hidden_layers"] == LAYERS


def test_params_spp_free_and_hr_formula(bench_json):
    v = bench_json["variants"]
    assert v["spp"]["params"] == v["baseline"]["params"]  # SPP is parameter-free
    assert v["hr"]["params"] == v["baseline"]["params"] + hr_param_formula(HIDDEN, LAYERS)
    assert v["self"]["params"] == v["hr"]["params"]


def test_flops_positive_and_ordered(bench_json):
    v = bench_json["variants"]
    for name in v:
        assert 0 < v[name]["flops_per_example"] < v[name]["train_flops_per_example"]
    for key in ("flops_per_example", "train_flops_per_example"):
        assert v["baseline"][key] < v["hr"][key] <= v["self"][key]
    # SPP does nothing at inference; in training it adds its attention summary (or nothing beyond eager's).
    assert v["spp"]["flops_per_example"] == v["baseline"]["flops_per_example"]
    assert v["spp"]["train_flops_per_example"] >= v["baseline"]["train_flops_per_example"]


def test_attention_kernels(bench_json):
    v = bench_json["variants"]
    assert v["baseline"]["attn_implementation"] == "sdpa"
    assert v["hr"]["attn_implementation"] == "sdpa"
    spp_kernel = "eager" if bench_json["spp_kernel"] == "eager" else "sdpa"
    assert v["spp"]["attn_implementation"] == v["self"]["attn_implementation"] == spp_kernel
    assert all(x["attn_implementation_infer"] == "sdpa" for x in v.values())  # as `selfre predict` loads them


def test_table_lists_variants_and_ratios(bench_json):
    for table in (format_table(bench_json), format_markdown(bench_json)):
        for label in ("baseline", "+SPP", "+HR", "SELF", "GFLOP/ex train", "train step ms", "(1.00)"):
            assert label in table
    assert format_markdown(bench_json).count("\n| ") == 5  # header + 4 variants


def test_help_explains_every_flag(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["bench", "--help"])
    assert exc.value.code == 0
    text = capsys.readouterr().out
    for flag in ("--model", "--batch-size", "--seq-len", "--repeats", "--warmup", "--device", "--json", "--spp-kernel"):
        assert flag in text


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the CPU-only error")
def test_cuda_request_without_gpu_is_a_clean_error(encoder_dir, capsys):
    argv = ["bench", "--model", str(encoder_dir), "--device", "cuda", "--repeats", "1"]
    assert main(argv) == 2
    assert "CUDA is not available" in capsys.readouterr().err


# ---------------------------------------------------------------------------------------------------
# instruments and inputs


def test_flop_counter_counts_linear_and_cpu_attention():
    x, w = torch.randn(8, 16), torch.randn(16, 4)
    assert count_flops(lambda: x @ w) == 2 * 8 * 16 * 4
    b, h, n, d = 2, 3, 10, 4
    q = torch.randn(b, h, n, d)
    # QKᵀ and PV: 2 × (2·b·h·n·n·d). torch's registry alone counts 0 for the CPU flash kernel.
    assert count_flops(lambda: F.scaled_dot_product_attention(q, q, q)) == 2 * 2 * b * h * n * n * d


def test_live_tensor_bytes_peak():
    meter = _LiveTensorBytes()
    with meter:
        a = torch.ones(1024)  # 4 KiB
        b = a * 2  # +4 KiB: peak 8 KiB
        del a
        c = b.view(-1)  # a view is no new memory
        del b, c
        d = torch.ones(256)  # 1 KiB, after 8 KiB were freed
    assert meter.peak == 8 * 1024
    assert meter.live == 1024
    del d


def test_synthetic_batch_layout(encoder_dir):
    tok = load_tokenizer(str(encoder_dir))
    batch = synthetic_batch(tok, 4, SEQ_LEN, 5, seed=3)
    ids = batch["input_ids"]
    assert ids.shape == (4, SEQ_LEN) and bool(batch["attention_mask"].all())
    assert bool((ids[:, 0] == tok.cls_token_id).all()) and bool((ids[:, -1] == tok.sep_token_id).all())
    inner = set(ids[:, 1:-1].flatten().tolist())
    assert not inner & set(tok.all_special_ids)
    for row in range(4):
        e1, e2 = int(batch["e1"][row]), int(batch["e2"][row])
        assert 0 < e1 < e2 < SEQ_LEN - 1
        span = batch["iel"][row].nonzero().flatten().tolist()
        assert 2 <= len(span) <= 6 and span[0] == e1 + 1 and e2 + 1 in span
    assert torch.equal(synthetic_batch(tok, 4, SEQ_LEN, 5, seed=3)["input_ids"], ids)  # seeded
