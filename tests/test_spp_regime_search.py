"""A search over SPP's regime: per-regime λ ranges in the space (selfre.search.space) and the bundled
semeval-cpu-spp.yaml. Ray's OptunaSearch is used for real; no cluster is started."""

from __future__ import annotations

import optuna
import pytest

pytest.importorskip("ray.tune")

from ray.tune.search.optuna import OptunaSearch  # noqa: E402
from support import REPO  # noqa: E402

from selfre.config import RunConfig  # noqa: E402
from selfre.errors import ConfigError  # noqa: E402
from selfre.search.plan import build_plan  # noqa: E402
from selfre.search.space import DefineByRun, default_point, parse_space  # noqa: E402

CONFIG_DIR = REPO / "tune" / "configs"
FAINT, STRONG = (2.0, 50.0), (0.03, 1.0)
SPACE = {
    "model.weighting": {"choice": ["manual", "uncertainty"]},
    "model.spp_alpha": {"choice": ["softmax", "renormalize"]},
    "model.spp_lambda": [
        {"loguniform": list(FAINT), "when": {"model.weighting": "manual", "model.spp_alpha": "softmax"}},
        {"loguniform": list(STRONG), "when": {"model.weighting": "manual", "model.spp_alpha": "renormalize"}},
    ],
}


def _searcher(space=SPACE, base=None, points=None) -> OptunaSearch:
    base = base or RunConfig()
    return OptunaSearch(
        space=DefineByRun(parse_space(space, base), base),
        metric="m",
        mode="max",
        sampler=optuna.samplers.RandomSampler(seed=0),
        points_to_evaluate=points,
    )


def test_each_regime_draws_lambda_from_its_own_range_under_the_config_key():
    searcher = _searcher()
    seen = set()
    for i in range(40):
        params = searcher.suggest(f"t{i}")
        assert not any("@" in k for k in params), params  # trials, MLflow and summaries see config keys only
        if params["model.weighting"] == "uncertainty":
            assert "model.spp_lambda" not in params
            continue
        low, high = FAINT if params["model.spp_alpha"] == "softmax" else STRONG
        assert low <= params["model.spp_lambda"] <= high, params
        seen.add(params["model.spp_alpha"])
        searcher.on_trial_complete(f"t{i}", {"m": 0.5})
    assert seen == {"softmax", "renormalize"}
    # Optuna models the two ranges as two dimensions, never one λ mixing two scales.
    names = {n for t in searcher._ot_study.trials for n in t.params}
    assert {"model.spp_lambda@1", "model.spp_lambda@2"} <= names and "model.spp_lambda" not in names


def test_the_first_configuration_takes_the_base_lambda_from_the_range_of_the_base_regime():
    base = RunConfig()
    base.model.spp_alpha, base.model.spp_lambda = "renormalize", 0.1
    params = parse_space(SPACE, base)
    point = default_point(params, base)
    assert point == {"model.weighting": "manual", "model.spp_alpha": "renormalize", "model.spp_lambda@2": 0.1}
    first = _searcher(base=base, points=[point]).suggest("t0")
    assert first == {"model.weighting": "manual", "model.spp_alpha": "renormalize", "model.spp_lambda": 0.1}


@pytest.mark.parametrize(
    "alternatives, fragment",
    [
        (
            [
                {"uniform": [0.1, 1.0], "when": {"model.spp_alpha": "softmax"}},
                {"uniform": [1.0, 9.0], "when": {"model.weighting": "manual"}},
            ],
            "exclude each other",
        ),
        ([{"uniform": [0.1, 1.0], "when": {"model.spp_alpha": "softmax"}}, {"uniform": [1.0, 9.0]}], "needs a `when`"),
        ([{"uniform": [0.1, 1.0], "when": {"model.spp_alpha": "softmax"}}], "at least two"),
        (
            [
                {"uniform": [0.1, 1.0], "when": {"model.spp_alpha": "softmax"}},
                {"uniform": [-1.0, 1.0], "when": {"model.spp_alpha": "renormalize"}},
            ],
            None,
        ),
    ],
)
def test_bad_alternatives_are_refused_naming_the_key(alternatives, fragment):
    space = {
        "model.weighting": {"choice": ["manual"]},
        "model.spp_alpha": {"choice": ["softmax", "renormalize"]},
        "model.spp_lambda": alternatives,
    }
    if fragment is None:  # a range that is fine as written but gives an invalid config: caught by the probe
        space["model.spp_lambda"][1] = {"loguniform": [0.0, 1.0], "when": {"model.spp_alpha": "renormalize"}}
        fragment = "bounds must be > 0"
    with pytest.raises(ConfigError, match=r"search\.space\.model\.spp_lambda.*" + fragment.replace("`", ".")):
        parse_space(space, RunConfig())


def test_bundled_spp_regime_search_is_the_question_as_asked(tmp_path):
    plan = build_plan(
        "semeval", CONFIG_DIR, user_config=str(CONFIG_DIR / "semeval-cpu-spp.yaml"), storage_root=str(tmp_path)
    )
    s, base = plan.search, plan.run_config()
    assert s.num_samples >= 8 and len(s.seeds) == 2 and s.scheduler == "asha"
    assert plan.objective == "official_macro_f1" and base.model.model_name_or_path == "minilm"
    assert base.data.max_train_examples >= 1000 and base.data.dataset == "semeval"
    keys = [p.key for p in plan.params()]
    for key in (
        "model.weighting",
        "model.spp_alpha",
        "model.spp_target",
        "model.spp_epsilon",
        "model.spp_layers",
        "model.spp_lambda",
        "train.epochs",
    ):
        assert key in keys, key
    # λ has one range per α regime, and the faint regime's range lies entirely above the strong one's.
    lams = [p for p in plan.params() if p.key == "model.spp_lambda"]
    by_alpha = {dict(p.when)["model.spp_alpha"][0]: p.values for p in lams}
    assert by_alpha["softmax"][0] > by_alpha["renormalize"][1]
    # ε only exists under the smooth target.
    (eps,) = [p for p in plan.params() if p.key == "model.spp_epsilon"]
    assert dict(eps.when) == {"model.spp_target": ("smooth",)}
