"""Extra named ablation variants (`tune/ablate.py --variant NAME:key=value,...`): parsing, the plan they make,
and how the analysis names and reports them. The end-to-end ablation on Ray is in test_ablation_ray.py."""

from __future__ import annotations

import argparse

import pytest

pytest.importorskip("ray.tune")

from support import REPO  # noqa: E402

from selfre.cli.ablate_cmd import build_parser, plan_from_args  # noqa: E402
from selfre.errors import ConfigError  # noqa: E402
from selfre.search.ablation import VARIANTS, markdown, parse_extra_variant, variant_of  # noqa: E402
from selfre.search.plan import SearchPlan  # noqa: E402
from selfre.search.space import apply_params  # noqa: E402

CONFIG_DIR = REPO / "tune" / "configs"
DEFAULT_REGIME = (
    "self-default:model.spp_alpha=softmax,model.spp_target=softmax,model.spp_lambda=0.2,model.spp_layers=1,6"
)


def test_a_named_variant_is_self_with_the_given_fields_typed():
    name, params = parse_extra_variant(DEFAULT_REGIME)
    assert name == "self-default"
    assert params == {
        "model.use_spp": True,
        "model.use_hr": True,
        "model.spp_alpha": "softmax",
        "model.spp_target": "softmax",
        "model.spp_lambda": 0.2,
        "model.spp_layers": "1,6",
    }
    assert parse_extra_variant("no-hr:model.use_hr=false")[1] == {"model.use_spp": True, "model.use_hr": False}


@pytest.mark.parametrize(
    "text, fragment",
    [
        ("model.spp_alpha=softmax", "expected NAME:key=value"),
        ("self:model.spp_alpha=softmax", "built-in variant"),
        ("x:model.nope=1", "model.nope=1"),
        ("x:spp_alpha=softmax", "spp_alpha=softmax"),
        ("x:train.seed=3", "train.seed cannot differ"),
        ("x:data.max_train_examples=10", "data.max_train_examples cannot differ"),
    ],
)
def test_bad_variants_are_refused_naming_the_flag(text, fragment):
    with pytest.raises(ConfigError, match=r"--variant .*" + fragment.replace(".", r"\.")):
        parse_extra_variant(text)


def _plan(tmp_path, *extra: str) -> SearchPlan:
    argv = [
        "--dataset",
        "demo",
        "--variants",
        "baseline,spp",
        "--seeds",
        "42,52",
        "--storage",
        str(tmp_path),
        "--name",
        "abl",
    ]
    return plan_from_args(build_parser().parse_args(argv + [a for v in extra for a in ("--variant", v)]), CONFIG_DIR)


def test_the_plan_trains_extra_variants_after_the_four_and_keeps_their_names(tmp_path):
    plan = _plan(
        tmp_path, DEFAULT_REGIME, "strong:model.spp_alpha=renormalize,model.spp_target=smooth,model.spp_lambda=0.1"
    )
    assert list(plan.search.variants) == ["baseline", "spp", "self-default", "strong"]
    assert plan.search.grid == list(plan.search.variants.values()) and plan.search.num_samples == 4
    cfg = apply_params(plan.base, plan.search.grid[3], seed=42)
    assert (cfg.model.spp_alpha, cfg.model.spp_target, cfg.model.spp_lambda, cfg.model.use_hr) == (
        "renormalize",
        "smooth",
        0.1,
        True,
    )
    plan.save()
    assert SearchPlan.load(str(tmp_path), "abl").search.variants == plan.search.variants  # --resume reports them too


def test_a_variant_equal_to_another_is_refused(tmp_path):
    with pytest.raises(ConfigError, match="same configuration as self"):
        plan_from_args(
            build_parser().parse_args(
                ["--dataset", "demo", "--storage", str(tmp_path), "--variant", "again:model.use_spp=true"]
            ),
            CONFIG_DIR,
        )
    with pytest.raises(ConfigError, match="same configuration as self"):  # written differently, trained the same
        plan_from_args(
            build_parser().parse_args(
                ["--dataset", "demo", "--storage", str(tmp_path), "--variant", "paper:model.spp_alpha=softmax"]
            ),
            CONFIG_DIR,
        )
    with pytest.raises(ConfigError, match="--variant bad: .*model.spp_alpha"):
        plan_from_args(
            build_parser().parse_args(
                ["--dataset", "demo", "--storage", str(tmp_path), "--variant", "bad:model.spp_alpha=sideways"]
            ),
            CONFIG_DIR,
        )
    with pytest.raises(SystemExit):  # argparse: a bad --variant stops before anything is built
        build_parser().parse_args(["--dataset", "demo", "--variant", "x:model.nope=1"])
    with pytest.raises(ConfigError, match="its own NAME"):
        plan_from_args(
            argparse.Namespace(
                **{
                    **vars(build_parser().parse_args(["--dataset", "demo", "--storage", str(tmp_path)])),
                    "extra_variants": [
                        parse_extra_variant("a:model.spp_lambda=1"),
                        parse_extra_variant("a:model.spp_lambda=2"),
                    ],
                }
            ),
            CONFIG_DIR,
        )


def test_configurations_are_matched_to_variants_exactly_and_old_plans_by_their_switches(tmp_path):
    plan = _plan(tmp_path, DEFAULT_REGIME)
    variants = plan.search.variants
    assert variant_of(dict(variants["self-default"]), variants) == "self-default"
    assert variant_of({"model.use_spp": True, "model.use_hr": False}, variants) == "spp"
    with pytest.raises(ValueError):
        variant_of({"model.use_spp": True, "model.use_hr": True}, variants)  # SELF was not trained here
    assert variant_of({"model.use_spp": True, "model.use_hr": True}) == "self"  # a plan saved before named variants


def test_the_table_labels_an_extra_variant_and_says_what_it_changes():
    stat = {"mean": 0.7, "std": 0.01, "n": 2}
    rows = [
        {"variant": "baseline", "label": "baseline", "params": VARIANTS["baseline"], "test": stat, "pc": stat},
        {
            "variant": "self-default",
            "label": "self-default",
            "test": stat,
            "pc": stat,
            "params": {**VARIANTS["self"], "model.spp_alpha": "softmax", "model.spp_lambda": 0.2},
            "diff": {"mean": 0.001, "low": -0.01, "high": 0.012},
            "verdict": "within seed noise",
            "bootstrap": {"p_value": 0.5, "resamples": 1000, "method": "paired bootstrap"},
        },
    ]
    text = markdown({"objective": "official_macro_f1", "seeds": [42, 52], "test_examples": 10, "rows": rows})
    assert (
        "| self-default | 2 | 70.00 ± 1.00 |" in text and "+0.10 [-1.00, +1.20] | 0.500 | within seed noise |" in text
    )
    assert "self-default: SELF with model.spp_alpha=softmax, model.spp_lambda=0.2" in text
