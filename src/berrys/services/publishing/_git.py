"""The GIT target: a commit of the deliverables on a branch of a local repository, made with
git's plumbing (its own index file, ``commit-tree``, ``update-ref``) so that the repository's
working tree, index and checked-out branch are never touched. ``git`` runs as a subprocess of
the event loop (never blocking it); the repository must lie under BERRYS_PUBLISH_GIT_ROOTS."""

from __future__ import annotations

import asyncio
import os
import tempfile
from pathlib import Path

from berrys.config import Settings
from berrys.core.errors import Unprocessable

GIT_TIMEOUT_SECONDS = 60.0
AUTHOR = ("Berrys", "berrys@localhost")
_NO_COMMIT = "0" * 40
# A repository's own configuration may name programs git runs (a file-system monitor, hooks):
# none of them runs for a publication.
_SAFE_CONFIG = ("-c", "core.fsmonitor=false", "-c", "core.hooksPath=/dev/null")


class GitFailed(Exception):
    """A git command refused or failed; the message says which and why."""


async def _git(
    repository: Path, *args: str, stdin: bytes | None = None, env: dict[str, str] | None = None
) -> tuple[int, str, str]:
    """Run ``git -C repository args``: its exit code, standard output and error."""
    process = await asyncio.create_subprocess_exec(
        "git",
        *_SAFE_CONFIG,
        "-C",
        str(repository),
        *args,
        stdin=asyncio.subprocess.PIPE if stdin is not None else asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=env or _environment(),
    )
    try:
        out, err = await asyncio.wait_for(process.communicate(stdin), GIT_TIMEOUT_SECONDS)
    except TimeoutError:
        process.kill()
        await process.wait()
        raise GitFailed(f"git {args[0]} took longer than {GIT_TIMEOUT_SECONDS:g} s") from None
    assert process.returncode is not None
    return process.returncode, out.decode(errors="replace").strip(), err.decode(errors="replace")


async def _run(
    repository: Path, *args: str, stdin: bytes | None = None, env: dict[str, str] | None = None
) -> str:
    code, out, err = await _git(repository, *args, stdin=stdin, env=env)
    if code != 0:
        raise GitFailed(f"git {args[0]} failed: {err.strip()[:500] or f'exit code {code}'}")
    return out


def _environment(**extra: str) -> dict[str, str]:
    """The process's environment without git's own variables (a GIT_DIR set for Berrys would
    point every command elsewhere), never prompting, with Berrys as author and committer."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("GIT_")}
    name, email = AUTHOR
    env.update(
        GIT_TERMINAL_PROMPT="0",
        GIT_AUTHOR_NAME=name,
        GIT_AUTHOR_EMAIL=email,
        GIT_COMMITTER_NAME=name,
        GIT_COMMITTER_EMAIL=email,
        **extra,
    )
    return env


def _allowed(path: Path, roots: list[Path]) -> bool:
    """Is ``path`` (resolved: no link leads out) under one of ``roots``? Reads the disk."""
    resolved = path.expanduser().resolve()
    return any(resolved.is_relative_to(root.expanduser().resolve()) for root in roots)


def _folder(path_text: str, roots: list[Path]) -> Path:
    """The absolute, resolved folder ``path_text`` names, if under a root (reads the disk)."""
    path = Path(path_text).expanduser()
    if not path.is_absolute():
        raise Unprocessable(f"The repository must be an absolute path, not {path_text!r}")
    if not _allowed(path, roots):
        raise Unprocessable(
            f"{path_text} is not under a folder BERRYS_PUBLISH_GIT_ROOTS allows",
            allowed=[str(root) for root in roots],
        )
    if not path.resolve().is_dir():
        raise Unprocessable(f"{path_text} is not a folder")
    return path.resolve()


async def check_repository(path_text: str, settings: Settings, branch: str | None = None) -> Path:
    """The repository at ``path_text``, resolved; 422 unless it is a git repository whose
    folder and git directory are under an allowed root, and ``branch`` a valid branch name."""
    roots = settings.publish_git_roots
    if not roots:
        raise Unprocessable(
            "The GIT target is off: set BERRYS_PUBLISH_GIT_ROOTS to the folders it may commit in"
        )
    resolved = await asyncio.to_thread(_folder, path_text, roots)
    code, git_dir, _ = await _git(resolved, "rev-parse", "--absolute-git-dir")
    if code != 0:
        raise Unprocessable(f"{path_text} is not a git repository")
    if not await asyncio.to_thread(_allowed, Path(git_dir), roots):
        raise Unprocessable(f"The git directory of {path_text} is not under an allowed folder")
    if branch is not None:
        code, _, _ = await _git(resolved, "check-ref-format", "--branch", branch)
        if code != 0:
            raise Unprocessable(f"{branch!r} is not a valid branch name")
    return resolved


async def commit(
    repository: Path, *, branch: str, folder: str, files: list[tuple[str, bytes]], message: str
) -> str:
    """Commit ``files`` (name, content) under ``folder`` on ``branch`` (made from HEAD when
    new; the folder's earlier content replaced): the commit's sha."""
    ref = f"refs/heads/{branch}"
    if await _checked_out(repository) == ref:
        raise GitFailed(f"{branch} is checked out in {repository}: publish to another branch")
    tip = await _commit_of(repository, ref)
    base = tip or await _commit_of(repository, "HEAD")
    with tempfile.TemporaryDirectory(prefix="berrys-publish-") as scratch:
        env = _environment(GIT_INDEX_FILE=str(Path(scratch) / "index"))
        await _run(repository, "read-tree", *([base] if base else ["--empty"]), env=env)
        earlier = await _run(repository, "ls-files", "-z", "--", folder, env=env)
        if earlier:
            await _run(
                repository, "update-index", "--force-remove", "-z", "--stdin",
                stdin=earlier.encode(), env=env,
            )  # fmt: skip
        for name, content in files:
            blob = await _run(repository, "hash-object", "-w", "--stdin", stdin=content, env=env)
            info = f"100644,{blob},{folder}/{name}"
            await _run(repository, "update-index", "--add", "--cacheinfo", info, env=env)
        tree = await _run(repository, "write-tree", env=env)
    parents = ["-p", base] if base else []
    sha = await _run(repository, "commit-tree", tree, *parents, "-F", "-", stdin=message.encode())
    # The expected old value: a branch someone moved meanwhile is not overwritten.
    await _run(repository, "update-ref", "-m", "berrys publication", ref, sha, tip or _NO_COMMIT)
    return sha


async def _commit_of(repository: Path, name: str) -> str | None:
    code, sha, _ = await _git(repository, "rev-parse", "--verify", "-q", f"{name}^{{commit}}")
    return sha if code == 0 else None


async def _checked_out(repository: Path) -> str | None:
    """The branch checked out in a repository with a working tree, if any."""
    code, bare, _ = await _git(repository, "rev-parse", "--is-bare-repository")
    if code != 0 or bare == "true":
        return None
    code, ref, _ = await _git(repository, "symbolic-ref", "-q", "HEAD")
    return ref if code == 0 else None
