"""Security, round two: one test (or more) per finding of issue 13, each failing on the code
before the fix. The numbers are the issue's. The poisoning defence is proven in
predictions/tests/test_provenance.py and training/tests/test_poisoning.py, the schema contract
in test_schema_fuzz.py, the CSP in a real browser in predictions/tests/test_browser.py.
"""

from __future__ import annotations

import base64
import json
import os
import re
import threading
import uuid
from pathlib import Path

import pytest
from axes.models import AccessAttempt
from django.contrib.auth.hashers import MD5PasswordHasher
from django.contrib.auth.models import Permission
from django.db import connection
from django.test import Client
from rest_framework.authtoken.models import Token

from mindpulse.testing import SAMPLE_FEATURES
from predictions import services
from predictions.models import Feedback, Prediction
from privacy.reporting import axes_pseudonym
from training import serving

pytestmark = pytest.mark.django_db

ROOT = Path(__file__).resolve().parents[2]
PASSWORD = "a-long-unguessable-passphrase-42"
FEATURES = SAMPLE_FEATURES


def _basic(username: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{username}:{password}".encode()).decode()


@pytest.fixture
def hashes(monkeypatch):
    """Counts the password hashes computed (the test settings hash with MD5)."""
    calls = []
    original = MD5PasswordHasher.encode

    def encode(self, password, salt):
        calls.append(1)
        return original(self, password, salt)

    monkeypatch.setattr(MD5PasswordHasher, "encode", encode)
    return calls


@pytest.fixture
def stored(active_model):
    return services.prediction_create(dict(FEATURES), channel=Prediction.Channel.API)


def _staff_urls(prediction) -> list[tuple[str, str]]:
    return [
        ("get", f"/api/predictions/{prediction.pk}"),
        ("post", "/api/retrain"),
        ("get", "/api/retrain/1"),
    ]


# --- 1. Password hashing as a denial of service -------------------------------------------------


def test_it_computes_no_password_hash_for_an_anonymous_basic_guess(
    client, hashes, stored, django_user_model
):
    django_user_model.objects.create_user("counsellor", password=PASSWORD, is_staff=True)
    hashes.clear()
    for method, url in _staff_urls(stored):
        for username in ("no-such-user-1", "counsellor"):
            response = getattr(client, method)(
                url, HTTP_AUTHORIZATION=_basic(username, "guess"), content_type="application/json"
            )
            assert response.status_code in (401, 403), url
    assert hashes == []
    assert not AccessAttempt.objects.exists()  # no row written per guess either


def test_it_refuses_basic_even_with_the_right_password(client, stored, django_user_model):
    django_user_model.objects.create_superuser("counsellor", "c@example.org", PASSWORD)
    response = client.get(
        f"/api/predictions/{stored.pk}", HTTP_AUTHORIZATION=_basic("counsellor", PASSWORD)
    )
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == "Token"


def test_it_authenticates_a_token_without_hashing_and_forgets_a_revoked_one(
    client, hashes, stored, django_user_model
):
    user = django_user_model.objects.create_superuser("counsellor", "c@example.org", PASSWORD)
    hashes.clear()
    token = Token.objects.create(user=user)
    url = f"/api/predictions/{stored.pk}"
    assert client.get(url, HTTP_AUTHORIZATION=f"Token {token.key}").status_code == 200
    assert client.get(url, HTTP_AUTHORIZATION=f"Token {'0' * 40}").status_code == 401
    assert hashes == []
    token.delete()  # revoked in the admin ("Auth Token")
    assert client.get(url, HTTP_AUTHORIZATION=f"Token {token.key}").status_code == 401


# --- 2. Lockout behind the documented proxy ----------------------------------------------------


def test_it_locks_out_the_client_behind_the_proxy_not_the_proxy(settings, django_user_model):
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "NUM_PROXIES": 1}
    settings.AXES_FAILURE_LIMIT = 5
    django_user_model.objects.create_user(
        "counsellor", password=PASSWORD, is_staff=True, is_superuser=True
    )
    proxy = "10.0.0.2"
    victim = "198.51.100.7"

    def login(forwarded_for: str, password: str):
        client = Client(REMOTE_ADDR=proxy, HTTP_X_FORWARDED_FOR=forwarded_for)
        form = {"username": "counsellor", "password": password, "next": "/admin/"}
        return client.post("/admin/login/", form)

    # The attacker even writes the victim's address first: the proxy appends the real one.
    for attempt in range(5):
        login(f"{victim}, 203.0.113.9", f"wrong-{attempt}")
    assert login(f"{victim}, 203.0.113.9", PASSWORD).status_code == 429
    (locked,) = AccessAttempt.objects.all()
    assert locked.ip_address == axes_pseudonym("203.0.113.9")  # never the address
    assert login(victim, PASSWORD).status_code == 302  # the staff member signs in


def test_it_falls_back_to_the_peer_when_the_forwarded_address_is_not_one(
    settings, django_user_model
):
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "NUM_PROXIES": 1}
    django_user_model.objects.create_user("counsellor", password=PASSWORD, is_staff=True)
    client = Client(REMOTE_ADDR="10.0.0.2", HTTP_X_FORWARDED_FOR="not-an-address")
    response = client.post("/admin/login/", {"username": "counsellor", "password": "wrong"})
    assert response.status_code == 200
    assert AccessAttempt.objects.get().ip_address == axes_pseudonym("10.0.0.2")


# --- 3. Unbounded error echo -------------------------------------------------------------------


@pytest.mark.parametrize("keys", [60, 5000])
@pytest.mark.parametrize("path", ["/api/predict", "/api/feedback", "/feedback"])
def test_it_bounds_the_errors_reported_for_unknown_keys(client, active_model, path, keys):
    body = {**FEATURES, **{f"unknown_{i}": i for i in range(keys)}}
    if "feedback" in path:
        body = {"features": body, "prediction": 1, "actual": 0}
    response = client.post(path, body, content_type="application/json")
    assert response.status_code == 400
    assert len(response.content) < 2048
    errors = response.json().get("errors", {})
    assert len(errors) <= 12
    assert not Prediction.objects.exists()


def test_it_says_how_many_unknown_keys_it_did_not_list(client, active_model):
    body = {**FEATURES, **{f"unknown_{i}": i for i in range(25)}}
    response = client.post("/api/predict", body, content_type="application/json")
    errors = response.json()["errors"]
    assert len([key for key in errors if key.startswith("unknown_")]) == 10
    assert errors["non_field_errors"] == ["15 more unknown fields are not listed."]


def test_it_shortens_a_long_unknown_key(client, active_model):
    body = {**FEATURES, "k" * 100_000: 1}
    response = client.post("/api/predict", body, content_type="application/json")
    assert response.status_code == 400 and len(response.content) < 1024


# --- 4. Lone surrogates ------------------------------------------------------------------------

PUBLIC_JSON = ["/api/predict", "/predict", "/api/feedback", "/feedback", "/api/predict/batch"]


def _with_surrogate(path: str, where: str) -> str:
    features = json.dumps(FEATURES)
    if where == "value":
        features = features.replace('"Female"', '"Fem\\ud800ale"')
    else:
        features = features[:-1] + ', "\\udfff": 1}'
    if "feedback" in path:
        return f'{{"features": {features}, "prediction": 1, "actual": 0}}'
    if "batch" in path:
        return f"[{features}]"
    return features


@pytest.mark.parametrize("where", ["value", "key"])
@pytest.mark.parametrize("path", PUBLIC_JSON)
def test_it_refuses_a_lone_surrogate_with_a_400(client, active_model, path, where):
    response = client.post(path, _with_surrogate(path, where), content_type="application/json")
    assert response.status_code == 400
    assert "surrogate" in response.json()["detail"]
    assert not Prediction.objects.exists()


def test_it_refuses_a_lone_surrogate_in_a_staff_request(admin_client):
    response = admin_client.post(
        "/api/retrain", '{"note": "a\\ud800"}', content_type="application/json"
    )
    assert response.status_code == 400


# --- 5. A NUL byte in the credentials ----------------------------------------------------------


@pytest.mark.parametrize(
    "header",
    [
        _basic("ad\x00min", "x"),
        _basic("admin", "pass\x00word"),
        "Token " + "a" * 20 + "\x00" + "a" * 19,
        "Token \x00",
    ],
    ids=["basic-user", "basic-password", "token-40", "token-short"],
)
def test_it_answers_a_nul_byte_in_the_credentials_with_a_4xx(client, stored, header):
    for method, url in _staff_urls(stored):
        response = getattr(client, method)(
            url, HTTP_AUTHORIZATION=header, content_type="application/json"
        )
        assert response.status_code in (401, 403), url


# --- 6. Duplicate JSON keys --------------------------------------------------------------------


def test_it_refuses_duplicate_keys_and_stores_nothing(client, active_model):
    body = json.dumps(FEATURES)[:-1] + ', "Age": 99}'
    response = client.post("/api/predict", body, content_type="application/json")
    assert response.status_code == 400
    assert 'duplicate key "Age"' in response.json()["detail"]
    features = json.dumps(FEATURES)
    feedback = f'{{"features": {features}, "prediction": 1, "actual": 0, "actual": 1}}'
    response = client.post("/feedback", feedback, content_type="application/json")
    assert response.status_code == 400
    assert not Prediction.objects.exists() and not Feedback.objects.exists()


def test_it_refuses_duplicate_keys_in_a_nested_object(client, stored):
    body = f'{{"prediction_id": "{stored.pk}", "actual": 0, "prediction_id": "{uuid.uuid4()}"}}'
    response = client.post("/api/feedback", body, content_type="application/json")
    assert response.status_code == 400
    assert not Feedback.objects.exists()


# --- 7. Threaded workers answer 503 while loading ----------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_it_makes_a_second_thread_wait_for_the_model_being_loaded(active_model, monkeypatch):
    """gthread workers: while one thread loads the model, another must not answer "no model"."""
    serving.reset_cache()
    loading, release = threading.Event(), threading.Event()
    original = serving.load_version

    def slow_load(row):
        loading.set()
        release.wait(30)
        return original(row)

    monkeypatch.setattr(serving, "load_version", slow_load)
    monkeypatch.setattr("django.conf.settings.ACTIVE_MODEL_CHECK_SECONDS", 60)
    answers = {}

    def ask(name):
        try:
            answers[name] = serving.get_active_model()
        finally:
            connection.close()  # each thread's own connection

    first = threading.Thread(target=ask, args=("first",))
    first.start()
    assert loading.wait(30)
    second = threading.Thread(target=ask, args=("second",))
    second.start()
    second.join(0.5)  # before the fix, it has answered None by now
    release.set()
    first.join(30)
    second.join(30)
    assert answers["first"] is not None
    assert answers["second"] is answers["first"]


# --- 8. A refused artifact, then the good file restored ----------------------------------------


def test_it_reports_a_refused_artifact_and_serves_again_once_the_file_is_restored(
    client, active_model, settings
):
    path = Path(settings.ARTIFACTS_DIR) / active_model.artifact_path
    good = path.read_bytes()
    path.write_bytes(good + b"tampered")
    serving.reset_cache()

    response = client.post("/api/predict", FEATURES, content_type="application/json")
    assert response.status_code == 503
    detail = response.json()["detail"]
    assert "refused" in detail and "No model is in service yet" not in detail

    # Restored as an operator would (a copy renamed into place), no restart.
    restored = path.with_suffix(".restore")
    restored.write_bytes(good)
    os.replace(restored, path)
    response = client.post("/api/predict", FEATURES, content_type="application/json")
    assert response.status_code == 200
    assert response.json()["model_version"] == active_model.version


def test_it_tries_a_refused_file_again_after_a_while_even_unchanged_on_disk(
    active_model, settings, monkeypatch
):
    path = Path(settings.ARTIFACTS_DIR) / active_model.artifact_path
    good = path.read_bytes()
    stat = path.stat()
    path.write_bytes(good[:-1] + bytes([good[-1] ^ 1]))
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    serving.reset_cache()
    assert serving.get_active_model() is None
    path.write_bytes(good)  # in place: same inode, same size; the time stamp put back too
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert serving.get_active_model() is None  # the same file is not hashed on every request
    clock = serving.time.monotonic() + serving.REFUSED_RETRY_SECONDS + 1
    monkeypatch.setattr(serving.time, "monotonic", lambda: clock)
    assert serving.get_active_model().version_id == active_model.pk


# --- 9. Staff without permissions read every prediction ----------------------------------------


def test_it_refuses_staff_without_the_view_permission_like_the_admin(
    client, stored, django_user_model
):
    staff = django_user_model.objects.create_user("helper", password=PASSWORD, is_staff=True)
    client.force_login(staff)
    url = f"/api/predictions/{stored.pk}"
    assert client.get(url).status_code == 403
    assert client.get("/admin/predictions/prediction/").status_code == 403
    staff.user_permissions.add(Permission.objects.get(codename="view_prediction"))
    staff = django_user_model.objects.get(pk=staff.pk)  # a fresh permission cache
    client.force_login(staff)
    assert client.get(url).status_code == 200


# --- 10. Content-Security-Policy and Swagger UI from the project -------------------------------


@pytest.mark.parametrize("path", ["/", "/admin/login/", "/api/docs/", "/predictions/batch/"])
def test_it_sends_a_content_security_policy_without_inline_code(client, path):
    response = client.get(path)
    assert response.status_code == 200
    policy = response.headers["Content-Security-Policy"]
    assert "script-src 'self'" in policy and "style-src 'self'" in policy
    assert "unsafe-inline" not in policy and "object-src 'none'" in policy


def test_it_serves_swagger_ui_from_its_own_static_files(client):
    page = client.get("/api/docs/").content.decode()
    sources = re.findall(r'(?:src|href)="([^"]+)"', page)
    assert sources and all(source.startswith("/") for source in sources), sources
    assert "<style" not in page and re.search(r"<script>\s*\S", page) is None
    for source in sources:
        response = client.get(source)
        assert response.status_code == 200, source
        if hasattr(response, "streaming_content"):
            b"".join(response.streaming_content)


# --- 12. The Docker image would carry secrets and data -----------------------------------------


def _docker_ignored(patterns: list[str], path: str) -> bool:
    """Docker's .dockerignore rules: Go's filepath.Match plus `**`, a directory excluding what
    it holds, the last matching line winning and `!` re-including."""
    ignored = False
    for line in patterns:
        negate = line.startswith("!")
        pattern = line[1:] if negate else line
        pattern = os.path.normpath(pattern.strip().lstrip("/"))
        regex = ""
        i = 0
        while i < len(pattern):
            if pattern.startswith("**/", i):
                regex += "(?:.*/)?"
                i += 3
            elif pattern.startswith("**", i):
                regex += ".*"
                i += 2
            elif pattern[i] == "*":
                regex += "[^/]*"
                i += 1
            elif pattern[i] == "?":
                regex += "[^/]"
                i += 1
            else:
                regex += re.escape(pattern[i])
                i += 1
        if re.fullmatch(regex + "(?:/.*)?", path):
            ignored = not negate
    return ignored


def _dockerignore() -> list[str]:
    lines = (ROOT / ".dockerignore").read_text().splitlines()
    return [line.strip() for line in lines if line.strip() and not line.startswith("#")]


@pytest.mark.parametrize(
    "path",
    [
        ".venv/bin/python",
        "var/secret_key",
        "var/mindpulse.sqlite3",
        "var/reports/report-1.html",
        "artifacts/model-v1.joblib",
        ".git/config",
        "mindpulse.sqlite3",
        "backup/old.sqlite3",
        ".env",
        ".env.production",
        "predictions/__pycache__/api.cpython-311.pyc",
    ],
)
def test_it_keeps_secrets_data_and_environments_out_of_the_image(path):
    assert _docker_ignored(_dockerignore(), path)


@pytest.mark.parametrize(
    "path", ["manage.py", "requirements.txt", "predictions/api.py", "static/css/mindpulse.css"]
)
def test_it_still_sends_the_code_to_the_build(path):
    assert not _docker_ignored(_dockerignore(), path)


def test_it_sends_nothing_secret_from_this_working_copy():
    sent = []
    for folder, dirs, files in os.walk(ROOT):
        relative = os.path.relpath(folder, ROOT)
        relative = "" if relative == "." else relative + "/"
        dirs[:] = [d for d in dirs if not _docker_ignored(_dockerignore(), relative + d)]
        sent += [relative + f for f in files if not _docker_ignored(_dockerignore(), relative + f)]
    assert "manage.py" in sent
    leaks = [p for p in sent if p.endswith((".sqlite3", "secret_key")) or p.startswith(".venv")]
    assert leaks == []


def test_it_builds_an_image_that_runs_unprivileged_and_takes_its_secret_from_the_environment():
    dockerfile = (ROOT / "Dockerfile").read_text()
    users = re.findall(r"^USER\s+(\S+)", dockerfile, re.MULTILINE)
    assert users and users[-1] not in ("root", "0")
    assert "SECRET_KEY" not in dockerfile and "secret_key" not in dockerfile
