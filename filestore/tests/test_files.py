"""The local backend's guarantees, and the privacy purge of archives kept in the database."""

from __future__ import annotations

import os
from datetime import timedelta

import pytest
from django.core.exceptions import SuspiciousFileOperation
from django.core.files.base import ContentFile
from django.test import Client
from django.utils import timezone

from filestore import files
from filestore.local import SettingDirStorage
from filestore.models import BlobName
from mindpulse.testing import SAMPLE_FEATURES
from predictions import services
from privacy.retention import retention_run


def test_it_follows_its_setting_and_never_overwrites(settings, tmp_path):
    storage = SettingDirStorage("ARCHIVE_DIR")
    settings.ARCHIVE_DIR = tmp_path / "first"
    files.save_new(storage, "a.csv", b"one")
    settings.ARCHIVE_DIR = tmp_path / "second"
    files.save_new(storage, "a.csv", b"two")

    with pytest.raises(FileExistsError):
        files.save_new(storage, "a.csv", b"three")
    with pytest.raises(FileExistsError):
        storage._save("a.csv", ContentFile(b"four"))
    assert (tmp_path / "first" / "a.csv").read_bytes() == b"one"
    assert (tmp_path / "second" / "a.csv").read_bytes() == b"two"
    assert sorted(p.name for p in (tmp_path / "second").iterdir()) == ["a.csv"]  # no .part left


def test_it_refuses_names_and_links_that_leave_the_folder(settings, tmp_path):
    settings.REPORTS_DIR = tmp_path / "reports"
    (tmp_path / "reports").mkdir()
    (tmp_path / "secret.html").write_text("SECRET")
    os.symlink(tmp_path / "secret.html", tmp_path / "reports" / "link.html")
    storage = SettingDirStorage("REPORTS_DIR")

    for name in ("../secret.html", "/etc/passwd", "link.html", "."):
        with pytest.raises(SuspiciousFileOperation):
            storage.open(name)


def test_it_keeps_a_files_age_when_the_purge_replaces_it(settings, tmp_path):
    settings.ARCHIVE_DIR = tmp_path / "archive"
    files.save_new(files.ARCHIVE, "a.csv", b"id\n1\n2\n")
    path = tmp_path / "archive" / "a.csv"
    old = (timezone.now() - timedelta(days=30)).timestamp()
    os.utime(path, (old, old))

    files.replace(files.ARCHIVE, "a.csv", b"id\n2\n")

    assert path.read_bytes() == b"id\n2\n" and path.stat().st_mtime == pytest.approx(old)


@pytest.mark.django_db
def test_it_purges_and_expires_archives_kept_in_the_database(database_storages, active_model):
    prediction = services.prediction_create(dict(SAMPLE_FEATURES), channel="api")
    recent = "prod_data_archived_20261201_000000.csv"
    files.save_new(files.ARCHIVE, recent, f"Age,prediction_id\n21,{prediction.pk}\n22,x\n".encode())
    files.save_new(files.ARCHIVE, "prod_data_archived_20250101_000000.csv", b"Age\n21\n")
    age = timezone.now() - timedelta(days=10)
    BlobName.objects.filter(namespace="archive", name=recent).update(created_at=age)
    BlobName.objects.filter(namespace="archive").exclude(name=recent).update(
        created_at=timezone.now() - timedelta(days=400)
    )
    Client().delete(f"/api/predictions/{prediction.pk}")

    run = retention_run()

    assert files.read_bytes(files.ARCHIVE, recent) == b"Age,prediction_id\n22,x\n"
    assert files.modified_at(files.ARCHIVE, recent) == age  # the purge kept its age
    assert list(files.walk(files.ARCHIVE)) == [recent]  # the 400-day-old one expired
    assert run.actions["archives_rows_purged"] == 1 and run.actions["archives_deleted"] == 1
