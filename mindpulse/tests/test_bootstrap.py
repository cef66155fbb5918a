import pytest
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command

from training.models import ModelVersion, StudentRecord

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _no_superuser_env(monkeypatch):
    for name in ("DJANGO_SUPERUSER_USERNAME", "DJANGO_SUPERUSER_PASSWORD", "STUDENTS_CSV"):
        monkeypatch.delenv(name, raising=False)


def test_it_prepares_data_and_a_model_once():
    call_command("bootstrap", rows=1500, verbosity=0)
    call_command("bootstrap", rows=1500, verbosity=0)
    assert StudentRecord.objects.count() == 1500
    assert ModelVersion.objects.count() == 1
    assert ModelVersion.objects.get().status == "active"


def test_it_creates_no_account_without_the_variables():
    call_command("bootstrap", rows=1500, verbosity=0)
    assert not get_user_model().objects.exists()


def test_it_creates_the_superuser_from_the_environment(monkeypatch):
    monkeypatch.setenv("DJANGO_SUPERUSER_USERNAME", "ops")
    monkeypatch.setenv("DJANGO_SUPERUSER_PASSWORD", "a-long-unguessable-passphrase-42")
    monkeypatch.setenv("DJANGO_SUPERUSER_EMAIL", "ops@example.org")
    call_command("bootstrap", rows=1500, verbosity=0)
    user = get_user_model().objects.get(username="ops")
    assert user.is_superuser and user.check_password("a-long-unguessable-passphrase-42")


def test_it_refuses_a_guessable_superuser_password(monkeypatch):
    monkeypatch.setenv("DJANGO_SUPERUSER_USERNAME", "admin")
    monkeypatch.setenv("DJANGO_SUPERUSER_PASSWORD", "admin")
    monkeypatch.setenv("DJANGO_SUPERUSER_EMAIL", "admin@example.org")
    with pytest.raises(CommandError, match="refused"):
        call_command("bootstrap", rows=1500, verbosity=0)
    assert not get_user_model().objects.exists()


def test_it_imports_the_real_csv_when_given(monkeypatch, tmp_path):
    from training import datagen

    path = tmp_path / "students.csv"
    datagen.write_csv(datagen.generate_students(1200, seed=9), path)
    monkeypatch.setenv("STUDENTS_CSV", str(path))
    call_command("bootstrap", verbosity=0)
    assert StudentRecord.objects.count() == 1200
