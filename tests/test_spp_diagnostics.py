"""What SPP does to the model, measured while training (selfre.train.spp_diagnostics) and logged to MLflow:
the gradient share per epoch, the entity-position mass of the attention SPP reads before vs after training.
Real training on the demo corpus with the tiny encoder; MLflow on SQLite."""

from __future__ import annotations

import json
import statistics

import pytest
import torch
from mlflow.tracking import MlflowClient

from selfre.config import DataConfig, ModelConfig, RunConfig, TrainConfig
from selfre.data.demo import generate_demo
from selfre.model.weighting import ManualWeighting, UncertaintyWeighting
from selfre.train import spp_diagnostics
from selfre.train.loop import train
from selfre.train.results import TrainHooks

pytestmark = pytest.mark.slow

STRONG = {"spp_alpha": "renormalize", "spp_target": "smooth", "spp_lambda": 5.0}
DEFAULT = {"spp_alpha": "softmax", "spp_target": "softmax", "spp_lambda": 5.0}


@pytest.fixture(scope="module")
def demo_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("demo")
    generate_demo(out, seed=13, n_train=96, n_dev=40, n_test=32)
    return out


def _cfg(out_dir, data_dir, epochs=3, **model) -> RunConfig:
    return RunConfig(
        data=DataConfig(dataset="demo", data_dir=str(data_dir), max_seq_length=64),
        model=ModelConfig(model_name_or_path="tiny", **model),
        train=TrainConfig(epochs=epochs, batch_size=16, learning_rate=5e-4, progress=False, num_threads=1),
        out_dir=str(out_dir),
    )


@pytest.fixture(scope="module")
def runs(demo_dir, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("runs")
    return {
        name: train(_cfg(tmp / name, demo_dir, **model))
        for name, model in (("strong", STRONG), ("default", DEFAULT), ("baseline", {"use_spp": False, "use_hr": False}))
    }


def _mass(result, stage, key="alpha_prime_mass"):
    return statistics.fmean(result.spp_attention[stage][key])


def test_gradient_share_is_measured_every_epoch_and_tells_the_regimes_apart(runs):
    for name in ("strong", "default"):
        history = runs[name].history
        assert len(history) == 3
        for h in history:
            d = h.diagnostics
            # manual weighting: SPP's term is λ·L_spp, the relation loss's 1·L_re
            assert d["spp_grad_ratio"] == pytest.approx(5.0 * d["spp_grad_ratio_raw"], rel=1e-9)
            assert h.summary()["spp_grad_ratio"] == d["spp_grad_ratio"]  # what the hooks (MLflow, Ray) receive
    strong = statistics.fmean(h.diagnostics["spp_grad_ratio_raw"] for h in runs["strong"].history)
    default = statistics.fmean(h.diagnostics["spp_grad_ratio_raw"] for h in runs["default"].history)
    assert strong > 100 * default > 0  # softmax α and target: a gradient orders of magnitude fainter
    assert all(h.diagnostics == {} for h in runs["baseline"].history)


def test_entity_mass_before_and_after_training(runs):
    strong, default = runs["strong"], runs["default"]
    for r in (strong, default):
        assert set(r.spp_attention) == {"before", "after"}
        for stage in ("before", "after"):
            a = r.spp_attention[stage]
            assert len(a["alpha_prime_mass"]) == len(a["alpha_mass"]) == len(a["uniform_mass"]) == 32
            assert all(0 < m < 1 for m in a["alpha_prime_mass"] + a["uniform_mass"])
            ex = a["example"]
            assert len(ex["alpha_prime"]) == len(ex["iel"]) == len(ex["tokens"]) and sum(
                ex["alpha_prime"]
            ) == pytest.approx(1, abs=1e-5)
        assert r.spp_attention["before"]["uniform_mass"] == r.spp_attention["after"]["uniform_mass"]  # same probe set
    # renormalize: α is α' itself; both runs start from the same encoder, so the same "before"
    assert strong.spp_attention["before"]["alpha_mass"] == pytest.approx(
        strong.spp_attention["before"]["alpha_prime_mass"]
    )
    assert _mass(strong, "before") == pytest.approx(_mass(default, "before"), abs=1e-6)
    # The strong regime pulls attention onto the entities; the default regime, at the same λ, barely moves it.
    gain_strong = _mass(strong, "after") - _mass(strong, "before")
    gain_default = _mass(default, "after") - _mass(default, "before")
    assert gain_strong > 0.01 and abs(gain_default) < gain_strong / 5
    assert runs["baseline"].spp_attention is None


def test_diagnostics_do_not_change_training(demo_dir, tmp_path, runs, monkeypatch):
    """Same seed, diagnostics switched off: the same losses, dev scores and test figures to the last digit."""
    monkeypatch.setattr(spp_diagnostics, "gradient_share", lambda *a, **k: {})
    monkeypatch.setattr(spp_diagnostics, "entity_mass", lambda *a, **k: {})
    quiet = train(_cfg(tmp_path / "quiet", demo_dir, **STRONG))
    loud = runs["strong"]
    assert [(h.train_loss, h.loss_re, h.loss_spp, h.score) for h in quiet.history] == [
        (h.train_loss, h.loss_re, h.loss_spp, h.score) for h in loud.history
    ]
    assert quiet.test["f1"] == loud.test["f1"]


class _StopAfterFirstEpoch(TrainHooks):
    def on_epoch_end(self, result, checkpoint_dir):
        raise KeyboardInterrupt


def test_a_resumed_run_keeps_its_before_measurement(demo_dir, tmp_path, runs):
    cfg = _cfg(tmp_path / "r", demo_dir, **STRONG)
    with pytest.raises(KeyboardInterrupt):
        train(cfg, hooks=_StopAfterFirstEpoch())
    resumed = train(cfg, resume_from=tmp_path / "r" / "last")
    assert resumed.spp_attention["before"] == runs["strong"].spp_attention["before"]
    assert (
        json.loads((tmp_path / "r" / "metrics.json").read_text())["spp_attention"]["after"]
        == resumed.spp_attention["after"]
    )


def test_term_weights_are_the_factors_the_loss_applies():
    for weighting in (ManualWeighting(0.3), UncertaintyWeighting()):
        with torch.no_grad():
            for p in weighting.parameters():
                p.fill_(0.7)
        l_re, l_spp = torch.tensor(2.0, requires_grad=True), torch.tensor(0.5, requires_grad=True)
        weighting(l_re, l_spp).backward()
        assert weighting.term_weights() == pytest.approx((float(l_re.grad), float(l_spp.grad)))


def test_the_trial_run_logs_the_diagnostics_and_the_plot(tmp_path, runs):
    from selfre.tracking import child, parent
    from selfre.tracking.preflight import artifacts_beside

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    parent_id = parent.start_search(uri, "selfre-diag", "diag", "demo", {}, artifact_location=artifacts_beside(uri))
    result = runs["strong"]
    cfg = _cfg(tmp_path / "unused", tmp_path, **STRONG)
    trial = child.TrialRun(uri, parent_id, "c001", 42, cfg)
    for epoch in result.history:
        trial.on_epoch_end(epoch)
    trial.on_train_end(result)
    client = MlflowClient(uri)
    run = client.get_run(trial.run_id)
    assert len(client.get_metric_history(trial.run_id, "spp_grad_ratio")) == 3
    assert len(client.get_metric_history(trial.run_id, "sigma_spp")) == 0  # manual weighting has no σ's
    m = run.data.metrics
    assert m["spp_entity_mass_before"] == pytest.approx(_mass(result, "before"))
    assert m["spp_entity_mass_after"] == pytest.approx(_mass(result, "after"))
    assert m["spp_entity_uniform_share"] == pytest.approx(
        statistics.fmean(result.spp_attention["before"]["uniform_mass"])
    )
    artifacts = {a.path for folder in ("plots", "tables") for a in client.list_artifacts(trial.run_id, folder)}
    assert {"plots/spp_attention.png", "tables/spp_attention.json"} <= artifacts
