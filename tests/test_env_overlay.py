"""overlay_environ: set, keep the user's own values when asked, drop, and restore exactly."""

import os

from selfre.env_overlay import overlay_environ


def test_overlay_sets_keeps_drops_and_restores(monkeypatch):
    monkeypatch.setenv("SELFRE_T_USER", "mine")
    monkeypatch.setenv("SELFRE_T_GONE", "x")
    monkeypatch.delenv("SELFRE_T_NEW", raising=False)
    with overlay_environ({"SELFRE_T_USER": "ours", "SELFRE_T_NEW": "1"}, keep_existing=True, drop=["SELFRE_T_GONE"]):
        assert (os.environ["SELFRE_T_USER"], os.environ["SELFRE_T_NEW"]) == ("mine", "1")
        assert "SELFRE_T_GONE" not in os.environ
    with overlay_environ({"SELFRE_T_USER": "ours"}):
        assert os.environ["SELFRE_T_USER"] == "ours"
    assert (os.environ["SELFRE_T_USER"], os.environ["SELFRE_T_GONE"]) == ("mine", "x")
    assert "SELFRE_T_NEW" not in os.environ
