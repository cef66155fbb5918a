"""Blobs of the database storage backend (filestore.postgres).

A file's bytes are a Blob, identified by their sha256 and stored as BlobChunk rows of at most
`chunk_size` bytes, each with its own sha256 so that a reader refuses a damaged chunk before
handing over its bytes. A BlobName maps a storage's name to a blob; two names with the same
bytes share one blob, which is deleted with its last name.
"""

from django.db import models
from django.utils import timezone


class Blob(models.Model):
    # Null while the chunks are being written (the hash is known only at the end); "" would
    # collide in the unique index when two writes are in flight.
    sha256 = models.CharField(max_length=64, unique=True, null=True)  # noqa: DJ001 - see above
    size = models.BigIntegerField(default=0)
    chunks_count = models.IntegerField(default=0)
    created_at = models.DateTimeField(default=timezone.now)

    def __str__(self):
        return f"{(self.sha256 or 'incomplete')[:12]} ({self.size} bytes)"


class BlobChunk(models.Model):
    blob = models.ForeignKey(Blob, on_delete=models.CASCADE, related_name="chunks")
    index = models.IntegerField()
    sha256 = models.CharField(max_length=64)
    data = models.BinaryField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["blob", "index"], name="filestore_chunk_blob_index")
        ]

    def __str__(self):
        return f"chunk {self.index} of blob {self.blob_id}"


class BlobName(models.Model):
    namespace = models.CharField(max_length=32)
    name = models.CharField(max_length=255)
    # PROTECT: a blob is only deleted once no name points at it (PostgresBlobStorage.delete).
    blob = models.ForeignKey(Blob, on_delete=models.PROTECT, related_name="names")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["namespace", "name"], name="filestore_name_unique")
        ]

    def __str__(self):
        return f"{self.namespace}:{self.name}"
