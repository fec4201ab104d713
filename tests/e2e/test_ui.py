"""`make ui` in a real browser: headless chromium (Debian's) on the MLflow UI of a reproduced project."""

from __future__ import annotations

import re
import sys

import pytest

from benchmarks.harness import free_port, running
from tests.helpers import chromium, project_env

pytestmark = pytest.mark.slow


def test_make_ui_opens_the_experiments_runs_table_with_params_and_metrics_as_columns(scratch, tmp_path):
    scratch.run("dvc", "exp", "run", "--name", "deeper-seed", "-S", f"seed={scratch.params().seed + 1}")
    port = free_port()
    command = [sys.executable, "scripts/ui.py", str(port)]  # what `make ui UI_PORT=<port>` runs
    env = project_env(PYTHONPATH="src")
    with running(command, f"http://127.0.0.1:{port}", "/", env, timeout=120, cwd=scratch.root) as ui:
        url = re.search(r"the runs of '[^']+': (\S+)", ui.log())[1]
        assert "/runs?workflowType=machine_learning" in url
        page = chromium(url, "--dump-dom").stdout
        chromium(url, f"--screenshot={tmp_path / 'runs.png'}")
    assert "<title>Runs - " in page  # the classic runs table, not the GenAI overview
    run_names = set(re.findall(r'href="#/experiments/\d+/runs/[0-9a-f]+"[^>]*>(?:<[^>]+>)*([\w-]+)<', page))
    assert {"main", "deeper-seed"} <= run_names, run_names
    comparison = scratch.params().comparison_metric
    for column in (f"cv.{comparison}.mean", "seed"):  # a metric and a parameter, shown without a click
        assert f'data-testid="sort-header-{column}"' in page, column
    assert (tmp_path / "runs.png").read_bytes().startswith(b"\x89PNG")
