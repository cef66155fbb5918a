"""Settings of every MindPulse process (web, worker, beat, commands).

Every value comes from the environment through the typed helpers of `env.py`;
`.env.example` lists each variable with its default and meaning.
"""

from __future__ import annotations

import os
import secrets
from datetime import timedelta
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

from mindpulse.beat import entry as beat_entry
from monitoring import task_names as monitoring_tasks
from privacy import task_names as privacy_tasks
from training import task_names as training_tasks

from .env import (
    env_bool,
    env_choice,
    env_cron,
    env_float,
    env_http_url,
    env_int,
    env_list,
    env_networks,
    env_rate,
    env_str,
)

BASE_DIR = Path(__file__).resolve().parent.parent.parent
VAR_DIR = Path(env_str("VAR_DIR", str(BASE_DIR / "var")))
VAR_DIR.mkdir(parents=True, exist_ok=True)

DEBUG = env_bool("DEBUG", False)


def _secret_key() -> str:
    key = env_str("SECRET_KEY")
    if key:
        if not DEBUG and len(key) < 50:
            raise ImproperlyConfigured("SECRET_KEY must be at least 50 characters long.")
        return key
    if not DEBUG:
        raise ImproperlyConfigured(
            "SECRET_KEY must be set when DEBUG is off "
            "(python -c 'import secrets; print(secrets.token_urlsafe(64))')."
        )
    # Local use only: generated once, kept in the git-ignored var/ folder.
    path = VAR_DIR / "secret_key"
    if not path.exists():
        path.write_text(secrets.token_urlsafe(64))
        path.chmod(0o600)
    return path.read_text().strip()


SECRET_KEY = _secret_key()
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["localhost", "127.0.0.1", "[::1]"])
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])

# --- HTTPS and browser protections: on by default when DEBUG is off, so that
# `manage.py check --deploy` passes (mindpulse/tests/test_security_settings.py runs it).
# A plain-http run on loopback (the benchmark) sets SECURE_SSL_REDIRECT=false and the two
# cookie variables to false explicitly; see .env.example.
_HTTPS = not DEBUG
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", _HTTPS)
# Load balancers and orchestrators probe the health check over plain http.
SECURE_REDIRECT_EXEMPT = env_list("SECURE_REDIRECT_EXEMPT", [r"^api/health$", r"^health$"])
# Behind a TLS-terminating proxy that sets (overwrites) X-Forwarded-Proto.
if env_bool("TRUST_X_FORWARDED_PROTO", True):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 31_536_000 if _HTTPS else 0, minimum=0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", True)
SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", False)
SESSION_COOKIE_SECURE = env_bool("SESSION_COOKIE_SECURE", _HTTPS)
CSRF_COOKIE_SECURE = env_bool("CSRF_COOKIE_SECURE", _HTTPS)
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
SILENCED_SYSTEM_CHECKS = [
    # security.W021 asks for SECURE_HSTS_PRELOAD. Preloading puts the whole registrable
    # domain into the browsers' built-in HTTPS-only lists, a commitment that takes months to
    # undo and that only the owner of that domain can make (MindPulse usually runs on a
    # subdomain of an institution's domain). Opt in with SECURE_HSTS_PRELOAD=true.
    "security.W021",
]

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework.authtoken",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "csp",
    "axes",
    "django_celery_beat",
    "django_celery_results",
    "training",
    "predictions",
    "monitoring",
    "privacy",
    "filestore",
    "mindpulse",
]

MIDDLEWARE = [
    # First, so that its request line times and ids everything below it.
    "mindpulse.logs.RequestLogMiddleware",
    "mindpulse.errors.RequestSizeLimitMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "csp.middleware.CSPMiddleware",
    # Last, as django-axes requires: turns a locked-out login into its 429 answer.
    "axes.middleware.AxesMiddleware",
]

# --- Admin login brute-force protection (django-axes): AXES_FAILURE_LIMIT failed logins
# lock the username from that address for AXES_COOLOFF_MINUTES, even with the right
# password; attempts are listed in the admin ("Access attempts").
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AXES_FAILURE_LIMIT = env_int("AXES_FAILURE_LIMIT", 5, minimum=1)
AXES_COOLOFF_TIME = timedelta(minutes=env_float("AXES_COOLOFF_MINUTES", 30, minimum=1))
# "username+ip_address" counts failures per username AND address, so that a stranger cannot
# lock a staff member out from elsewhere, and every client behind one proxy is not locked
# out together. Comma-separated alternatives, "+" to combine (django-axes' semantics).
AXES_LOCKOUT_PARAMETERS = [
    item.split("+") if "+" in item else item
    for item in env_list("AXES_LOCKOUT_PARAMETERS", ["username+ip_address"])
]
AXES_RESET_ON_SUCCESS = True
# The client address is the same as the rate limits' (the NUM_PROXIES-th from the right of
# X-Forwarded-For: behind a proxy, REMOTE_ADDR is the proxy's, shared by everyone), recorded as
# its pseudonym: AXES_CLIENT_IP_CALLABLE is set with the privacy settings below.

# --- Content-Security-Policy (django-csp): only this origin's scripts, styles, images and
# frames; no inline script or style anywhere (the Evidently report file sets its own, stricter
# sandboxed policy in monitoring.views). Swagger UI's files are served from the project
# (drf-spectacular-sidecar), never from a CDN.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'"],
        "img-src": ["'self'", "data:"],
        "font-src": ["'self'"],
        "connect-src": ["'self'"],
        "frame-src": ["'self'"],
        "object-src": ["'none'"],
        "base-uri": ["'none'"],
        "form-action": ["'self'"],
        "frame-ancestors": ["'self'"],
    }
}

ROOT_URLCONF = "mindpulse.urls"
WSGI_APPLICATION = "mindpulse.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.i18n",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]


# WAL and immediate transactions let the web server, the worker and beat share an
# SQLite file without "database is locked" errors.
_SQLITE_OPTIONS = {
    "init_command": "PRAGMA journal_mode=WAL;",
    "transaction_mode": "IMMEDIATE",
    "timeout": 30,
}


# --- Database: Postgres when DATABASE_URL is set, an SQLite file under var/ otherwise.
def _databases() -> dict:
    url = env_str("DATABASE_URL")
    if url:
        try:
            config = dj_database_url.parse(url, conn_max_age=60, conn_health_checks=True)
        except ValueError as exc:
            raise ImproperlyConfigured(f"DATABASE_URL is not a valid database URL: {exc}") from None
        config.setdefault("OPTIONS", {})
        if config["ENGINE"] == "django.db.backends.sqlite3":
            config["OPTIONS"].update(_SQLITE_OPTIONS)
        else:
            config["OPTIONS"].setdefault("connect_timeout", env_int("DATABASE_CONNECT_TIMEOUT", 5))
        if config["ENGINE"] == "django.db.backends.postgresql":
            # Django's backend, minus the health-check SELECT 1 on a busy connection.
            config["ENGINE"] = "mindpulse.db.postgresql"
        return {"default": config}
    return {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": VAR_DIR / "mindpulse.sqlite3",
            "OPTIONS": dict(_SQLITE_OPTIONS),
            # A file (not :memory:) so that a worker process started by the tests sees
            # the same test database; one per test process, so parallel runs don't clash.
            "TEST": {"NAME": str(VAR_DIR / f"test-{os.getpid()}.sqlite3")},
        }
    }


DATABASES = _databases()
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en"
LANGUAGES = [("en", "English"), ("fr", "Français")]
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = env_str("TIME_ZONE", "UTC")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = VAR_DIR / "staticfiles"
WHITENOISE_USE_FINDERS = True

LOGIN_URL = "admin:login"

# --- Files written by MindPulse.
ARTIFACTS_DIR = Path(env_str("ARTIFACTS_DIR", str(BASE_DIR / "artifacts")))
REPORTS_DIR = Path(env_str("REPORTS_DIR", str(VAR_DIR / "reports")))
# Off: the monitoring reports keep their figures and alerts but write no Evidently HTML
# (its plotly figures are most of a report's time; the simulator turns it off).
REPORTS_HTML = env_bool("REPORTS_HTML", True)
ARCHIVE_DIR = Path(env_str("ARCHIVE_DIR", str(VAR_DIR / "archive")))
# Where model files, reports and archives are stored (docs/scaling.md): "local" keeps them in
# the three folders above (one host, or a shared volume); "postgres" keeps them in the database
# as content-addressed blobs, so that a host needs nothing but DATABASE_URL and the broker.
STORAGE_BACKEND = env_choice("STORAGE_BACKEND", "local", ("local", "postgres"))
# Verified model files a web process fetched from a non-local storage, kept by their sha256
# (read again and verified at each load), so that a restart does not fetch them again.
MODEL_CACHE_DIR = Path(env_str("MODEL_CACHE_DIR", str(VAR_DIR / "model-cache")))


def _file_storage(alias: str, setting: str) -> dict:
    if STORAGE_BACKEND == "postgres":
        return {
            "BACKEND": "filestore.postgres.PostgresBlobStorage",
            "OPTIONS": {"namespace": alias},
        }
    return {"BACKEND": "filestore.local.SettingDirStorage", "OPTIONS": {"setting": setting}}


STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
    "artifacts": _file_storage("artifacts", "ARTIFACTS_DIR"),
    "reports": _file_storage("reports", "REPORTS_DIR"),
    "archive": _file_storage("archive", "ARCHIVE_DIR"),
}

# --- The MLOps loop.
SELECTION_METRICS = (
    "roc_auc",
    "average_precision",
    "f1",
    "balanced_accuracy",
    "accuracy",
    "precision",
    "recall",
    "brier",
    "log_loss",
)
MODEL_SELECTION_METRIC = env_choice("MODEL_SELECTION_METRIC", "roc_auc", SELECTION_METRICS)
TRAINING_SEED = env_int("TRAINING_SEED", 42)
TRAINING_USE_PCA = env_bool("TRAINING_USE_PCA", False)
TRAINING_N_JOBS = env_int("TRAINING_N_JOBS", 2, minimum=1)
RETRAIN_THRESHOLD = env_int("RETRAIN_THRESHOLD", 1000, minimum=1)
# Share of drifted features above which the data counts as drifted: 0.2 = two of the nine
# (a covariate shift of sleep and stress moves exactly two; above DRIFT_MIN_ROWS, stable
# traffic flags at most one, see docs/loop.md).
DRIFT_THRESHOLD = env_float("DRIFT_THRESHOLD", 0.2, minimum=0, maximum=1)
ACCURACY_THRESHOLD = env_float("ACCURACY_THRESHOLD", 0.85, minimum=0, maximum=1)
# The performance trigger and its alert (training.triggers, monitoring.alert_rules): "relative"
# compares production with the model's own held-out figure (PERFORMANCE_METRIC, minus
# PERFORMANCE_TOLERANCE) and needs the drop to be significant for the labelled rows;
# "absolute" is the original rule, production accuracy below ACCURACY_THRESHOLD.
PERFORMANCE_TRIGGER = env_choice("PERFORMANCE_TRIGGER", "relative", ("relative", "absolute"))
PERFORMANCE_METRIC = env_choice("PERFORMANCE_METRIC", "roc_auc", ("roc_auc", "f1", "accuracy"))
PERFORMANCE_TOLERANCE = env_float("PERFORMANCE_TOLERANCE", 0.02, minimum=0, maximum=1)
# One-sided confidence of the significance test (a Wilson, Hanley-McNeil or bootstrap bound).
PERFORMANCE_CONFIDENCE = env_float("PERFORMANCE_CONFIDENCE", 0.95, minimum=0.5, maximum=0.999)
# Fewest production rows in the window for a drift report: below it, noise alone flags
# features (measured with `manage.py simulate --scenario stable`, see docs/loop.md).
DRIFT_MIN_ROWS = env_int("DRIFT_MIN_ROWS", 1000, minimum=1)
# With fewer than DRIFT_MIN_ROWS predictions in the report window, the drift report takes the
# latest DRIFT_MIN_ROWS predictions made within this many hours (skipped if there are fewer).
DRIFT_LOOKBACK_HOURS = env_int("DRIFT_LOOKBACK_HOURS", 72, minimum=1)
# The feedback that crosses RETRAIN_THRESHOLD queues its retrain this many seconds later, so
# that a burst of labels makes one retrain on all of them.
RETRAIN_FEEDBACK_DELAY_SECONDS = env_int("RETRAIN_FEEDBACK_DELAY_SECONDS", 3600, minimum=0)
# Rejected model versions whose files are kept (their rows always stay).
KEEP_REJECTED_VERSIONS = env_int("KEEP_REJECTED_VERSIONS", 5, minimum=0)
# A running retrain writes a heartbeat every RETRAIN_HEARTBEAT_SECONDS; one silent for
# RETRAIN_HEARTBEAT_TIMEOUT seconds lost its worker, and the next request frees its slot.
RETRAIN_HEARTBEAT_SECONDS = env_int("RETRAIN_HEARTBEAT_SECONDS", 30, minimum=1)
RETRAIN_HEARTBEAT_TIMEOUT = env_int("RETRAIN_HEARTBEAT_TIMEOUT", 300, minimum=10)
F1_THRESHOLD = env_float("F1_THRESHOLD", 0.0, minimum=0, maximum=1)
# The non-inferiority margin of the gate: promoted when the lower end of the 95 % interval of
# (challenger - champion) on the same rows is at least -PROMOTION_TOLERANCE (see gate.py).
PROMOTION_TOLERANCE = env_float("PROMOTION_TOLERANCE", 0.01, minimum=0, maximum=1)
# A candidate whose expected calibration error (10 equal-width bins) on validation exceeds this
# is calibrated on validation; the gate refuses a challenger whose test ECE still exceeds it.
MAX_ECE = env_float("MAX_ECE", 0.03, minimum=0, maximum=1)
# Largest recall gap between the groups of Gender or Department tolerated in production (an
# alert above it). Default: the 95th percentile of the worst gap over bootstrap resamples of
# the real sample's test split (0.44, bench/model_card.py), rounded up.
MAX_GROUP_RECALL_GAP = env_float("MAX_GROUP_RECALL_GAP", 0.45, minimum=0, maximum=1)
# The gate refuses a challenger whose worst recall gap exceeds the champion's by more than this.
GROUP_GAP_TOLERANCE = env_float("GROUP_GAP_TOLERANCE", 0.05, minimum=0, maximum=1)
MIN_LABELLED_ROWS = env_int("MIN_LABELLED_ROWS", 30, minimum=1)
# --- Label provenance (predictions.selectors.usable_labels, docs/security.md): the feedback
# sources a retrain learns from. student_link counts only when the feedback came at least
# MIN_LABEL_AGE after its prediction (a student reporting an outcome, not a script posting a
# prediction and its label at once); original_api (features and label from anyone) is left out.
LABEL_SOURCES = ("student_link", "original_api", "staff", "import")
RETRAIN_LABEL_SOURCES = env_list("RETRAIN_LABEL_SOURCES", ["staff", "import", "student_link"])
if not set(RETRAIN_LABEL_SOURCES) <= set(LABEL_SOURCES):
    raise ImproperlyConfigured(
        f"RETRAIN_LABEL_SOURCES={','.join(RETRAIN_LABEL_SOURCES)!r} may only name: "
        f"{', '.join(LABEL_SOURCES)}."
    )
MIN_LABEL_AGE = timedelta(hours=env_float("MIN_LABEL_AGE_HOURS", 24, minimum=0))
# Largest share of a retrain's rows (reference + labels) one client key may supply; more is
# left out of the retrain and raises an alert.
RETRAIN_MAX_CLIENT_SHARE = env_float("RETRAIN_MAX_CLIENT_SHARE", 0.02, minimum=0, maximum=1)
# Alert when the positive share of the pending labels is this far from the mean predicted
# probability of the same predictions (labels that disagree with a calibrated model).
LABEL_CALIBRATION_GAP = env_float("LABEL_CALIBRATION_GAP", 0.25, minimum=0, maximum=1)
MAX_REPORTS = env_int("MAX_REPORTS", 10, minimum=1)
REPORTS_WINDOW_HOURS = env_int("REPORTS_WINDOW_HOURS", 24, minimum=1)
# Most rows of its window a report reads: a uniform random sample of the window, drawn in the
# database, when it holds more (all labelled rows are kept up to it). The budget of the three
# reports (<= 10 s, <= 1 GB) holds at 10,000 (docs/scaling.md); drift needs DRIFT_MIN_ROWS.
REPORT_MAX_ROWS = env_int("REPORT_MAX_ROWS", 10_000, minimum=1)
if REPORT_MAX_ROWS < DRIFT_MIN_ROWS:
    raise ImproperlyConfigured(
        f"REPORT_MAX_ROWS={REPORT_MAX_ROWS} is below DRIFT_MIN_ROWS={DRIFT_MIN_ROWS}: the drift "
        "report could never read enough rows."
    )
REPORTS_SCHEDULE = env_cron("REPORTS_SCHEDULE", "0 */6 * * *")
RETRAIN_SCHEDULE = env_cron("RETRAIN_SCHEDULE", "0 0 * * *")
# Nice value of the process while it trains (0 keeps the priority), so a retrain running on the
# web server's cores yields to the predictions.
RETRAIN_NICE = env_int("RETRAIN_NICE", 10, minimum=0, maximum=19)
# Fault-injection hook for the worker-kill test only: seconds a retrain sleeps after its first
# candidate is fitted. Leave 0.
RETRAIN_TEST_PAUSE_SECONDS = env_float("RETRAIN_TEST_PAUSE_SECONDS", 0.0, minimum=0)
# How often a process checks which model version is active (hot swap delay).
ACTIVE_MODEL_CHECK_SECONDS = env_float("ACTIVE_MODEL_CHECK_SECONDS", 2.0, minimum=0)
# A newly active version is loaded by a thread of each process while the previous one keeps
# answering (training.serving); false loads it inside the request that notices it.
MODEL_LOAD_IN_BACKGROUND = env_bool("MODEL_LOAD_IN_BACKGROUND", True)

# --- Celery: Redis when CELERY_BROKER_URL is set, kombu's file-system transport otherwise.
CELERY_BROKER_URL = env_str("CELERY_BROKER_URL", "filesystem://")
CELERY_BROKER_TRANSPORT_OPTIONS: dict = {}
if CELERY_BROKER_URL.startswith("filesystem://"):
    _broker_dir = VAR_DIR / "broker"
    (_broker_dir / "queue").mkdir(parents=True, exist_ok=True)
    (_broker_dir / "processed").mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_broker_dir / "queue"),
        "data_folder_out": str(_broker_dir / "queue"),
        "processed_folder": str(_broker_dir / "processed"),
        "control_folder": str(_broker_dir / "control"),
        "store_processed": False,
    }
else:
    CELERY_BROKER_TRANSPORT_OPTIONS = {"socket_connect_timeout": 3, "socket_timeout": 5}
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_RESULT_BACKEND = "django-db"
CELERY_RESULT_EXTENDED = True
# Queues by kind of work (mindpulse.queues): retrains, reports, and everything else.
CELERY_TASK_DEFAULT_QUEUE = env_str("CELERY_TASK_DEFAULT_QUEUE", "default")
CELERY_TRAINING_QUEUE = env_str("CELERY_TRAINING_QUEUE", "training")
CELERY_MONITORING_QUEUE = env_str("CELERY_MONITORING_QUEUE", "monitoring")
CELERY_TASK_ROUTES = ("mindpulse.queues.route",)
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_TIME_LIMIT = env_int("CELERY_TASK_TIME_LIMIT", 1800, minimum=10)
CELERY_TASK_SOFT_TIME_LIMIT = env_int("CELERY_TASK_SOFT_TIME_LIMIT", 1500, minimum=5)
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"
# A STARTED result row gives each task its start time (the /metrics task durations).
CELERY_TASK_TRACK_STARTED = True
# Keep the LOGGING below (one structured line per task) instead of Celery's own format.
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
CELERY_TIMEZONE = TIME_ZONE

# --- REST API.
# Largest request body (bytes): 413 above it. A 10,000-row batch in JSON is ~2 MB.
MAX_REQUEST_BYTES = env_int("MAX_REQUEST_BYTES", 10 * 1024 * 1024, minimum=1024)
DATA_UPLOAD_MAX_MEMORY_SIZE = MAX_REQUEST_BYTES
REST_FRAMEWORK = {
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_AUTHENTICATION_CLASSES": [
        # No HTTP Basic: every Basic guess cost a password hash (mindpulse.auth).
        "rest_framework.authentication.SessionAuthentication",
        "mindpulse.auth.TokenAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.AllowAny"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    # One error shape, {"detail", "errors"}: views raise ValidationError, this writes the body.
    "EXCEPTION_HANDLER": "mindpulse.errors.api_exception_handler",
    # Views that name a `throttle_scope` are rate-limited (mindpulse.throttling).
    "DEFAULT_THROTTLE_CLASSES": ["mindpulse.throttling.ScopedThrottle"],
    # Proxies in front of MindPulse: the client address is then read from X-Forwarded-For.
    "NUM_PROXIES": env_int("NUM_PROXIES", 0, minimum=0),
}
# --- Rate limits of the public endpoints, per client address (429 with Retry-After).
# THROTTLE_ENABLED=false turns them all off (a load benchmark from one address).
THROTTLE_ENABLED = env_bool("THROTTLE_ENABLED", True)
THROTTLE_RATES = {
    "predict": env_rate("THROTTLE_PREDICT", "600/min"),
    "batch": env_rate("THROTTLE_BATCH", "30/min"),
    "feedback": env_rate("THROTTLE_FEEDBACK", "600/min"),
    "health": env_rate("THROTTLE_HEALTH", "120/min"),
    "forms": env_rate("THROTTLE_FORMS", "60/min"),
    "erase": env_rate("THROTTLE_ERASE", "30/min"),
}
# Clients are known by a keyed hash of their address (mindpulse.throttling.client_key), never
# by the address itself; the key of the hash rotates every this many days.
CLIENT_KEY_ROTATION_DAYS = env_int("CLIENT_KEY_ROTATION_DAYS", 30, minimum=1)
# Counters shared by every worker: Redis (the broker's, unless set); process memory without.
THROTTLE_REDIS_URL = env_str("THROTTLE_REDIS_URL", "") or (
    CELERY_BROKER_URL if CELERY_BROKER_URL.startswith(("redis://", "rediss://")) else ""
)
SPECTACULAR_SETTINGS = {
    "TITLE": "MindPulse API",
    "DESCRIPTION": "Depression-risk screening aid for students. Not a diagnosis.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    # Swagger UI's files from drf-spectacular-sidecar (static files), not from a CDN.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    # Request objects refuse unknown keys (mindpulse.schema).
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "mindpulse.schema.close_request_objects",
    ],
}

# --- Mail (alerts, retrain notifications).
ADMINS = [("MindPulse admin", a) for a in env_list("ADMINS", [])]
EMAIL_BACKEND = env_str("EMAIL_BACKEND", "django.core.mail.backends.console.EmailBackend")
DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL", "mindpulse@localhost")
SERVER_EMAIL = DEFAULT_FROM_EMAIL

# --- Alerts (monitoring.alerts): e-mail to ADMINS and a Slack-compatible webhook.
ALERT_WEBHOOK_URL = env_http_url("ALERT_WEBHOOK_URL", "")
ALERT_WEBHOOK_TIMEOUT = env_float("ALERT_WEBHOOK_TIMEOUT", 5.0, minimum=0.5, maximum=60)
ALERT_CHECK_SCHEDULE = env_cron("ALERT_CHECK_SCHEDULE", "30 * * * *")

# --- GET /metrics (Prometheus): a bearer token, or client addresses; neither means 403.
METRICS_TOKEN = env_str("METRICS_TOKEN", "") or ""
METRICS_ALLOWED_IPS = env_networks("METRICS_ALLOWED_IPS")

# --- Privacy (privacy app, docs/privacy.md): consent, retention, erasure, encrypted backups.
# Who is responsible for the data and how to reach them: shown on the /privacy/ page.
PRIVACY_CONTROLLER = env_str("PRIVACY_CONTROLLER", "The university running MindPulse")
PRIVACY_CONTACT = env_str("PRIVACY_CONTACT", "dpo@example.org")
# Version of the consent wording on the form; stored with every row that answered it.
# Change it whenever the wording on the form or the privacy page changes.
CONSENT_VERSION = env_str("CONSENT_VERSION", "2026-12")
# Without consent: "minimal" keeps a row with the estimate only (no answers, no feedback
# link) so that the daily counts stay right; "none" keeps nothing at all.
NO_CONSENT_STORAGE = env_choice("NO_CONSENT_STORAGE", "minimal", ("minimal", "none"))
# Days the answers of a prediction without feedback are kept (then removed, the count stays).
RETENTION_DAYS_RAW = env_int("RETENTION_DAYS_RAW", 365, minimum=1)
# Days a labelled prediction (answers + outcome) is kept: it trains the next models.
RETENTION_DAYS_LABELLED = env_int("RETENTION_DAYS_LABELLED", 730, minimum=1)
# Days the retrain archives (ARCHIVE_DIR) and the exports (EXPORTS_DIR) are kept.
RETENTION_DAYS_ARCHIVES = env_int("RETENTION_DAYS_ARCHIVES", 90, minimum=1)
RETENTION_SCHEDULE = env_cron("RETENTION_SCHEDULE", "15 3 * * *")

# --- Beat's schedule, in code (mindpulse.beat): the four crontabs above, each message expiring
# just under its period. Beat writes it into django-celery-beat's rows at every start, so an
# admin edit of these entries lasts until beat restarts (only "enabled" is kept).
CELERY_BEAT_SCHEDULE = {
    monitoring_tasks.REPORTS_ENTRY: beat_entry(
        monitoring_tasks.RUN_REPORTS, REPORTS_SCHEDULE, tz=CELERY_TIMEZONE
    ),
    training_tasks.RETRAIN_ENTRY: beat_entry(
        training_tasks.RETRAIN,
        RETRAIN_SCHEDULE,
        tz=CELERY_TIMEZONE,
        kwargs={"trigger": "scheduled"},
    ),
    monitoring_tasks.CHECK_ALERTS_ENTRY: beat_entry(
        monitoring_tasks.CHECK_ALERTS, ALERT_CHECK_SCHEDULE, tz=CELERY_TIMEZONE
    ),
    privacy_tasks.RETENTION_ENTRY: beat_entry(
        privacy_tasks.RETENTION, RETENTION_SCHEDULE, tz=CELERY_TIMEZONE
    ),
}
# Where `manage.py export_data` writes by default (the retention task purges it).
EXPORTS_DIR = Path(env_str("EXPORTS_DIR", str(VAR_DIR / "exports")))
# Fernet key of the backups: `manage.py backup` and `restore` refuse to run without it (the
# README's "Privacy" section shows how to generate one).
BACKUP_ENCRYPTION_KEY = env_str("BACKUP_ENCRYPTION_KEY", "") or ""
# Error reports (ADMINS mail, debug pages) never show the client address or a request body.
DEFAULT_EXCEPTION_REPORTER_FILTER = "privacy.reporting.ScrubbingExceptionReporterFilter"
# django-axes locks out the rate limits' client address (see above), recorded and logged as
# its pseudonymous key, never the address.
AXES_CLIENT_IP_CALLABLE = "privacy.reporting.axes_client_key"

# --- Logs: one line per request, task and model decision (mindpulse.logs).
LOG_FORMAT = env_choice("LOG_FORMAT", "text", ("text", "json"))
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"context": {"()": "mindpulse.logs.ContextFilter"}},
    "formatters": {
        "text": {"()": "mindpulse.logs.KeyValueFormatter"},
        "json": {"()": "mindpulse.logs.JsonFormatter"},
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": LOG_FORMAT,
            "filters": ["context"],
        }
    },
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO")},
    "loggers": {"django.db.backends": {"level": "WARNING"}},
}
