"""selfre.stage_timer, the seam benchmarks/profile_search.py reads: nothing on the production path when off; one
event per call, tagged with the trial, when on."""

from __future__ import annotations

import json

from selfre import stage_timer


def _double(x):
    return 2 * x


def test_off_it_returns_the_function_itself_and_records_nothing(monkeypatch, tmp_path):
    monkeypatch.setattr(stage_timer, "OUT", None)
    assert stage_timer.timed("x:double")(_double) is _double
    with stage_timer.timing("x:block"):
        pass
    assert list(tmp_path.iterdir()) == []


def test_on_each_call_and_block_is_one_event_with_its_trial(monkeypatch, tmp_path):
    out = tmp_path / "events.jsonl"
    monkeypatch.setattr(stage_timer, "OUT", str(out))
    monkeypatch.setattr(stage_timer, "_tag", None)

    @stage_timer.timed("x:run")
    def run(config, plan):
        with stage_timer.timing("x:block"):
            return config["seed"]

    assert run({"config_id": "c001", "seed": 42}, None) == 42 and run.__name__ == "run"
    events = [json.loads(line) for line in out.read_text().splitlines()]
    assert [e["name"] for e in events] == ["x:block", "x:run"]
    assert all(e["tag"] == "c001-seed42" and e["t0"] <= e["t1"] and e["cpu"] >= 0 for e in events)
