"""The database storage backend: chunks, streaming, verification, dedupe, deletes."""

from __future__ import annotations

import hashlib
import io
from datetime import timedelta

import pytest
from django.core.exceptions import SuspiciousFileOperation
from django.core.files import File
from django.core.files.base import ContentFile
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from filestore.models import Blob, BlobChunk, BlobName
from filestore.postgres import CorruptBlobError, PostgresBlobStorage

pytestmark = pytest.mark.django_db

CHUNK = 1024


@pytest.fixture
def storage():
    return PostgresBlobStorage(namespace="test", chunk_size=CHUNK)


def _bytes(n: int, seed: int = 1) -> bytes:
    return bytes((i * 31 + i // 251 + seed) % 256 for i in range(n))


class _RecordingFile(io.RawIOBase):
    """A source that records the largest read the storage asked of it."""

    def __init__(self, data: bytes):
        self.source = io.BytesIO(data)
        self.largest = 0

    def readable(self):
        return True

    def readinto(self, buffer):
        self.largest = max(self.largest, len(buffer))
        return self.source.readinto(buffer)


def test_it_round_trips_a_file_over_several_chunks(storage):
    data = _bytes(5 * CHUNK + 123)

    name = storage.save("models/m.joblib", ContentFile(data))

    assert name == "models/m.joblib"
    blob = BlobName.objects.get(namespace="test", name=name).blob
    assert blob.sha256 == hashlib.sha256(data).hexdigest() and blob.size == len(data)
    sizes = list(BlobChunk.objects.filter(blob=blob).order_by("index").values_list("data", flat=1))
    assert [len(bytes(s)) for s in sizes] == [CHUNK] * 5 + [123]
    with storage.open(name) as handle:
        assert handle.read() == data
    assert storage.size(name) == len(data) and storage.exists(name)


def test_it_streams_writes_and_reads_a_chunk_at_a_time(storage):
    data = _bytes(8 * CHUNK)
    source = _RecordingFile(data)

    storage.save("big.bin", File(io.BufferedReader(source, buffer_size=CHUNK), name="big.bin"))

    assert 0 < source.largest <= CHUNK  # the content was never read whole
    with CaptureQueriesContext(connection) as queries, storage.open("big.bin") as handle:
        first = handle.read(10)
    chunk_queries = [q["sql"] for q in queries if "filestore_blobchunk" in q["sql"]]
    assert first == data[:10]
    assert len(chunk_queries) == 1 and '"index" = 0' in chunk_queries[0].replace("'", "")


def test_it_refuses_a_corrupted_chunk(storage):
    data = _bytes(3 * CHUNK)
    storage.save("m.bin", ContentFile(data))
    chunk = BlobChunk.objects.get(blob__names__name="m.bin", index=1)
    damaged = bytearray(bytes(chunk.data))
    damaged[7] ^= 0xFF
    BlobChunk.objects.filter(pk=chunk.pk).update(data=bytes(damaged))

    with storage.open("m.bin") as handle:
        assert handle.read(CHUNK) == data[:CHUNK]  # the intact first chunk is served
        with pytest.raises(CorruptBlobError, match="chunk 1 does not match"):
            handle.read()


def test_it_refuses_a_file_whose_chunk_was_replaced_with_its_hash(storage):
    data = _bytes(2 * CHUNK)
    storage.save("m.bin", ContentFile(data))
    other = b"y" * CHUNK
    BlobChunk.objects.filter(blob__names__name="m.bin", index=1).update(
        data=other, sha256=hashlib.sha256(other).hexdigest()
    )

    with (
        pytest.raises(CorruptBlobError, match="differs from the recorded"),
        storage.open("m.bin") as handle,
    ):
        handle.read()


def test_it_refuses_a_missing_chunk(storage):
    storage.save("m.bin", ContentFile(_bytes(2 * CHUNK)))
    BlobChunk.objects.filter(blob__names__name="m.bin", index=1).delete()

    with (
        pytest.raises(CorruptBlobError, match="chunk 1 is missing"),
        storage.open("m.bin") as handle,
    ):
        handle.read()


def test_it_stores_the_same_bytes_once_and_deletes_without_orphaning(storage):
    data = _bytes(3 * CHUNK + 5)
    storage.save("a.bin", ContentFile(data))
    storage.save("b.bin", ContentFile(data))
    other = PostgresBlobStorage(namespace="other", chunk_size=CHUNK)
    other.save("a.bin", ContentFile(data))

    assert Blob.objects.count() == 1 and BlobChunk.objects.count() == 4
    storage.delete("a.bin")
    assert not storage.exists("a.bin") and other.exists("a.bin")
    with storage.open("b.bin") as handle:
        assert handle.read() == data  # the shared chunks are still there
    storage.delete("b.bin")
    other.delete("a.bin")
    assert Blob.objects.count() == 0 and BlobChunk.objects.count() == 0
    storage.delete("b.bin")  # already gone: fine


def test_it_never_overwrites_a_name(storage):
    storage.save("a.bin", ContentFile(b"first"))

    with pytest.raises(FileExistsError):
        storage._save("a.bin", ContentFile(b"second"))
    with storage.open("a.bin") as handle:
        assert handle.read() == b"first"
    assert Blob.objects.count() == 1  # the refused write left no chunks behind


@pytest.mark.parametrize("name", ["", ".", "..", "../a", "/etc/passwd", "a/../../b", "a\x00b"])
def test_it_refuses_names_that_leave_the_storage(storage, name):
    with pytest.raises(SuspiciousFileOperation):
        storage.exists(name)


def test_it_lists_folders_and_keeps_a_files_age_when_replaced(storage):
    storage.save("data_drift/a.html", ContentFile(b"a"))
    storage.save("data_drift/b.html", ContentFile(b"b"))
    storage.save("top.csv", ContentFile(b"id\n1\n2\n"))
    old = timezone.now() - timedelta(days=40)
    BlobName.objects.filter(name="top.csv").update(created_at=old)

    assert storage.listdir("") == (["data_drift"], ["top.csv"])
    assert storage.listdir("data_drift") == ([], ["a.html", "b.html"])
    storage.replace("top.csv", ContentFile(b"id\n2\n"))
    with storage.open("top.csv") as handle:
        assert handle.read() == b"id\n2\n"
    assert storage.get_modified_time("top.csv") == old
    assert Blob.objects.count() == 3  # the replaced bytes are gone


def test_it_works_through_django_named_storages(settings):
    from django.core.files.storage import storages

    settings.STORAGES = {
        **settings.STORAGES,
        "reports": {
            "BACKEND": "filestore.postgres.PostgresBlobStorage",
            "OPTIONS": {"namespace": "reports"},
        },
    }

    reports = storages["reports"]
    reports.save("x/r.html", ContentFile(b"<html>"))

    assert isinstance(reports, PostgresBlobStorage)
    assert BlobName.objects.filter(namespace="reports", name="x/r.html").exists()
