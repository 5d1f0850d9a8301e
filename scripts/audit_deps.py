#!/usr/bin/env python3
"""Audit the installed dependencies with pip-audit against a vulnerability database kept on
disk, so that the audit runs without a network and says exactly what it checked.

pip-audit asks an OSV service about each installed package (``--vulnerability-service osv
--osv-url``); here that service is a loopback server over a snapshot of OSV records for
PyPI (``security/vulndb/``: ``advisories.json.gz`` and ``manifest.json`` with the source and
its date). ``refresh`` rebuilds the snapshot, from OSV's PyPI export when the network is
there or from a local copy of an OSV database (``--from DIR``: the PyPA advisory database's
``vulns/`` checkout, or an unzipped export).

    .venv/bin/python scripts/audit_deps.py          # exit 0 clean, 1 vulnerable, 2 not checked
    .venv/bin/python scripts/audit_deps.py refresh  # needs the network (or --from DIR)
"""

from __future__ import annotations

import argparse
import gzip
import io
import json
import subprocess
import sys
import tempfile
import threading
import urllib.request
import zipfile
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import yaml
from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion, Version

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DB = ROOT / "security" / "vulndb"
OSV_EXPORT = "https://osv-vulnerabilities.storage.googleapis.com/PyPI/all.zip"
ADVISORIES = "advisories.json.gz"
MANIFEST = "manifest.json"
STALE_DAYS = 90
# What pip-audit reads of a record (the rest, references above all, is left out).
KEPT = ("id", "aliases", "summary", "details", "affected", "withdrawn", "published", "modified")


# --- the snapshot ---------------------------------------------------------------------------


def _compact(record: dict[str, Any]) -> dict[str, Any] | None:
    """The PyPI part of an OSV record, or None when it affects no PyPI package."""
    affected = [
        {k: a[k] for k in ("package", "ranges", "versions") if k in a}
        for a in record.get("affected") or []
        if (a.get("package") or {}).get("ecosystem") == "PyPI"
    ]
    if not affected or "id" not in record:
        return None
    kept = {key: record[key] for key in KEPT if key in record and key != "affected"}
    if "details" in kept:
        kept["details"] = str(kept["details"])[:500]
    return {**kept, "affected": affected}


def _rfc3339(value: object) -> str:
    """YAML reads OSV's timestamps as datetimes; OSV (and pip-audit) wants RFC 3339 text."""
    if isinstance(value, datetime):
        return value.isoformat().replace("+00:00", "Z")
    raise TypeError(f"{type(value).__name__} is not JSON")


def _records_in(folder: Path) -> Iterator[dict[str, Any]]:
    for path in sorted(folder.rglob("*")):
        if path.suffix in (".yaml", ".yml", ".json") and path.is_file():
            loaded = (yaml.safe_load if path.suffix != ".json" else json.loads)(path.read_text())
            if isinstance(loaded, dict):
                yield json.loads(json.dumps(loaded, default=_rfc3339))


def _records_in_zip(data: bytes) -> Iterator[dict[str, Any]]:
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        for name in archive.namelist():
            if name.endswith(".json"):
                yield json.loads(archive.read(name))


def _git_revision(folder: Path) -> tuple[str | None, str | None]:
    """The commit and its date when ``folder`` is in a git checkout."""
    try:
        line = subprocess.run(
            ["git", "-C", str(folder), "log", "-1", "--format=%H %cI"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.split()
    except (OSError, subprocess.CalledProcessError):
        return None, None
    return (line[0], line[1]) if len(line) == 2 else (None, None)


def write_snapshot(db: Path, records: Iterable[dict[str, Any]], source: dict[str, Any]) -> dict:
    """Write the compacted records and the manifest that says where and when they are from."""
    kept = [c for c in map(_compact, records) if c is not None]
    kept.sort(key=lambda r: r["id"])
    if not kept:
        raise SystemExit("refresh: no OSV record for a PyPI package found; snapshot unchanged")
    db.mkdir(parents=True, exist_ok=True)
    payload = json.dumps(kept, separators=(",", ":"), sort_keys=True).encode()
    # mtime=0: the same records give the same bytes (a refresh with nothing new is no diff).
    with gzip.GzipFile(db / ADVISORIES, "wb", mtime=0) as out:
        out.write(payload)
    packages = {canonicalize_name(a["package"]["name"]) for r in kept for a in r["affected"]}
    newest = max(str(r.get("modified", "")) for r in kept)[:10] or None
    manifest = {
        **source,
        # Undated (a folder outside git): as new as its newest advisory, no newer.
        "dated": source.get("dated") or newest,
        "built_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "advisories": len(kept),
        "packages": len(packages),
        "newest_advisory": newest,
    }
    (db / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n")
    return manifest


def refresh(db: Path, source_dir: Path | None, url: str, label: str | None) -> int:
    if source_dir is not None:
        revision, dated = _git_revision(source_dir)
        source = {"source": label or f"a local copy ({source_dir.name})", "revision": revision}
        source["dated"] = (dated or "")[:10] or None
        manifest = write_snapshot(db, _records_in(source_dir), source)
    else:
        try:
            with urllib.request.urlopen(url, timeout=60) as response:
                data = response.read()
        except OSError as exc:
            print(f"refresh: {url} is not reachable ({exc}); the snapshot is unchanged.")
            return 1
        today = datetime.now(UTC).date().isoformat()
        source = {"source": url, "revision": None, "dated": today}
        manifest = write_snapshot(db, _records_in_zip(data), source)
    print(
        f"Wrote {manifest['advisories']} advisories on {manifest['packages']} packages "
        f"({manifest['source']}, dated {manifest['dated']}) to {db}"
    )
    return 0


# --- the OSV query service over the snapshot -----------------------------------------------


def _version(text: str) -> Version | None:
    try:
        return Version(text)
    except InvalidVersion:
        return None


def in_range(version: Version, events: list[dict[str, str]]) -> bool:
    """OSV's ECOSYSTEM range walk: introduced opens, fixed and last_affected close."""

    def order(event: dict[str, str]) -> Version:
        value = next(iter(event.values()))
        return Version("0") if value == "0" else (_version(value) or Version("0"))

    affected = False
    for event in sorted(events, key=order):
        if "introduced" in event:
            start = _version(event["introduced"]) or Version("0")
            affected = affected or version >= start
        elif "fixed" in event and (fixed := _version(event["fixed"])) and version >= fixed:
            affected = False
        elif "last_affected" in event and (last := _version(event["last_affected"])):
            affected = affected and version <= last
    return affected


def affects(record: dict[str, Any], name: str, version: str) -> bool:
    parsed = _version(version)
    for affected in record["affected"]:
        if canonicalize_name(affected["package"]["name"]) != name:
            continue
        if version in affected.get("versions", []):
            return True
        for span in affected.get("ranges", []):
            if span.get("type") == "ECOSYSTEM" and parsed and in_range(parsed, span["events"]):
                return True
    return False


class Snapshot:
    def __init__(self, db: Path) -> None:
        self.manifest = json.loads((db / MANIFEST).read_text())
        with gzip.open(db / ADVISORIES, "rb") as data:
            records = json.loads(data.read())
        self.by_package: dict[str, list[dict[str, Any]]] = {}
        for record in records:
            for name in {canonicalize_name(a["package"]["name"]) for a in record["affected"]}:
                self.by_package.setdefault(name, []).append(record)

    def query(self, name: str, version: str) -> list[dict[str, Any]]:
        name = canonicalize_name(name)
        return [r for r in self.by_package.get(name, []) if affects(r, name, version)]


@contextmanager
def osv_service(snapshot: Snapshot) -> Iterator[str]:
    """``POST /v1/query`` as OSV answers it, on loopback; yields its URL."""

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            asked = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            found = snapshot.query(asked["package"]["name"], asked["version"])
            body = json.dumps({"vulns": found} if found else {}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            return None

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/v1/query"
    finally:
        server.shutdown()
        server.server_close()


# --- the audit ----------------------------------------------------------------------------


def _pip_audit(osv_url: str, python: str) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as cache:
        done = subprocess.run(
            [python, "-m", "pip_audit", "--vulnerability-service", "osv", "--osv-url", osv_url,
             "--format", "json", "--progress-spinner", "off", "--skip-editable",
             "--cache-dir", cache],
            capture_output=True,
            text=True,
        )  # fmt: skip
    if done.returncode not in (0, 1) or not done.stdout.strip():
        raise SystemExit(f"pip-audit failed ({done.returncode}): {done.stderr.strip()[-2000:]}")
    return json.loads(done.stdout)


def check(db: Path, python: str, max_age_days: int | None) -> int:
    if not (db / MANIFEST).exists() or not (db / ADVISORIES).exists():
        print(
            f"No vulnerability database in {db}: nothing was checked. Build it with "
            "`scripts/audit_deps.py refresh` (network) or `refresh --from DIR`."
        )
        return 2
    snapshot = Snapshot(db)
    with osv_service(snapshot) as url:
        report = _pip_audit(url, python)
    packages = report["dependencies"]
    audited = [p for p in packages if "skip_reason" not in p]
    skipped = [f"{p['name']} ({p['skip_reason']})" for p in packages if "skip_reason" in p]
    vulnerable = [p for p in audited if p.get("vulns")]
    meta = snapshot.manifest
    age = (datetime.now(UTC).date() - datetime.fromisoformat(meta["dated"]).date()).days
    print(f"pip-audit checked {len(audited)} installed packages of {python}")
    if skipped:
        print(f"  not checked: {', '.join(skipped)}")
    print(
        f"against {meta['advisories']} OSV advisories on {meta['packages']} PyPI packages from "
        f"{meta['source']}"
        + (f" at {meta['revision'][:12]}" if meta.get("revision") else "")
        + f", dated {meta['dated']} ({age} days ago)"
    )
    if age > STALE_DAYS:
        print(f"  WARNING: advisories published after {meta['dated']} are not known here: refresh")
    for package in vulnerable:
        for vuln in package["vulns"]:
            fixes = ", ".join(vuln.get("fix_versions") or []) or "none yet"
            found = f"{package['name']} {package['version']}: {vuln['id']}"
            print(f"VULNERABLE {found} (fixed in {fixes})")
    print(f"{len(vulnerable)} vulnerable, {len(audited) - len(vulnerable)} clean")
    if max_age_days is not None and age > max_age_days:
        print(f"The database is older than {max_age_days} days: failing as asked.")
        return 2
    return 1 if vulnerable else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("command", nargs="?", choices=("check", "refresh"), default="check")
    parser.add_argument("--db", type=Path, default=DEFAULT_DB, help="the snapshot's folder")
    parser.add_argument("--from", dest="source", type=Path, help="refresh from this OSV folder")
    parser.add_argument("--url", default=OSV_EXPORT, help="refresh from this OSV export (zip)")
    parser.add_argument("--label", help="what --from's source is called in the manifest")
    parser.add_argument("--python", default=sys.executable, help="the environment to audit")
    parser.add_argument("--max-age-days", type=int, help="fail (2) when the database is older")
    args = parser.parse_args(argv)
    if args.command == "refresh":
        return refresh(args.db, args.source, args.url, args.label)
    return check(args.db, args.python, args.max_age_days)


if __name__ == "__main__":
    sys.exit(main())
