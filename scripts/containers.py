"""A container engine for the image tests and the team stack: Docker where an engine runs, otherwise podman
(no daemon), set up to work on a machine without systemd.

Where no container registry can be reached, the base image is built once per machine from Debian's
packages with debootstrap, trusting the host's CA certificates (outgoing TLS may be intercepted).
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path

DEFAULT_BASE = "python:3.11-slim"
LOCAL_BASE = "localhost/mlserve-base:bookworm-slim"
BASE_PACKAGES = "python3,python3-venv,ca-certificates"
HOST_CERTS = Path("/usr/local/share/ca-certificates")
# registry[:port]/ (optional), lowercase path components, then :tag (optional)
REFERENCE = re.compile(
    r"(?:[a-zA-Z0-9.-]+(?::[0-9]+)?/)?[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
    r"(?:/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*(?::[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})?"
)


def image_reference(name: str, engine: str) -> str:
    """IMAGE as a user writes it -> a full reference: `:latest` if it has no tag and, for podman, `localhost/`
    if it names no registry (podman builds there; an image loaded under a bare name would land elsewhere)."""
    if not REFERENCE.fullmatch(name):
        raise ValueError(f"IMAGE={name!r} is not an image name: lowercase letters, digits, '.', '_', '-' and '/', "
                         "then :tag if wanted (for example myapi or myapi:1.0)")  # fmt: skip
    if ":" not in name.rsplit("/", 1)[-1]:
        name += ":latest"
    first, _, rest = name.partition("/")
    names_a_registry = bool(rest) and ("." in first or ":" in first or first == "localhost")
    return name if engine == "docker" or names_a_registry else f"localhost/{name}"


def one_line(error: Exception) -> str:
    """An engine's failure as its command and the last line it wrote on stderr."""
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    return lines[0] if len(lines) < 2 else f"{lines[0]} {lines[-1]}"


@dataclass(frozen=True)
class Engine:
    command: str
    env: dict[str, str]

    def run(self, *args: str, check: bool = True, timeout: float = 900, **kwargs) -> subprocess.CompletedProcess:
        result = subprocess.run(
            [self.command, *args], env=self.env, capture_output=True, text=True, timeout=timeout, **kwargs
        )
        if check and result.returncode != 0:
            raise RuntimeError(
                f"{self.command} {' '.join(args)} failed ({result.returncode}):\n{result.stderr[-3000:]}"
            )
        return result


def podman_conf(directory: Path) -> Path:
    """runc (crun fails on hybrid cgroups here) and ulimits capped below the host's hard limit."""
    import resource

    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    nofile = 8192 if hard == resource.RLIM_INFINITY else min(hard, 8192)
    path = directory / "containers.conf"
    path.write_text(
        f'[containers]\ndefault_ulimits = ["nofile={nofile}:{nofile}", "nproc=8192:8192"]\n[engine]\nruntime = "runc"\n'
    )
    return path


def find_engine(workdir: Path) -> Engine:
    if shutil.which("docker") and subprocess.run(["docker", "info"], capture_output=True).returncode == 0:
        return Engine("docker", dict(os.environ))
    if not shutil.which("podman"):
        raise RuntimeError("neither a running Docker engine nor podman: run `make system-packages` (root) first")
    env = dict(os.environ, CONTAINERS_CONF=str(podman_conf(workdir)))
    return Engine("podman", env)


def apt_mirror() -> str:
    """The Debian mirror the host itself uses, read from its apt sources."""
    for source in sorted(Path("/etc/apt/sources.list.d").glob("*.sources")):
        for line in source.read_text().splitlines():
            if line.startswith("URIs:") and "security" not in line:
                return line.split()[1]
    for line in (
        Path("/etc/apt/sources.list").read_text().splitlines() if Path("/etc/apt/sources.list").exists() else []
    ):
        match = re.match(r"deb\s+(?:\[[^]]*\]\s+)?(\S+)\s+\S+", line)
        if match and "security" not in match[1]:
            return match[1]
    raise RuntimeError("no Debian mirror found in /etc/apt/sources.list(.d)")


def build_local_base(engine: Engine) -> str:
    """A minimal Debian bookworm with Python 3.11, built from packages (about a minute, once per machine)."""
    if engine.run("image", "exists", LOCAL_BASE, check=False).returncode == 0:
        return LOCAL_BASE
    with tempfile.TemporaryDirectory(prefix="mlserve-base-") as scratch:
        rootfs = Path(scratch) / "rootfs"
        subprocess.run(
            ["debootstrap", "--variant=minbase", f"--include={BASE_PACKAGES}", "bookworm", str(rootfs), apt_mirror()],
            check=True,
            capture_output=True,
            timeout=900,
        )
        certs = list(HOST_CERTS.glob("*.crt")) if HOST_CERTS.is_dir() else []
        for cert in certs:
            shutil.copy(cert, rootfs / "usr/local/share/ca-certificates" / cert.name)
        subprocess.run(["chroot", str(rootfs), "update-ca-certificates", "--fresh"], check=True, capture_output=True)
        for bulk in ("usr/share/doc", "usr/share/man", "usr/share/info", "usr/share/locale"):
            shutil.rmtree(rootfs / bulk, ignore_errors=True)  # as the official slim images do
        tar = subprocess.Popen(
            [
                "tar",
                "-C",
                str(rootfs),
                "--exclude=./var/cache/apt/archives/*.deb",
                "--exclude=./var/lib/apt/lists/*",
                "-c",
                ".",
            ],
            stdout=subprocess.PIPE,
        )
        engine.run(
            "import",
            "--change", "ENV LANG=C.UTF-8",
            "--change", "ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
            "--change", "ENV PIP_CERT=/etc/ssl/certs/ca-certificates.crt",
            "-", LOCAL_BASE,
            stdin=tar.stdout,
        )  # fmt: skip
        tar.wait()
    return LOCAL_BASE


def base_image(engine: Engine, default: str = DEFAULT_BASE) -> str:
    """BASE_IMAGE if set, else the Dockerfile's default base where a registry answers, else the local Debian build."""
    if os.environ.get("BASE_IMAGE"):
        return os.environ["BASE_IMAGE"]
    if engine.run("pull", "--quiet", default, check=False, timeout=120).returncode == 0:
        return default
    return build_local_base(engine)


def source_date_epoch(context: Path) -> str:
    """SOURCE_DATE_EPOCH if set, else the time of the commit the context is at: every date in the image."""
    if os.environ.get("SOURCE_DATE_EPOCH"):
        return os.environ["SOURCE_DATE_EPOCH"]
    log = subprocess.run(["git", "log", "-1", "--format=%ct"], cwd=context, capture_output=True, text=True)
    return log.stdout.strip() if log.returncode == 0 and log.stdout.strip() else "0"


def build(engine: Engine, context: Path, tag: str, cache: bool = True, base: str | None = None) -> str:
    """Build the serving image (on `base`, else `base_image`); its ID, which two builds of one commit share
    (README: Reproducible image)."""
    epoch = source_date_epoch(context)
    args = ["build", "--tag", tag, "--build-arg", f"BASE_IMAGE={base or base_image(engine)}"]
    args += ["--build-arg", f"SOURCE_DATE_EPOCH={epoch}", *([] if cache else ["--no-cache"])]
    if engine.command == "docker":
        engine.run(*args, str(context), timeout=1800)
        return engine.run("image", "inspect", "--format", "{{.Id}}", tag).stdout.strip()
    # docker format keeps HEALTHCHECK (OCI drops it); --timestamp dates every file and the image itself
    engine.run(*args, "--format", "docker", "--layers=false", "--timestamp", epoch, str(context), timeout=1800)
    return without_build_host(engine, tag)


def without_build_host(engine: Engine, tag: str) -> str:
    """podman 4's buildah writes its build container's ID, a random hostname, the parent image and history
    comments naming intermediate images into the image's config, so two builds with identical layers get
    different IDs; newer ones leave them out. The image is saved, its config rewritten without them, and
    loaded back under the same tag: the same layers and settings, an ID that depends on the content only."""
    with tempfile.TemporaryDirectory(prefix="image-") as scratch:
        saved, rewritten = Path(scratch, "saved.tar"), Path(scratch, "rewritten.tar")
        engine.run("save", "--format", "docker-archive", "--output", str(saved), tag)
        with tarfile.open(saved) as source, tarfile.open(rewritten, "w", format=tarfile.PAX_FORMAT) as target:
            [entry] = json.load(source.extractfile("manifest.json"))  # type: ignore[arg-type]
            config = json.load(source.extractfile(entry["Config"]))  # type: ignore[arg-type]
            config.pop("container", None)
            config.pop("parent", None)
            for key in ("config", "container_config"):
                if isinstance(config.get(key), dict):
                    config[key]["Hostname"] = ""
            for step in config.get("history", []):
                if str(step.get("comment", "")).startswith("FROM "):
                    del step["comment"]
            blob = json.dumps(config, separators=(",", ":")).encode()
            digest = hashlib.sha256(blob).hexdigest()
            entry.update(Config=f"{digest}.json", RepoTags=[tag])
            files = [(entry["Config"], io.BytesIO(blob), len(blob))]
            files += [(layer, source.extractfile(layer), source.getmember(layer).size) for layer in entry["Layers"]]
            manifest = json.dumps([entry]).encode()
            for name, data, size in [*files, ("manifest.json", io.BytesIO(manifest), len(manifest))]:
                info = tarfile.TarInfo(name)
                info.size, info.mode = size, 0o644
                target.addfile(info, data)
        engine.run("rmi", "--force", tag)
        engine.run("load", "--input", str(rewritten))
    return f"sha256:{digest}"


def main(argv: list[str]) -> int:
    """`make image`: python -m scripts.containers NAME[:TAG] [--no-cache] -> prints the image ID."""
    name, cache = argv[0] if argv else "model-api", "--no-cache" not in argv
    try:
        engine = find_engine(Path(tempfile.mkdtemp(prefix="engine-")))
        print(build(engine, Path(__file__).resolve().parents[1], image_reference(name, engine.command), cache))
    except (RuntimeError, ValueError, subprocess.TimeoutExpired) as error:
        print(f"make image: {one_line(error)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
