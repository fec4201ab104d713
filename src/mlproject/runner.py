"""Run a stage in a child of a warm process, one that has already imported the libraries the stages use.

Every DVC stage is a new Python process, and importing scikit-learn, skops, pandas and MLflow costs it
seconds, more than most stages' own work. `python -m mlproject.runner <stage>` hands the stage to a
background process (the warm runner) that imported them once: it forks a child, and the child runs
`mlproject.<stage>` as `python -m` would, with this process's working directory, environment, module
path, arguments and standard streams (passed over a Unix socket), so it runs the code of the folder
DVC runs it in, a queued experiment's copy included. This process waits for the child and exits with its
status; a signal it gets is passed on to the child, and if it is killed the runner kills the child.

The runner imports no project code of its own: it imports the project's modules once to load their
libraries, then forgets them. One runner serves one Python, one set of installed packages and one
environment (DVC's own variables aside): a change to any of them starts another. It exits after
MLPROJECT_WARM_IDLE seconds without work (default 1200). MLPROJECT_WARM=0 runs every stage in its own
process, as plain `python -m mlproject.<stage>` does.
"""

from __future__ import annotations

import ast
import atexit
import contextlib
import fcntl
import hashlib
import importlib
import io
import json
import math
import os
import runpy
import selectors
import signal
import socket
import stat
import struct
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import TextIO

PACKAGE = "mlproject"
SWITCH_VARIABLE = "MLPROJECT_WARM"
IDLE_VARIABLE = "MLPROJECT_WARM_IDLE"
DIRECTORY_VARIABLE = "MLPROJECT_WARM_DIR"
DEFAULT_IDLE_SECONDS = 1200.0
START_TIMEOUT_SECONDS = 60.0
# Variables that differ between runs of one pipeline without changing what a library reads at import.
VOLATILE_VARIABLES = ("PWD", "OLDPWD", "SHLVL", "_")
# Left for the stage to import: onnxruntime opens its telemetry's SQLite store when it is imported, and an
# SQLite connection must not cross a fork (each stage opens its own, as a new Python would).
NOT_PRELOADED = ("onnxruntime",)
FORWARDED_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


def runner_key(environ: dict[str, str]) -> str:
    """What a warm process's imports depend on: the Python, the installed packages, this file, the environment."""
    site = sorted(p for p in sys.path if "site-packages" in p and os.path.isdir(p))
    parts = {
        "python": [sys.executable, sys.version],
        "packages": [[p, os.stat(p).st_mtime_ns] for p in site],
        "runner": hashlib.sha256(Path(__file__).read_bytes()).hexdigest(),
        "environment": sorted(
            (k, v) for k, v in environ.items() if not k.startswith("DVC_") and k not in VOLATILE_VARIABLES
        ),
    }
    return hashlib.sha256(json.dumps(parts).encode()).hexdigest()[:20]


def runner_directory(environ: dict[str, str]) -> Path:
    """A folder only this user can enter (the socket there runs code as them)."""
    default = Path(tempfile.gettempdir()) / f"mlproject-warm-{os.getuid()}"
    folder = Path(environ.get(DIRECTORY_VARIABLE) or default).absolute()  # the runner works from /
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    status = folder.lstat()  # a symbolic link could be pointed elsewhere after this check
    if not stat.S_ISDIR(status.st_mode) or status.st_uid != os.getuid() or status.st_mode & 0o077:
        raise PermissionError(f"{folder} must be a folder (not a link) of this user alone (mode 700)")
    return folder


def same_user(connection: socket.socket) -> bool:
    """Whether the process at the other end of a Unix socket runs as this user."""
    _, uid, _ = struct.unpack("3i", connection.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i")))
    return uid == os.getuid()


# ---------------------------------------------------------------- the client: what a DVC stage runs


def run_stage(stage: str, args: list[str]) -> int:
    module = f"{PACKAGE}.{stage}"
    if os.environ.get(SWITCH_VARIABLE, "1") != "0":
        try:
            connection = connect(dict(os.environ))
        except (OSError, ValueError) as error:
            print(f"{stage}: no warm runner ({error}); running in this process", file=sys.stderr)
        else:
            if connection is not None:
                with connection:
                    try:
                        return run_in_child(connection, module, args)
                    except HandshakeError as error:
                        print(
                            f"{stage}: the warm runner did not take the stage ({error}); running in this process",
                            file=sys.stderr,
                        )
    sys.argv = [module, *args]
    runpy.run_module(module, run_name="__main__", alter_sys=True)
    return 0


class HandshakeError(OSError):
    """The runner did not start the stage (it was stopping, say): the stage has not run."""


def connect(environ: dict[str, str]) -> socket.socket | None:
    """A connection to this environment's warm runner; None when there was none (one is started for next time).

    A runner that is starting is waited for: it holds its lock file from its start.
    """
    idle_seconds(environ)  # a bad value is said here, where the stage can say it
    folder = runner_directory(environ)
    key = runner_key(environ)
    address = folder / f"{key}.sock"
    with contextlib.suppress(FileNotFoundError, ConnectionRefusedError):
        return open_socket(address)
    with (folder / f"{key}.lock").open("a") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            pass  # a runner holds it: it is starting, or stopping
        else:
            start_runner(folder, key, lock.fileno())  # it inherits the lock: no second runner can start
            return None
    deadline = time.monotonic() + START_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        with contextlib.suppress(FileNotFoundError, ConnectionRefusedError):
            return open_socket(address)
        if not locked(folder / f"{key}.lock"):
            raise OSError(f"the warm runner ended while it started; its log is {folder / key}.log")
        time.sleep(0.05)
    raise TimeoutError(f"the warm runner did not start within {START_TIMEOUT_SECONDS:.0f} s")


def idle_seconds(environ: dict[str, str]) -> float:
    value = environ.get(IDLE_VARIABLE, str(DEFAULT_IDLE_SECONDS))
    try:
        seconds = float(value)
    except ValueError:
        seconds = math.nan
    if not math.isfinite(seconds) or seconds <= 0:
        raise ValueError(f"{IDLE_VARIABLE} must be a number of seconds above 0, not {value!r}")
    return seconds


def locked(path: Path) -> bool:
    with path.open("a") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        fcntl.flock(lock, fcntl.LOCK_UN)
        return False


def open_socket(address: Path) -> socket.socket:
    connection = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        connection.connect(str(address))
        if not same_user(connection):
            raise PermissionError(f"{address} is served by another user")
    except OSError:
        connection.close()
        raise
    return connection


def start_runner(folder: Path, key: str, lock: int) -> None:
    """Start a runner in its own session, detached from this stage (it outlives it), holding the lock."""
    log = (folder / f"{key}.log").open("ab")
    with log:
        subprocess.Popen(  # noqa: S603 - this Python, this module
            [sys.executable, "-m", f"{PACKAGE}.runner", "--serve", str(folder), key, package_folder(), str(lock)],
            pass_fds=[lock],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=log,
            cwd="/",
            env={**os.environ, "PYTHONPATH": str(Path(package_folder()).parent)},
            start_new_session=True,
            close_fds=True,
        )


def package_folder() -> str:
    return str(Path(__file__).resolve().parent)


def run_in_child(connection: socket.socket, module: str, args: list[str]) -> int:
    request: dict[str, object] = {
        "module": module,
        "argv": [module, *args],
        "cwd": os.getcwd(),
        "environ": dict(os.environ),
        "path": [os.path.abspath(p) if p else os.getcwd() for p in sys.path],
    }
    child = 0
    pending: list[int] = []  # a signal that comes before the child's ID is passed on once it is known

    def pass_on(signum: int, _frame: object) -> None:
        if not child:
            pending.append(signum)
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(child, signum)

    ignored = [signum for signum in FORWARDED_SIGNALS if signal.getsignal(signum) == signal.SIG_IGN]
    request["ignored"] = [int(signum) for signum in ignored]  # nohup's SIGHUP, say: ignored by the stage too
    for signum in FORWARDED_SIGNALS:
        if signum not in ignored:
            signal.signal(signum, pass_on)
    for stream in (sys.stdout, sys.stderr):
        stream.flush()
    try:
        socket.send_fds(connection, [json.dumps(request).encode() + b"\n"], [0, 1, 2])
        replies = connection.makefile("r")
        child = int(replies.readline() or 0)
    except (OSError, ValueError) as error:
        raise HandshakeError(str(error) or type(error).__name__) from error
    if not child:
        raise HandshakeError("it closed the connection")
    for waiting in pending:
        pass_on(waiting, None)
    status = replies.readline()
    if not status:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(child, signal.SIGKILL)
        print(f"{module}: the warm runner stopped before the stage ended", file=sys.stderr)
        return 1
    return int(status)


# ---------------------------------------------------------------- the runner: forks one child per stage


def serve(folder: Path, key: str, package: Path, lock_fd: int) -> None:
    lock = os.fdopen(lock_fd, "a")  # locked by the client that started this runner, until this process ends
    lock.truncate(0)
    lock.write(f"{os.getpid()}\n")
    lock.flush()
    address = folder / f"{key}.sock"
    preload(package)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))  # from now on, leave through `finally`: no socket left
    address.unlink(missing_ok=True)
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(str(address))
    listener.listen(16)
    idle = idle_seconds(dict(os.environ))
    try:
        loop(listener, [lock], idle)
    finally:
        address.unlink(missing_ok=True)
        listener.close()


def preload(package: Path) -> None:
    """Import every project module, and every library they import (in functions too), then forget the project."""
    names = sorted(p.stem for p in package.glob("*.py") if p.stem not in ("__init__", "runner", "__main__"))
    libraries: set[str] = set()
    blocked = [name for name in NOT_PRELOADED if name not in sys.modules]
    for name in blocked:
        sys.modules[name] = None  # type: ignore[assignment]  # importing it raises ImportError
    for name in names:
        with contextlib.suppress(Exception, SystemExit):  # a module that fails here fails in its stage too
            importlib.import_module(f"{PACKAGE}.{name}")
        libraries |= imported_libraries(package / f"{name}.py")
    for library in sorted(libraries):
        with contextlib.suppress(Exception):
            importlib.import_module(library)
    for name in blocked:
        del sys.modules[name]
    forget_project(package.parent)


def imported_libraries(path: Path) -> set[str]:
    """The libraries a module imports, in its functions too (the project's own aside)."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    source = path.parent.parent
    ours = {
        name
        for name in names
        if (source / name.split(".")[0]).exists() or (source / f"{name.split('.')[0]}.py").exists()
    }
    return {name for name in names - ours if name.split(".")[0] not in NOT_PRELOADED}


def forget_project(source: Path) -> None:
    """Drop every module imported from the project's source folder (mlproject, mlserve, ...): each stage
    imports its own folder's."""
    root = f"{source}{os.sep}"
    for name, module in list(sys.modules.items()):
        places = [getattr(module, "__file__", None) or "", *(getattr(module, "__path__", None) or [])]
        if any(str(place).startswith(root) for place in places):
            del sys.modules[name]


def loop(listener: socket.socket, own_files: list, idle: float) -> None:
    selector = selectors.DefaultSelector()
    selector.register(listener, selectors.EVENT_READ)
    children: dict[int, socket.socket] = {}
    last_work = time.monotonic()
    while children or time.monotonic() - last_work < idle:
        for selected, _ in selector.select(timeout=0.1):
            if selected.fileobj is listener:
                try:
                    connection, _ = listener.accept()
                except OSError:
                    continue
                child = start_child(connection, [listener, *own_files, *children.values()])
                if child > 0:
                    children[child] = connection
                    selector.register(connection, selectors.EVENT_READ, child)
                else:
                    connection.close()
            else:  # the client hung up (it was killed): its stage goes with it
                selector.unregister(selected.fileobj)
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(selected.data, signal.SIGKILL)
        for child, code in reaped():
            if child not in children:  # its client hung up before it had the child's ID
                continue
            connection = children.pop(child)
            with contextlib.suppress(KeyError):
                selector.unregister(connection)
            with contextlib.suppress(OSError):
                connection.sendall(f"{code}\n".encode())
            connection.close()
            last_work = time.monotonic()


def reaped() -> list[tuple[int, int]]:
    """The children that ended, each with the exit status a shell would give it (128 + a killing signal)."""
    ended: list[tuple[int, int]] = []
    while True:
        try:
            child, status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return ended
        if child == 0:
            return ended
        code = os.waitstatus_to_exitcode(status)
        ended.append((child, 128 - code if code < 0 else code))


def start_child(connection: socket.socket, runner_files: list) -> int:
    """Fork the child that runs the stage the client asks for: its process ID, or 0 when there is none.

    A client that does not send its request within seconds, or hangs up before it has the child's ID, gets
    no stage: the runner serves every other client meanwhile and after.
    """
    fds: list[int] = []
    try:
        connection.settimeout(5)
        if not same_user(connection):
            return 0
        message, fds, _, _ = socket.recv_fds(connection, 1 << 16, 3)
        while not message.endswith(b"\n") and (more := connection.recv(1 << 16)):
            message += more
        request = json.loads(message)
    except (OSError, ValueError):
        request = None
    if request is None or len(fds) != 3:
        for fd in fds:
            os.close(fd)
        return 0
    # no signal handler of the runner's may run in the child before it sets its own
    signal.pthread_sigmask(signal.SIG_BLOCK, FORWARDED_SIGNALS)
    child = os.fork()
    if child == 0:
        code = 1
        try:
            for runner_file in [*runner_files, connection]:
                runner_file.close()
            code = run_child(request, fds)
        finally:
            os._exit(code)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, FORWARDED_SIGNALS)
    with contextlib.suppress(OSError):
        os.setpgid(child, child)  # as the child does: a signal sent at once reaches it either way
    for fd in fds:
        os.close(fd)
    try:
        connection.sendall(f"{child}\n".encode())
    except OSError:  # the client is gone: so is its stage
        with contextlib.suppress(ProcessLookupError):
            os.killpg(child, signal.SIGKILL)
        return -child  # reaped with the others, reported to no one
    return child


def run_child(request: dict, fds: list[int]) -> int:
    """In the forked child: become the stage's process, as `python -m` would have made it, and run it."""
    code = 1
    try:
        os.setpgid(0, 0)
        for signum in FORWARDED_SIGNALS:
            signal.signal(signum, signal.SIG_IGN if signum in request.get("ignored", []) else signal.SIG_DFL)
        if signal.SIGINT not in request.get("ignored", []):
            signal.signal(signal.SIGINT, signal.default_int_handler)
        signal.pthread_sigmask(signal.SIG_UNBLOCK, FORWARDED_SIGNALS)
        for target, fd in enumerate(fds):
            os.dup2(fd, target)
            os.close(fd)
        os.chdir(request["cwd"])
        os.environ.clear()
        os.environ.update(request["environ"])
        sys.path[:] = request["path"]
        streams = [standard_stream(fd, stream) for fd, stream in enumerate((sys.stdin, sys.stdout, sys.stderr))]
        sys.stdin, sys.stdout, sys.stderr = streams
        for name, made in zip(("__stdin__", "__stdout__", "__stderr__"), streams, strict=True):
            setattr(sys, name, made)  # what a library's handler made at import writes to
        sys.argv = request["argv"]
        runpy.run_module(request["module"], run_name="__main__", alter_sys=True)
        code = 0
    except SystemExit as stop:
        code = exit_code(stop.code)
    except KeyboardInterrupt:
        code = 128 + signal.SIGINT
    except BaseException:  # noqa: BLE001 - as Python itself would: the traceback, then status 1
        import traceback

        traceback.print_exc()
    with contextlib.suppress(BaseException):
        threading._shutdown()  # type: ignore[attr-defined]  # as at a normal exit: joblib's workers are told to stop
    with contextlib.suppress(BaseException):
        atexit._run_exitfuncs()  # MLflow ends its runs there, as it would at a normal exit
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(BaseException):
            stream.flush()
    return code


def standard_stream(fd: int, previous: TextIO) -> io.TextIOWrapper:
    """A standard stream built as CPython builds it on POSIX: buffered, "\n" newlines, stderr line-buffered."""
    unbuffered = bool(os.environ.get("PYTHONUNBUFFERED"))
    raw = io.FileIO(fd, "r" if fd == 0 else "w", closefd=False)
    buffered: io.BufferedReader | io.BufferedWriter | io.FileIO
    buffered = io.BufferedReader(raw) if fd == 0 else raw if unbuffered else io.BufferedWriter(raw)
    return io.TextIOWrapper(
        buffered,
        encoding=previous.encoding,
        errors=previous.errors,
        newline="\n",
        line_buffering=not unbuffered and fd != 0 and (fd == 2 or os.isatty(fd)),
        write_through=unbuffered,
    )


def exit_code(code: object) -> int:
    if code is None:
        return 0
    if isinstance(code, int):
        return code & 0xFF
    print(code, file=sys.stderr)
    return 1


def stop_runners(folder: Path) -> list[int]:
    """Stop every warm runner of a folder (a stage one of them runs is ended too); their process IDs."""
    stopped = []
    for lock in sorted(folder.glob("*.lock")):
        if locked(lock) and (pid := lock.read_text().strip()).isdigit():
            with contextlib.suppress(ProcessLookupError):
                os.kill(int(pid), signal.SIGTERM)
                stopped.append(int(pid))
    return stopped


def main() -> int:
    if sys.argv[1:2] == ["--serve"]:
        folder, key, package, lock = sys.argv[2:6]
        serve(Path(folder), key, Path(package), int(lock))
        return 0
    if sys.argv[1:2] == ["--stop"]:
        stopped = stop_runners(runner_directory(dict(os.environ)))
        print(f"stopped {len(stopped)} warm runner(s)")
        return 0
    if len(sys.argv) < 2 or sys.argv[1].startswith("-"):
        print("usage: python -m mlproject.runner <stage> [arguments] | --stop", file=sys.stderr)
        return 2
    return run_stage(sys.argv[1], sys.argv[2:])


if __name__ == "__main__":
    sys.exit(main())
