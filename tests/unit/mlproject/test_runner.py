import os
import shutil
import signal
import subprocess
import sys
import time

import pytest

from mlproject import runner
from tests.helpers import project_env

pytestmark = pytest.mark.slow  # each runner imports the libraries of every stage (about 10 s)


def probe(root, *args, stdin="", warm=None, **env):
    """`python -m mlproject.runner probe` in `root`, as a DVC stage runs it, with the runners of `warm`."""
    environment = project_env(PYTHONPATH="src", **{runner.DIRECTORY_VARIABLE: str(warm or root / "warm")}, **env)
    return subprocess.run(
        [sys.executable, "-m", "mlproject.runner", "probe", *args],
        cwd=root,
        env=environment,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
    )


def runner_of(result):
    return result.stdout.split("runner ")[1].split()[0]


def test_a_stage_runs_in_a_warm_child_as_python_would_run_it(probe_copy):
    first = probe(probe_copy, "a b", "--exit=3", stdin="one", PROBE_SAYS="hello")
    second = probe(probe_copy, "a b", "--exit=3", stdin="two", PROBE_SAYS="hello")
    # the first starts the runner and runs in its own process; the next is a child of the runner
    assert first.stdout.startswith(f"new {probe_copy} ['a b', '--exit=3'] hello\n")
    assert second.stdout.startswith(f"warm {probe_copy} ['a b', '--exit=3'] hello\n")
    assert "stdin one" in first.stdout and "stdin two" in second.stdout
    assert first.stderr == second.stderr == "to stderr\n"
    assert first.returncode == second.returncode == 3
    assert runner_of(second) in {lock.read_text().strip() for lock in (probe_copy / "warm").glob("*.lock")}


def test_each_stage_runs_the_code_of_its_own_folder(probe_copy, tmp_path):
    other = tmp_path / "queued-experiment"
    shutil.copytree(probe_copy / "src", other / "src")
    (other / "src/mlproject/probe.py").write_text('print("the other copy\'s probe", __import__("os").getppid())\n')
    probe(probe_copy)  # the runner is up
    ours, theirs = probe(probe_copy, "--modules=1"), probe(other, warm=probe_copy / "warm")
    assert ours.stdout.startswith("warm") and theirs.stdout.startswith("the other copy's probe")
    assert runner_of(ours) == theirs.stdout.split()[-1]  # one runner, each folder's own code
    assert f"mlserve {probe_copy}/src/mlserve/manifest.py" in ours.stdout  # not the runner's first caller's
    (other / "src/mlproject/probe.py").write_text((probe_copy / "src/mlproject/probe.py").read_text())
    assert f"mlserve {other}/src/mlserve/manifest.py" in probe(other, "--modules=1", warm=probe_copy / "warm").stdout


def test_a_stage_with_worker_processes_ends_when_its_work_does(probe_copy):
    probe(probe_copy)
    started = time.monotonic()
    result = probe(probe_copy, "--joblib=1")
    assert result.returncode == 0 and "\n6\n" in result.stdout and result.stdout.startswith("warm")
    assert time.monotonic() - started < 30, "the stage waited for its joblib workers to time out"


def waiting_stage(probe_copy, ready):
    """A caller whose stage, in a child of the warm runner, has written its ID to `ready` and waits: both."""
    probe(probe_copy)
    environment = project_env(PYTHONPATH="src", **{runner.DIRECTORY_VARIABLE: str(probe_copy / "warm")})
    caller = subprocess.Popen(
        [sys.executable, "-m", "mlproject.runner", "probe", f"--ready={ready}"],
        cwd=probe_copy,
        env=environment,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    stage = wait_for_pid(ready)
    assert stage != caller.pid  # a child of the runner
    return caller, stage


def test_killing_the_caller_ends_its_stage(probe_copy, tmp_path):
    caller, stage = waiting_stage(probe_copy, tmp_path / "stage.pid")
    caller.kill()
    caller.wait(timeout=10)
    assert ended(stage), f"stage {stage} still runs after its caller was killed"


def test_a_signal_to_the_caller_reaches_the_stage(probe_copy, tmp_path):
    caller, stage = waiting_stage(probe_copy, tmp_path / "stage.pid")
    caller.send_signal(signal.SIGTERM)
    assert caller.wait(timeout=10) == 128 + signal.SIGTERM
    assert ended(stage)


def test_another_environment_gets_another_runner_but_dvcs_own_variables_do_not(probe_copy):
    probe(probe_copy)
    base = runner_of(probe(probe_copy))
    assert runner_of(probe(probe_copy, DVC_EXP_NAME="one")) == base
    # libraries read it when they are imported: another value, a runner of its own (other tests' libraries
    # may have set it in this process's environment already)
    threads = str(int(os.environ.get("OMP_NUM_THREADS", "1")) + 1)
    probe(probe_copy, OMP_NUM_THREADS=threads)
    other = probe(probe_copy, OMP_NUM_THREADS=threads)
    assert other.stdout.startswith("warm") and runner_of(other) != base


def test_warm_off_runs_each_stage_in_its_own_python_and_starts_no_runner(tmp_path):
    root = tmp_path / "project"
    shutil.copytree(runner.Path(runner.__file__).parent, root / "src" / "mlproject")
    (root / "src/mlproject/probe.py").write_text('import sys\nprint("sklearn" in sys.modules)\n')
    (root / "warm").mkdir(mode=0o700)
    result = probe(root, MLPROJECT_WARM="0")
    assert result.stdout == "False\n" and result.returncode == 0
    assert not list((root / "warm").iterdir())


def test_stop_ends_the_runners_and_the_next_stage_starts_one(probe_copy):
    probe(probe_copy)
    before = runner_of(probe(probe_copy))
    environment = project_env(**{runner.DIRECTORY_VARIABLE: str(probe_copy / "warm")})
    stopped = subprocess.run(
        [sys.executable, "-m", "mlproject.runner", "--stop"], env=environment, capture_output=True, text=True
    )
    assert stopped.stdout.startswith("stopped ") and ended(int(before))
    assert probe(probe_copy).stdout.startswith("new")  # no runner: this one runs itself and starts one


def wait_for_pid(path, timeout=60.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.exists() and path.read_text():
            return int(path.read_text())
        time.sleep(0.05)
    raise AssertionError(f"the stage never wrote {path}")


def ended(pid, timeout=10.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        time.sleep(0.05)
    return False


def test_a_bad_setting_is_said_in_one_line_and_the_stage_still_runs(tmp_path):
    root = tmp_path / "project"
    shutil.copytree(runner.Path(runner.__file__).parent, root / "src" / "mlproject")
    (root / "src/mlproject/probe.py").write_text('print("ran")\n')
    (root / "warm").mkdir(mode=0o700)
    result = probe(root, MLPROJECT_WARM_IDLE="soon")
    assert result.stdout == "ran\n" and result.returncode == 0
    assert result.stderr == (
        "probe: no warm runner (MLPROJECT_WARM_IDLE must be a number of seconds above 0, not 'soon');"
        " running in this process\n"
    )
    (root / "warm").chmod(0o755)  # others could reach the socket: no runner there
    result = probe(root)
    assert result.stdout == "ran\n" and "must be a folder (not a link) of this user alone (mode 700)" in result.stderr
    assert not list((root / "warm").iterdir())
