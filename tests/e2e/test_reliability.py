"""Load and faults against the real server (minutes: marked slow, run in CI). Figures: `make reliability`."""

import pytest

from benchmarks import reliability
from benchmarks.harness import WORKERS

pytestmark = pytest.mark.slow


def test_a_minute_at_64_connections_has_no_errors_and_no_memory_growth(bundle_dir):
    figures = reliability.load(bundle_dir, seconds=60, connections=64)
    print(f"\nload: {figures}")
    assert figures["requests"] > 1000
    assert figures["non_2xx"] == 0 and figures["socket_errors"] == 0
    assert figures["rss_growth"] <= 0.10


def test_a_killed_worker_is_replaced_quickly_and_costs_almost_no_requests(bundle_dir):
    figures = reliability.kill_a_worker(bundle_dir)
    print(f"\nworker SIGKILL: {figures}")
    assert figures["workers_after"] == WORKERS
    assert figures["failed_share"] <= 0.01
    assert figures["replaced_s"] <= 5


def test_sigterm_lets_requests_in_flight_finish_and_exits_0(bundle_dir):
    figures = reliability.sigterm_under_load(bundle_dir, graceful_timeout=10)
    print(f"\nSIGTERM: {figures}")
    assert figures["completed"] == figures["in_flight"]
    assert figures["exit_code"] == 0 and figures["stop_s"] <= 10
