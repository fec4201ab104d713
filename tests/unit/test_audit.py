"""The audit's verdict logic, on pip-audit reports shaped like the real ones (no network needed)."""

import pytest

from scripts import audit

VULN = {"id": "PYSEC-2099-1", "aliases": ["GHSA-aaaa-bbbb-cccc"], "fix_versions": ["2.0"]}


def verdict_for(*dependencies: dict, ignores: str = "") -> "audit.Verdict":
    verdict = audit.Verdict()
    audit.judge({"dependencies": list(dependencies)}, "requirements.txt", audit.read_ignores(ignores), verdict)
    return verdict


def test_a_clean_report_passes():
    verdict = verdict_for({"name": "flask", "version": "3.1.3", "vulns": []})
    assert (verdict.exit_code, verdict.audited) == (0, 1)


def test_packages_that_could_not_be_audited_are_never_clean():
    verdict = verdict_for(
        {"name": "flask", "version": "3.1.3", "vulns": []},
        {"name": "numpy", "version": "2.4.6", "skip_reason": "Dependency not found on PyPI and could not be audited"},
    )
    assert verdict.exit_code == 2 and "numpy==2.4.6" in verdict.not_audited[0]


def test_a_known_vulnerability_fails_unless_ignored_with_a_reason():
    dependency = {"name": "jinja2", "version": "3.1.0", "vulns": [VULN]}
    assert verdict_for(dependency).exit_code == 1
    ignored = verdict_for(dependency, ignores="GHSA-aaaa-bbbb-cccc  templates never render user input\n")
    assert ignored.exit_code == 0 and "templates never render user input" in ignored.ignored[0]


def test_an_ignore_without_a_reason_is_an_error():
    with pytest.raises(ValueError, match="'PYSEC-2099-1' has no reason"):
        audit.read_ignores("# comment\nPYSEC-2099-1\n")


def test_the_shipped_ignore_file_parses():
    audit.read_ignores(audit.IGNORE_FILE.read_text())
