"""Files written whole or not at all: atomic writes with fsync, the modes a normal file gets, sha256, safe pickles.

Every file weightaug writes (shards, manifests, checkpoints, results, plots) goes through :func:`atomic_path`:
it is written to a temporary file in the same folder, flushed to disk, given the mode the user's umask gives a
new file (``mkstemp`` would leave 0600: unreadable to the rest of a group sharing a disk), then renamed over
the target. A failed write raises :class:`WriteError`, one line naming the file and the reason.
"""

from __future__ import annotations

import hashlib
import os
import pickle
import re
import shutil
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, ClassVar

import torch


class WriteError(OSError):
    """A file could not be written (read-only disk, no permission, disk full, ...)."""


def file_mode() -> int:
    """The mode a new file gets under the current umask (0o644 under the usual 022)."""
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


def _fsync_dir(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:  # some file systems do not open folders
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


@contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path next to ``path``; when the block ends without error, the file written there
    is flushed, given the umask's mode and renamed to ``path``. On error nothing is left behind."""
    path = Path(path)
    try:
        fd, tmp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
        os.close(fd)
    except OSError as e:
        raise WriteError(e.errno, f"cannot write {path}: {e.strerror}") from e
    tmp = Path(tmp_name)
    try:
        yield tmp
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
        os.chmod(tmp, file_mode())
        os.replace(tmp, path)
        _fsync_dir(path.parent)
    except OSError as e:
        if isinstance(e, WriteError):
            raise
        raise WriteError(e.errno, f"cannot write {path}: {e.strerror}") from e
    finally:
        tmp.unlink(missing_ok=True)


def atomic_write_bytes(path: str | Path, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically (see :func:`atomic_path`)."""
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)


def atomic_save(path: str | Path, save: Callable[[Path], Any]) -> None:
    """``save(tmp)`` writes the file (``safetensors``' ``save_file``, ``torch.save``, a figure), atomically."""
    with atomic_path(path) as tmp:
        save(tmp)


def staging_path(final: Path) -> Path:
    """Where a folder that replaces ``final`` is built until it is complete (a hidden sibling)."""
    return final.parent / f".{final.name}.new"


def remove(path: Path) -> None:
    """Delete a folder with its contents, or a file; nothing if it does not exist."""
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    else:
        path.unlink(missing_ok=True)


def swap_in(staged: Path, final: Path) -> None:
    """Replace ``final`` (a folder or file, if any) by the folder ``staged``."""
    old = final.parent / f".{final.name}.old"
    remove(old)
    if final.exists() or final.is_symlink():
        final.rename(old)
    staged.rename(final)
    remove(old)


def sha256(path: str | Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


class UnreadableFileError(ValueError):
    """A torch file that cannot be read: ``reason`` says why (not a torch file, or a pickle that would run code)."""

    def __init__(self, path: Path, reason: str, refused: bool) -> None:
        super().__init__(f"{path} {reason}")
        self.path, self.reason, self.refused = path, reason, refused


def load_torch_file(path: str | Path, map_location: str | torch.device = "cpu") -> Any:
    """``torch.load(path, weights_only=True)``: tensors, numbers, strings and plain containers only, so a file
    someone else wrote cannot run code. Anything else raises :class:`UnreadableFileError` in one line."""
    path = Path(path)
    try:
        return torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as err:
        asked = re.search(r"GLOBAL ([\w.]+)", str(err))
        if asked:
            reason = f"was refused: it would call {asked.group(1)}, and only tensors and plain data are read"
            raise UnreadableFileError(path, reason, refused=True) from err
        raise UnreadableFileError(path, "is not a torch file, or is truncated", refused=False) from err
    except (RuntimeError, EOFError, OSError, ValueError) as err:
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise UnreadableFileError(path, f"is not a torch file, or is truncated ({first})", refused=False) from err


class UnsafePickleError(pickle.UnpicklingError, ValueError):
    """A pickle asked for a type outside the few a data file may hold, or is no pickle at all."""


class _PlainDataUnpickler(pickle.Unpickler):
    """Unpickles builtin containers, bytes, strings, numbers and numpy arrays; refuses every other global."""

    ALLOWED: ClassVar[set[tuple[str, str]]] = {
        ("numpy.core.multiarray", "_reconstruct"),
        ("numpy._core.multiarray", "_reconstruct"),
        ("numpy", "ndarray"),
        ("numpy", "dtype"),
        ("numpy.core.multiarray", "scalar"),
        ("numpy._core.multiarray", "scalar"),
        ("numpy.core.numeric", "_frombuffer"),  # pickle protocol 5
        ("numpy._core.numeric", "_frombuffer"),
        ("builtins", "bytearray"),
        ("_codecs", "encode"),  # how protocol-2 pickles spell bytes objects
    }

    def find_class(self, module: str, name: str):
        if (module, name) in self.ALLOWED:
            return super().find_class(module, name)
        raise UnsafePickleError(f"it asks for {module}.{name}, which a data file has no reason to hold")


def load_plain_pickle(path: str | Path, encoding: str = "bytes") -> Any:
    """Read a pickle of plain data (dicts, lists, bytes, numbers, numpy arrays) without running any code:
    the format of the CIFAR python batches. Anything else raises :class:`UnsafePickleError` naming the file."""
    with open(path, "rb") as f:
        try:
            return _PlainDataUnpickler(f, encoding=encoding).load()
        except UnsafePickleError as e:
            raise UnsafePickleError(f"{path} was refused: {e}; only plain data (dicts, lists, arrays) is read") from e
        except (pickle.UnpicklingError, EOFError, ValueError, TypeError) as e:
            raise UnsafePickleError(f"{path} is not a readable pickle of plain data ({e})") from e
