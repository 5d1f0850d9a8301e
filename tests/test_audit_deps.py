"""scripts/audit_deps.py: pip-audit over this environment against a snapshot on disk, with no
network. A snapshot built here from OSV records (one that affects the installed Jinja2, one
that does not) is found by the real pip-audit through the loopback OSV service; the report
says how many packages were checked and the database's source and date; no database is
"nothing was checked", never a pass."""

from __future__ import annotations

import importlib.util
import sys
from importlib.metadata import version
from pathlib import Path
from types import ModuleType

import pytest
import yaml
from packaging.version import Version

SCRIPT = Path(__file__).resolve().parent.parent / "scripts" / "audit_deps.py"


def _script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("audit_deps", SCRIPT)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


audit = _script()
TWO_SPANS = [{"introduced": "1.0"}, {"fixed": "1.4"}, {"introduced": "2.0"}, {"fixed": "2.2"}]


@pytest.mark.parametrize(
    ("installed", "events", "affected"),
    [
        ("2.0", [{"introduced": "0"}, {"fixed": "2.7.2"}], True),
        ("2.7.2", [{"introduced": "0"}, {"fixed": "2.7.2"}], False),
        ("1.0", [{"introduced": "1.5"}, {"fixed": "2.0"}], False),
        ("3.1", [{"introduced": "3.0"}, {"last_affected": "3.1"}], True),
        ("3.2", [{"introduced": "3.0"}, {"last_affected": "3.1"}], False),
        # two spans in one range: 1.x up to 1.4, and 2.x up to 2.2
        ("2.1", TWO_SPANS, True),
        ("1.5", TWO_SPANS, False),
    ],
)  # fmt: skip
def test_osv_ranges(installed: str, events: list[dict[str, str]], affected: bool) -> None:
    assert audit.in_range(Version(installed), events) is affected


def _advisory(ident: str, package: str, **affected: object) -> dict[str, object]:
    return {
        "id": ident,
        "summary": f"{ident} in {package}",
        "modified": "2026-11-30T10:00:00Z",
        "published": "2026-11-29T10:00:00Z",
        "affected": [{"package": {"name": package, "ecosystem": "PyPI"}, **affected}],
    }


def test_no_database_is_reported_as_nothing_checked(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert audit.main(["check", "--db", str(tmp_path / "none")]) == 2
    assert "nothing was checked" in capsys.readouterr().out


def test_a_vulnerable_installed_package_is_found_offline(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    pytest.importorskip("pip_audit", reason="pip-audit is not installed (dev extra)")
    jinja = version("jinja2")
    source = tmp_path / "osv" / "vulns" / "jinja2"
    source.mkdir(parents=True)
    records = {
        "PYSEC-TEST-1": _advisory("PYSEC-TEST-1", "Jinja2", versions=[jinja]),
        "PYSEC-TEST-2": _advisory(
            "PYSEC-TEST-2",
            "jinja2",
            ranges=[{"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": "1.0"}]}],
        ),
        "PYSEC-TEST-3": _advisory("PYSEC-TEST-3", "not-installed-here", versions=["1.0"]),
    }
    for name, record in records.items():
        (source / f"{name}.yaml").write_text(yaml.safe_dump(record))
    db = tmp_path / "vulndb"
    assert audit.main(["refresh", "--db", str(db), "--from", str(tmp_path / "osv")]) == 0
    assert "Wrote 3 advisories on 2 packages" in capsys.readouterr().out

    assert audit.main(["check", "--db", str(db), "--python", sys.executable]) == 1
    out = capsys.readouterr().out
    assert f"VULNERABLE jinja2 {jinja}: PYSEC-TEST-1" in out
    assert "PYSEC-TEST-2" not in out  # fixed long before the installed version
    checked = int(out.split("pip-audit checked ")[1].split()[0])
    assert checked > 50  # every installed distribution, not a sample
    assert "against 3 OSV advisories on 2 PyPI packages" in out
    assert "dated 2026-11-30" in out
    assert "1 vulnerable," in out
