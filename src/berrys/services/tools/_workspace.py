"""Project workspaces: files under ``<data_dir>/workspaces/<project_id>``, reached safely.

Paths are walked one component at a time from an open directory descriptor with
``O_NOFOLLOW``, so ``..``, absolute paths, symlinks and encoded tricks cannot leave the
workspace: there is no string prefix check to fool, only directory entries that must be
plain names of real directories and regular files (with one link).
"""

from __future__ import annotations

import errno
import os
import re
import stat
import unicodedata
import uuid
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

from berrys.core.errors import Forbidden, NotFound, PayloadTooLarge


class UnsafePath(Forbidden):
    title = "Path refused"


_ENCODED = re.compile(r"%[0-9A-Fa-f]{2}")
_MAX_COMPONENTS = 32


def split_path(raw: str, *, allow_root: bool = False) -> list[str]:
    """Plain relative components, or UnsafePath naming why not."""
    if not isinstance(raw, str):
        raise UnsafePath("path must be a string")
    if "\x00" in raw or any(unicodedata.category(ch) == "Cc" for ch in raw):
        raise UnsafePath("path contains control characters")
    if _ENCODED.search(raw):
        raise UnsafePath("percent-encoded paths are refused")
    normalised = unicodedata.normalize("NFKC", raw)
    if normalised != raw:
        raise UnsafePath("path is not in normal form (look-alike characters are refused)")
    if "\\" in raw:
        raise UnsafePath("backslashes are refused; use '/'")
    if raw.startswith(("/", "~")):
        raise UnsafePath("absolute paths are refused; give a path inside the workspace")
    parts = [part for part in raw.split("/") if part not in ("", ".")]
    if any(part == ".." for part in parts):
        raise UnsafePath("'..' is refused: paths stay inside the workspace")
    if not parts and not allow_root:
        raise UnsafePath("path names no file")
    if len(parts) > _MAX_COMPONENTS:
        raise UnsafePath(f"path is deeper than {_MAX_COMPONENTS} levels")
    if any(len(part.encode()) > 255 for part in parts):
        raise UnsafePath("a path component is longer than 255 bytes")
    return parts


_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC


@contextmanager
def _open_dir(root: Path, parts: list[str], *, create: bool) -> Iterator[int]:
    """A descriptor of the directory ``root/parts`` reached without following any link."""
    if create:
        root.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(root, _DIR_FLAGS)
    except FileNotFoundError:
        raise NotFound("the workspace is empty") from None
    try:
        for part in parts:
            try:
                next_fd = os.open(part, _DIR_FLAGS, dir_fd=fd)
            except FileNotFoundError:
                if not create:
                    raise NotFound(f"no such directory: {part}") from None
                os.mkdir(part, 0o755, dir_fd=fd)
                next_fd = os.open(part, _DIR_FLAGS, dir_fd=fd)
            except OSError as exc:
                if exc.errno in (errno.ELOOP, errno.ENOTDIR):
                    raise UnsafePath(f"{part!r} is a link or not a directory") from None
                raise
            os.close(fd)
            fd = next_fd
        yield fd
    finally:
        os.close(fd)


def _refuse_special(st: os.stat_result, name: str) -> None:
    if not stat.S_ISREG(st.st_mode):
        raise UnsafePath(f"{name!r} is not a regular file")
    if st.st_nlink > 1:
        raise UnsafePath(f"{name!r} has other hard links and is refused")


# O_NONBLOCK: opening a FIFO (or a device) never waits for a writer; whatever was opened is
# then refused by fstat unless it is a regular file, on which O_NONBLOCK changes nothing.
_READ_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK


def read_file(root: Path, raw: str, *, max_bytes: int) -> bytes:
    """The file's bytes; blocking I/O: call it in a thread from async code."""
    parts = split_path(raw)
    with _open_dir(root, parts[:-1], create=False) as dir_fd:
        try:
            _refuse_special(os.stat(parts[-1], dir_fd=dir_fd, follow_symlinks=False), raw)
            fd = os.open(parts[-1], _READ_FLAGS, dir_fd=dir_fd)
        except FileNotFoundError:
            raise NotFound(f"no such file: {raw}") from None
        except OSError as exc:
            if exc.errno in (errno.ELOOP, errno.EISDIR):
                raise UnsafePath(f"{raw!r} is a link or a directory") from None
            raise
        try:
            # Checked again on what was opened: the entry may have been swapped meanwhile.
            _refuse_special(os.fstat(fd), raw)
        except BaseException:
            os.close(fd)
            raise
        with os.fdopen(fd, "rb") as handle:
            data = handle.read(max_bytes + 1)
    if len(data) > max_bytes:
        raise PayloadTooLarge(f"{raw} is larger than {max_bytes} bytes")
    return data


def write_file(root: Path, raw: str, data: bytes, *, max_bytes: int) -> int:
    """Replace the file atomically; blocking I/O: call it in a thread from async code."""
    if len(data) > max_bytes:
        raise PayloadTooLarge(f"content is larger than {max_bytes} bytes")
    parts = split_path(raw)
    with _open_dir(root, parts[:-1], create=True) as dir_fd:
        name = parts[-1]
        try:
            existing = os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
        except FileNotFoundError:
            existing = None
        if existing is not None:
            _refuse_special(existing, raw)
        temp = f".{name}.{uuid.uuid4().hex}.tmp"
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
        fd = os.open(temp, flags, 0o644, dir_fd=dir_fd)
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
            os.replace(temp, name, src_dir_fd=dir_fd, dst_dir_fd=dir_fd)
        except BaseException:
            with suppress(OSError):
                os.unlink(temp, dir_fd=dir_fd)
            raise
    return len(data)


def list_dir(root: Path, raw: str) -> list[dict[str, Any]]:
    """The directory's entries; blocking I/O: call it in a thread from async code."""
    parts = split_path(raw, allow_root=True)
    if not root.exists() and not parts:
        return []
    with _open_dir(root, parts, create=False) as dir_fd:
        entries = []
        for name in sorted(os.listdir(dir_fd)):
            st = os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
            kind = (
                "directory"
                if stat.S_ISDIR(st.st_mode)
                else "file"
                if stat.S_ISREG(st.st_mode)
                else "other"
            )
            entries.append({"name": name, "type": kind, "size": st.st_size})
    return entries


def walk_files(root: Path, *, limit: int = 10_000) -> Iterator[tuple[str, int]]:
    """Regular files under ``root`` as (relative path, dir fd); links are never followed."""
    if not root.exists():
        return
    stack: list[tuple[str, list[str]]] = [("", [])]
    seen = 0
    while stack:
        prefix, parts = stack.pop()
        with _open_dir(root, parts, create=False) as dir_fd:
            for name in sorted(os.listdir(dir_fd)):
                st = os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
                relative = f"{prefix}{name}"
                if stat.S_ISDIR(st.st_mode):
                    stack.append((relative + "/", [*parts, name]))
                elif stat.S_ISREG(st.st_mode) and st.st_nlink == 1:
                    seen += 1
                    if seen > limit:
                        return
                    yield relative, st.st_size
