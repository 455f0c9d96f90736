"""The offline demo, in its quick mode (the full one is timed by hand: see the README)."""

import json
import subprocess
import sys

import pytest

from mask2face.images import read_image


@pytest.mark.slow
def test_demo_quick_runs_offline_and_says_where_results_are(tmp_path):
    result = subprocess.run([sys.executable, "-m", "mask2face.demo", "--quick", "--output",
                             str(tmp_path / "demo")], capture_output=True, text=True,
                            cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "not what a model trained on CelebA" in result.stdout
    summary = json.loads(result.stdout.strip().splitlines()[-1])
    before_after = read_image(summary["before_after"])
    before = read_image(tmp_path / "demo" / "before.jpg")
    assert before_after.shape[1] == 2 * before.shape[1]
    assert (tmp_path / "demo" / "report" / "metrics.json").exists()
    assert summary["pairs"]["train"] > 0 and summary["pairs"]["test"] > 0
    shipped = read_image(summary["before_after_shipped"])  # the bundled LFW model beside it
    assert shipped.shape[1] == 3 * before.shape[1]
    assert (shipped[:, 2 * before.shape[1]:] != before).any()
