import base64

import pytest

from mlproject import compute
from scripts.team import dask_tls_pair


def test_a_worker_whose_libraries_differ_from_the_lock_is_named():
    locked = {"scikit-learn": "1.9.0", "numpy": "2.3.0"}
    assert compute.version_mismatch(locked, {"w1": dict(locked), "w2": dict(locked)}) is None
    said = compute.version_mismatch(locked, {"w1": dict(locked), "w2": {**locked, "scikit-learn": "1.8.0"}})
    assert said == "Dask worker w2 has scikit-learn 1.8.0, requirements.txt locks 1.9.0"
    missing = compute.version_mismatch(locked, {"w1": {"numpy": "2.3.0", "scikit-learn": None}})
    assert missing == "Dask worker w1 lacks scikit-learn, requirements.txt locks 1.9.0"


@pytest.mark.parametrize("raw", ["0", "two", "-1"])
def test_a_bad_worker_count_is_named(raw, monkeypatch):
    monkeypatch.setenv(compute.WORKERS_VARIABLE, raw)
    with pytest.raises(compute.ComputeError, match=f"{compute.WORKERS_VARIABLE}='{raw}'"):
        compute.local_workers()


def test_a_tls_scheduler_lets_in_a_client_with_its_key_and_refuses_another(monkeypatch):
    from distributed import LocalCluster
    from distributed.security import Security

    pair = dask_tls_pair()
    key, certificate = (base64.b64decode(pair[name]).decode() for name in ("DASK_TLS_KEY", "DASK_TLS_CERT"))
    roles = {f"tls_{role}_{part}": pem for role in ("scheduler", "worker", "client")
             for part, pem in (("key", key), ("cert", certificate))}  # fmt: skip
    security = Security(require_encryption=True, tls_ca_file=certificate, **roles)
    with LocalCluster(
        n_workers=1, processes=False, protocol="tls", security=security, dashboard_address=None
    ) as cluster:
        monkeypatch.setenv(compute.SCHEDULER_VARIABLE, cluster.scheduler_address)
        for name, value in pair.items():
            monkeypatch.setenv(name, value)
        assert compute.run_all(pow, [(2, 3), (3, 2)]) == [8, 9]
        for name, value in dask_tls_pair().items():  # another stack's key
            monkeypatch.setenv(name, value)
        with pytest.raises(compute.ComputeError, match="refused the connection"):
            compute.run_all(pow, [(2, 3)])
        monkeypatch.delenv("DASK_TLS_KEY")
        with pytest.raises(compute.ComputeError, match="DASK_TLS_KEY is not set"):
            compute.run_all(pow, [(2, 3)])


def test_the_project_stays_sent_by_value_until_the_outermost_use_ends():
    import cloudpickle

    with compute.project_by_value():
        with compute.project_by_value():
            pass
        assert "mlproject" in cloudpickle.list_registry_pickle_by_value()
    assert "mlproject" not in cloudpickle.list_registry_pickle_by_value()


def test_a_real_worker_with_another_library_version_is_refused_before_any_work(tmp_path, monkeypatch):
    """A worker process whose environment puts threadpoolctl 3.0.0 first on its path: the check asks the
    worker itself (importlib.metadata, as pip does), so the refusal names the worker, the library and both
    versions, and no task runs there."""
    from distributed import LocalCluster

    site = tmp_path / "other-site"
    distribution = site / "threadpoolctl-3.0.0.dist-info"
    distribution.mkdir(parents=True)
    (distribution / "METADATA").write_text("Metadata-Version: 2.1\nName: threadpoolctl\nVersion: 3.0.0\n")
    (tmp_path / "other_site.py").write_text(f"import sys\nsys.path.insert(0, {str(site)!r})\n")
    ran = tmp_path / "ran"
    with LocalCluster(
        n_workers=1, threads_per_worker=1, processes=True, dashboard_address=None,
        preload=[str(tmp_path / "other_site.py")],
    ) as cluster:  # fmt: skip
        monkeypatch.setenv(compute.SCHEDULER_VARIABLE, cluster.scheduler_address)
        with pytest.raises(compute.ComputeError) as refused:
            compute.run_all(ran.mkdir, [()])
    assert f"has threadpoolctl 3.0.0, requirements.txt locks {compute.locked_versions()['threadpoolctl']}" in str(
        refused.value
    )
    assert str(refused.value).startswith("Dask worker tcp://127.0.0.1:") and "\n" not in str(refused.value)
    assert not ran.exists()
