"""The default backend: a local folder named by a setting (ARTIFACTS_DIR, REPORTS_DIR, ...).

FileSystemStorage, with three differences that MindPulse's files need:
- the folder is read from the setting at each use, so a test (or a command) that changes the
  setting moves the storage with it;
- a write goes to a ".part" file, fsynced, then is linked into place: readers see no file or
  the whole file, and an existing file is never overwritten (FileExistsError);
- a name that resolves (symlinks included) outside the folder is refused, so no database row
  can make a view serve another file.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from django.conf import settings
from django.core.exceptions import SuspiciousFileOperation
from django.core.files.storage import FileSystemStorage
from django.utils.deconstruct import deconstructible


@deconstructible(path="filestore.local.SettingDirStorage")
class SettingDirStorage(FileSystemStorage):
    def __init__(self, setting: str, **kwargs):
        self.setting = setting
        super().__init__(**kwargs)

    @property
    def base_location(self):
        return str(getattr(settings, self.setting))

    @property
    def location(self):
        return os.path.abspath(self.base_location)

    def path(self, name):
        base = Path(self.location).resolve()
        path = Path(super().path(name)).resolve()
        if path == base or not path.is_relative_to(base):
            raise SuspiciousFileOperation(f"{name!r} is outside {self.setting}.")
        return str(path)

    def listdir(self, path):
        if path in ("", "."):  # the folder itself, which path() refuses as a file name
            try:
                entries = list(os.scandir(self.location))
            except FileNotFoundError:
                return [], []
            directories = [e.name for e in entries if e.is_dir()]
            return directories, [e.name for e in entries if e.is_file()]
        return super().listdir(path)

    def _save(self, name, content):
        full = Path(self.path(name))
        if full.name.endswith(".part"):
            raise SuspiciousFileOperation(f"{name!r}: .part names are reserved for writes")
        full.parent.mkdir(parents=True, exist_ok=True)
        fd, part = tempfile.mkstemp(dir=full.parent, prefix=f".{full.name}.", suffix=".part")
        try:
            with os.fdopen(fd, "wb") as handle:
                if hasattr(content, "seek") and getattr(content, "seekable", lambda: True)():
                    content.seek(0)
                for chunk in content.chunks():
                    handle.write(chunk if isinstance(chunk, bytes) else chunk.encode())
                handle.flush()
                os.fsync(handle.fileno())
            os.chmod(part, self.file_permissions_mode or 0o644)
            _link_new(part, full)
        finally:
            Path(part).unlink(missing_ok=True)
        _fsync_directory(full.parent)
        return name


def _link_new(part: str, final: Path) -> None:
    """Put `part` at `final` unless `final` exists (atomic where hard links are supported)."""
    try:
        os.link(part, final)
    except FileExistsError:
        raise FileExistsError(
            f"{final} already exists; stored files are never overwritten"
        ) from None
    except OSError:  # a file system without hard links: check, then rename
        if final.exists():
            raise FileExistsError(
                f"{final} already exists; stored files are never overwritten"
            ) from None
        os.replace(part, final)


def _fsync_directory(directory: Path) -> None:
    # POSIX only; the rename itself must survive a crash.
    if os.name != "posix":
        return
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
