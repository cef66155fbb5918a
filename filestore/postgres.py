"""A Django storage in the database itself: a host needs only DATABASE_URL to share files.

Writes stream the content into chunk rows (never one whole-file value), hash it on the way and
then either name the new blob by its sha256 or, when those bytes are already stored, drop the
new chunks and point the name at the existing blob. Reads fetch one chunk at a time and verify
each chunk's sha256 before returning its bytes, then the whole file's sha256 at the end: a
damaged row is refused (CorruptBlobError, an OSError), never served.

Works on Postgres and on SQLite (same tables; SQLite has no row locks, so concurrent writers
there rely on its database-wide write lock).
"""

from __future__ import annotations

import hashlib
import io
import posixpath

from django.core.exceptions import SuspiciousFileOperation
from django.core.files import File
from django.core.files.storage import Storage
from django.db import IntegrityError, transaction
from django.utils.deconstruct import deconstructible

from .models import Blob, BlobChunk, BlobName

DEFAULT_CHUNK_SIZE = 1 << 20


class CorruptBlobError(OSError):
    """A stored chunk or file does not match its recorded sha256 (or a chunk is missing)."""


@deconstructible(path="filestore.postgres.PostgresBlobStorage")
class PostgresBlobStorage(Storage):
    def __init__(
        self, namespace: str, chunk_size: int = DEFAULT_CHUNK_SIZE, using: str = "default"
    ):
        if not namespace or len(namespace) > 32:
            raise ValueError("PostgresBlobStorage needs a namespace of 1 to 32 characters")
        if chunk_size < 1:
            raise ValueError("chunk_size must be positive")
        self.namespace = namespace
        self.chunk_size = int(chunk_size)
        self.using = using

    # --- Names --------------------------------------------------------------------------------

    def _clean(self, name: str) -> str:
        name = str(name).replace("\\", "/")
        clean = posixpath.normpath(name)
        if (
            not name
            or "\x00" in name
            or clean.startswith(("/", "../"))
            or clean in (".", "..")
            or len(clean) > 255
        ):
            raise SuspiciousFileOperation(f"Refused storage name {name!r}.")
        return clean

    def _names(self):
        return BlobName.objects.using(self.using).filter(namespace=self.namespace)

    def _row(self, name: str) -> BlobName:
        row = self._names().filter(name=self._clean(name)).select_related("blob").first()
        if row is None:
            raise FileNotFoundError(f"{self.namespace}:{name} does not exist")
        return row

    # --- Storage API --------------------------------------------------------------------------

    def _open(self, name, mode="rb"):
        if mode not in ("r", "rb"):
            raise ValueError(
                f"PostgresBlobStorage files are read-only once written (mode {mode!r})"
            )
        row = self._row(name)
        raw = _BlobReader(row.blob, using=self.using, label=f"{self.namespace}:{row.name}")
        return File(io.BufferedReader(raw, buffer_size=self.chunk_size), name=row.name)

    def _save(self, name, content):
        name = self._clean(name)
        if hasattr(content, "seek") and getattr(content, "seekable", lambda: True)():
            content.seek(0)
        with transaction.atomic(using=self.using):
            blob = self._write_chunks(content)
            try:
                with transaction.atomic(using=self.using):
                    BlobName.objects.using(self.using).create(
                        namespace=self.namespace, name=name, blob=blob
                    )
            except IntegrityError:
                raise FileExistsError(
                    f"{self.namespace}:{name} already exists; stored files are never overwritten"
                ) from None
        return name

    def _write_chunks(self, content) -> Blob:
        """Store the content's chunks under a new blob, then dedupe it by its sha256."""
        db = self.using
        blob = Blob.objects.using(db).create()
        digest, size, index = hashlib.sha256(), 0, 0
        for piece in _pieces(content, self.chunk_size):
            digest.update(piece)
            BlobChunk.objects.using(db).create(
                blob=blob, index=index, sha256=hashlib.sha256(piece).hexdigest(), data=piece
            )
            size += len(piece)
            index += 1
        sha256 = digest.hexdigest()
        # Locked so that a concurrent delete of its last name cannot remove it under us.
        existing = Blob.objects.using(db).select_for_update().filter(sha256=sha256).first()
        if existing is None:
            try:
                with transaction.atomic(using=db):
                    Blob.objects.using(db).filter(pk=blob.pk).update(
                        sha256=sha256, size=size, chunks_count=index
                    )
                    blob.sha256, blob.size, blob.chunks_count = sha256, size, index
                    return blob
            except IntegrityError:  # the same bytes committed by another writer meanwhile
                existing = Blob.objects.using(db).select_for_update().get(sha256=sha256)
        blob.delete()
        return existing

    def delete(self, name):
        name = self._clean(name)
        with transaction.atomic(using=self.using):
            row = self._names().select_for_update().filter(name=name).first()
            if row is None:
                return
            blob_id = row.blob_id
            row.delete()
            self._drop_if_orphan(blob_id)

    def replace(self, name, content) -> None:
        """Point an existing name at new content in one transaction; the name keeps its age
        (a purge of erased rows must not extend a file's retention)."""
        name = self._clean(name)
        with transaction.atomic(using=self.using):
            row = self._names().select_for_update().filter(name=name).first()
            if row is None:
                raise FileNotFoundError(f"{self.namespace}:{name} does not exist")
            old = row.blob_id
            row.blob = self._write_chunks(content)
            row.save(update_fields=["blob"])
            if old != row.blob_id:
                self._drop_if_orphan(old)

    def _drop_if_orphan(self, blob_id: int) -> None:
        blobs = Blob.objects.using(self.using).select_for_update().filter(pk=blob_id)
        if blobs.exists() and not BlobName.objects.using(self.using).filter(blob_id=blob_id):
            blobs.delete()  # the last name: its chunks go with it (CASCADE)

    def exists(self, name):
        return self._names().filter(name=self._clean(name)).exists()

    def size(self, name):
        return self._row(name).blob.size

    def sha256(self, name) -> str:
        """The recorded sha256 of a stored file (without reading it)."""
        return self._row(name).blob.sha256

    def listdir(self, path):
        prefix = self._clean(path) + "/" if path not in ("", ".", "/") else ""
        directories, files = set(), []
        for name in self._names().filter(name__startswith=prefix).values_list("name", flat=True):
            head, _, tail = name[len(prefix) :].partition("/")
            if tail:
                directories.add(head)
            else:
                files.append(head)
        return sorted(directories), sorted(files)

    def get_created_time(self, name):
        return self._row(name).created_at

    get_modified_time = get_created_time
    get_accessed_time = get_created_time

    def url(self, name):
        raise NotImplementedError("Files in the database are served by MindPulse's own views.")


def _pieces(content, size: int):
    """The content in pieces of exactly `size` bytes (the last one shorter)."""
    buffer = b""
    for part in (
        content.chunks(size)
        if hasattr(content, "chunks")
        else iter(lambda: content.read(size), b"")
    ):
        buffer += part if isinstance(part, bytes) else part.encode()
        while len(buffer) >= size:
            yield buffer[:size]
            buffer = buffer[size:]
    if buffer:
        yield buffer


class _BlobReader(io.RawIOBase):
    """Reads a blob chunk by chunk; each chunk verified before its bytes are returned."""

    def __init__(self, blob: Blob, *, using: str, label: str):
        self.blob = blob
        self.using = using
        self.label = label
        self.index = 0
        self.pending = b""
        self.digest = hashlib.sha256()
        self.size = 0

    def readable(self):
        return True

    def readinto(self, buffer):
        if not self.pending:
            self.pending = self._next_chunk()
        count = min(len(buffer), len(self.pending))
        buffer[:count] = self.pending[:count]
        self.pending = self.pending[count:]
        return count

    def _next_chunk(self) -> bytes:
        blob = self.blob
        if self.index >= blob.chunks_count:
            if self.index == blob.chunks_count and self.digest is not None:
                self._check_whole()
            return b""
        row = (
            BlobChunk.objects.using(self.using)
            .filter(blob_id=blob.pk, index=self.index)
            .values_list("sha256", "data")
            .first()
        )
        if row is None:
            raise CorruptBlobError(f"{self.label}: chunk {self.index} is missing; refused")
        expected, data = row[0], bytes(row[1])
        if hashlib.sha256(data).hexdigest() != expected:
            raise CorruptBlobError(
                f"{self.label}: chunk {self.index} does not match its sha256; refused"
            )
        self.digest.update(data)
        self.size += len(data)
        self.index += 1
        return data

    def _check_whole(self) -> None:
        actual = self.digest.hexdigest()
        self.digest = None  # checked once
        if actual != self.blob.sha256 or self.size != self.blob.size:
            raise CorruptBlobError(
                f"{self.label}: the file's sha256 {actual[:12]}… ({self.size} bytes) differs from "
                f"the recorded {str(self.blob.sha256)[:12]}… ({self.blob.size} bytes); refused"
            )
