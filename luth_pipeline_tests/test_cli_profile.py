"""Every `luth` command runs with the profile it is given (`--profile`), loaded once at its start,
whatever $LUTH_PROFILE says."""

from __future__ import annotations

import pytest

from luth_pipeline import cli


@pytest.fixture
def empty_instance(tmp_path, monkeypatch):
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "dagster_home"))
    (tmp_path / "dagster_home").mkdir()
    monkeypatch.setenv("LUTH_PROFILE", "local")


def test_status_lists_the_partitions_of_the_profile_it_is_given(empty_instance, capsys):
    assert cli.main(["status", "--select", "luth_sft_packed"]) == 0
    local = capsys.readouterr().out
    assert cli.main(["status", "--profile", "gpu", "--select", "luth_sft_packed"]) == 0
    gpu = capsys.readouterr().out
    assert "tiny" in local and "qwen3-0.6b" not in local
    assert "qwen3-0.6b" in gpu and "lfm2-350m" in gpu and "tiny" not in gpu


def test_lineage_reads_the_data_root_of_the_profile_it_is_given(tmp_path, capsys):
    profile = tmp_path / "elsewhere.yaml"
    profile.write_text(f"extends: local\ndata_root: {tmp_path / 'nowhere'}\n")
    assert cli.main(["lineage", "french/smoltalk2/1", "--asset", "french_samples", "--profile", str(profile)]) == 2
    assert f"no tables under {tmp_path / 'nowhere' / 'french_samples'}" in capsys.readouterr().err
