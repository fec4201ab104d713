"""`make audit`: pip-audit over every lock file, with reasons required for every ignored finding.

Exit codes: 0 every package was audited and no finding is left; 1 a known vulnerability is not in the
ignore file (or the ignore file is malformed); 2 some packages could not be audited (the vulnerability
service was unreachable, say). A run that could not look is never reported as clean.
"""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
LOCKS = ("requirements.txt", "requirements-dev.txt", "requirements-serve.txt", "requirements-uv.txt")
IGNORE_FILE = REPO / "audit-ignore.txt"


@dataclass
class Verdict:
    audited: int = 0
    not_audited: list[str] = field(default_factory=list)
    findings: list[str] = field(default_factory=list)
    ignored: list[str] = field(default_factory=list)

    @property
    def exit_code(self) -> int:
        if self.findings:
            return 1
        return 2 if self.not_audited else 0


def read_ignores(text: str) -> dict[str, str]:
    """`ID  reason` per line; `#` starts a comment. A finding may only be ignored with a reason."""
    ignores = {}
    for number, line in enumerate(text.splitlines(), 1):
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        identifier, _, reason = line.partition(" ")
        if not reason.strip():
            raise ValueError(f"{IGNORE_FILE.name} line {number}: '{identifier}' has no reason")
        ignores[identifier] = reason.strip()
    return ignores


def judge(report: dict, lock: str, ignores: dict[str, str], verdict: Verdict) -> None:
    """Fold one pip-audit JSON report into the verdict."""
    for dependency in report.get("dependencies", []):
        version = f"=={dependency['version']}" if "version" in dependency else ""
        name = f"{dependency['name']}{version} ({lock})"
        if "skip_reason" in dependency:
            verdict.not_audited.append(f"{name}: {dependency['skip_reason']}")
            continue
        verdict.audited += 1
        for vulnerability in dependency.get("vulns", []):
            names = {vulnerability["id"], *vulnerability.get("aliases", [])}
            known = sorted(names & ignores.keys())
            if known:
                verdict.ignored.append(f"{name}: {vulnerability['id']} ({ignores[known[0]]})")
            else:
                fixes = ", ".join(vulnerability.get("fix_versions", [])) or "none yet"
                verdict.findings.append(f"{name}: {vulnerability['id']} (fixed in: {fixes})")


def run_pip_audit(lock: str) -> dict:
    command = [sys.executable, "-m", "pip_audit", "--requirement", str(REPO / lock), "--require-hashes",
               "--disable-pip", "--no-deps", "--format", "json", "--progress-spinner", "off"]  # fmt: skip
    result = subprocess.run(command, capture_output=True, text=True, timeout=900)
    try:
        return json.loads(result.stdout)
    except json.JSONDecodeError:
        raise RuntimeError(f"pip-audit gave no report for {lock}:\n{result.stderr[-2000:]}") from None


def main() -> int:
    try:
        ignores = read_ignores(IGNORE_FILE.read_text() if IGNORE_FILE.exists() else "")
        verdict = Verdict()
        for lock in LOCKS:
            judge(run_pip_audit(lock), lock, ignores, verdict)
    except (ValueError, RuntimeError) as error:
        print(f"audit: {error}", file=sys.stderr)
        return 1
    for line in verdict.findings:
        print(f"VULNERABLE  {line}")
    for line in verdict.ignored:
        print(f"ignored     {line}")
    for line in verdict.not_audited[:20]:
        print(f"NOT AUDITED {line}")
    summary = f"{verdict.audited} packages audited, {len(verdict.findings)} findings, {len(verdict.ignored)} ignored"
    if verdict.not_audited:
        summary += f"; {len(verdict.not_audited)} packages NOT AUDITED: this is not a clean result"
    print(f"audit: {summary}")
    return verdict.exit_code


if __name__ == "__main__":
    sys.exit(main())
