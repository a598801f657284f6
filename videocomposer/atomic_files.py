"""Write a file or a folder completely or not at all, with the permissions the umask gives a new file.

Everything the project writes (videos, grids, stroke files, condition caches, safetensors, converted models) goes
through `atomic_path` or `atomic_folder`: the content is written under a unique temporary name beside the target and
renamed over it only when complete, so a killed process never leaves a half-written file, and two processes writing
the same target never mix their bytes. Unlike ``tempfile.mkstemp`` (always 0600) and ``tempfile.mkdtemp`` (0700), the
result gets the mode ``open()`` would give it: 0644 for a file and 0755 for a folder under umask 022. Folders written
by others' code (``save_pretrained``: diffusers 0.42 writes safetensors through a 0600 temporary file) get the same
modes through `umask_modes`.
"""

from __future__ import annotations

import functools
import os
import secrets
import shutil
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any


def current_umask() -> int:
    """The process umask (read by setting and restoring it: ``os`` has no read-only getter)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _stamp(path: Path) -> tuple[int, int]:
    stat = path.lstat()
    return stat.st_ino, 0 if path.is_dir() else stat.st_mtime_ns  # a folder's mtime changes with its entries


def file_stamps(folder: str | os.PathLike) -> dict[Path, tuple[int, int]]:
    """``{path: (inode, mtime_ns)}`` of ``folder`` and everything under it (a folder's mtime as 0; empty when it
    does not exist)."""
    folder = Path(folder)
    if not folder.is_dir():
        return {}
    return {path: _stamp(path) for path in [folder, *folder.rglob("*")]}


def set_umask_modes(folder: str | os.PathLike, unchanged: Mapping[Path, tuple[int, int]] | None = None) -> None:
    """Give ``folder`` and everything under it the modes a new file and folder get: ``0o666 & ~umask`` and
    ``0o777 & ~umask`` (symbolic links are left alone). Entries whose `file_stamps` equal ``unchanged``'s (written
    before, by someone else) keep theirs."""
    folder, unchanged = Path(folder), unchanged or {}
    umask = current_umask()
    for path in [folder, *folder.rglob("*")]:
        if path.is_symlink() or unchanged.get(path) == _stamp(path):
            continue
        os.chmod(path, (0o777 if path.is_dir() else 0o666) & ~umask)


@contextmanager
def umask_modes(folder: str | os.PathLike) -> Iterator[Path]:
    """Around a writer of ``folder`` (such as ``save_pretrained``): what it creates or rewrites there gets the umask's
    modes (`set_umask_modes`), whatever temporary files it went through; what was there before and stays is kept."""
    before = file_stamps(folder)
    yield Path(folder)
    set_umask_modes(folder, unchanged=before)


class UmaskModesOnSave:
    """Mixin for a ``ModelMixin`` (or any class with ``save_pretrained``): its saved files get the umask's modes.

    Each class that lists it as a base gets a ``save_pretrained`` wrapping the next class's, with that method's
    signature (``functools.wraps``): diffusers' pipeline passes ``variant``, ``safe_serialization`` and
    ``max_shard_size`` only to a ``save_pretrained`` whose signature names them."""

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if UmaskModesOnSave not in cls.__bases__ or "save_pretrained" in cls.__dict__:
            return
        saver = super().save_pretrained  # the next class after this mixin in cls.__mro__

        @functools.wraps(saver)
        def save_pretrained(self, save_directory: str | os.PathLike, *args: Any, **kwargs: Any) -> Any:
            with umask_modes(save_directory):
                return saver(self, save_directory, *args, **kwargs)

        cls.save_pretrained = save_pretrained


def temporary_sibling(path: str | os.PathLike) -> Path:
    """A unique, hidden name in ``path``'s folder that keeps its suffix (writers such as imageio pick the format by
    it): ``dir/.name.<pid>.<random>.partial.ext``."""
    path = Path(path)
    return path.with_name(f".{path.stem}.{os.getpid()}.{secrets.token_hex(4)}.partial{path.suffix}")


@contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary file path beside ``path`` for the caller to write; on success it gets the umask's file mode
    (``0o666 & ~umask``) and is renamed to ``path`` (replacing it); on error it is removed.

    The folder of ``path`` must exist.
    """
    path = Path(path)
    if not path.parent.is_dir():
        raise FileNotFoundError(f"output folder does not exist: {path.parent}")
    temporary = temporary_sibling(path)
    try:
        yield temporary
        os.chmod(temporary, 0o666 & ~current_umask())
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically (see `atomic_path`); returns the path."""
    with atomic_path(path) as temporary:
        temporary.write_bytes(data)
    return Path(path)


def atomic_write_text(path: str | os.PathLike, text: str) -> Path:
    """Write UTF-8 ``text`` to ``path`` atomically (see `atomic_path`); returns the path."""
    with atomic_path(path) as temporary:
        temporary.write_text(text, encoding="utf-8")
    return Path(path)


@contextmanager
def atomic_folder(path: str | os.PathLike, replace: bool = False) -> Iterator[Path]:
    """Yield a new, empty temporary folder beside ``path`` for the caller to fill; on success it and everything in it
    get the umask's modes (`set_umask_modes`) and it is renamed to ``path``; on error it is removed.

    ``replace=False`` refuses an existing ``path`` (`FileExistsError`, also when it appears while the folder is
    written); ``replace=True`` removes an existing folder just before the rename.
    """
    path = Path(path)
    if not path.parent.is_dir():
        raise FileNotFoundError(f"output folder does not exist: {path.parent}")
    if path.exists() and not replace:
        raise FileExistsError(f"{path} already exists")
    staging = temporary_sibling(path.with_name(path.name + ".dir"))
    staging.mkdir()
    try:
        yield staging
        set_umask_modes(staging)
        if path.exists():
            if not replace:
                raise FileExistsError(f"{path} already exists")
            doomed = temporary_sibling(path.with_name(path.name + ".old"))
            os.replace(path, doomed)
            shutil.rmtree(doomed)
        os.replace(staging, path)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
