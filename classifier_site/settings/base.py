"""Settings for development and the embedded defaults; every value can come from the environment."""

import ipaddress
import os
import secrets
from datetime import timedelta
from pathlib import Path

import dj_database_url
from csp.constants import NONE, SELF
from django.utils.translation import gettext_lazy as _

BASE_DIR = Path(__file__).resolve().parent.parent.parent


def env_bool(name: str, default: bool = False) -> bool:
    return os.environ.get(name, str(default)).strip().lower() in {"1", "true", "yes", "on"}


def env_list(name: str, default: str = "") -> list[str]:
    return [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


def local_secret_key(path: Path) -> str:
    """A key generated on first run and kept in an ignored file, so a fresh checkout needs no configuration."""
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(secrets.token_urlsafe(50))
        path.chmod(0o600)
    return path.read_text().strip()


SECRET_KEY = os.environ.get("DJANGO_SECRET_KEY") or local_secret_key(BASE_DIR / "var" / "secret_key")
DEBUG = env_bool("DJANGO_DEBUG")
ALLOWED_HOSTS = env_list("DJANGO_ALLOWED_HOSTS", "localhost,127.0.0.1,[::1]")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "axes",
    "classifier",
    "chat",
    "classifier_site.info",
    "classifier_site.accounts",
]

MIDDLEWARE = [
    "classifier_site.middleware.HealthCheckMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "csp.middleware.CSPMiddleware",
    "classifier.middleware.RequestSizeLimitMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "axes.middleware.AxesMiddleware",
]

# No inline scripts or styles anywhere: every script and stylesheet is a file under static/.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF],
        "style-src": [SELF],
        "img-src": [SELF, "data:"],
        "connect-src": [SELF],
        "object-src": [NONE],
        "base-uri": [SELF],
        "form-action": [SELF],
        "frame-ancestors": [NONE],
    }
}
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
ADMIN_PATH = os.environ.get("DJANGO_ADMIN_PATH", "admin/").strip("/") + "/"

ROOT_URLCONF = "classifier_site.urls"
WSGI_APPLICATION = "classifier_site.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "django.template.context_processors.i18n",
                "chat.context_processors.chat",
            ],
        },
    },
]


def database_from_url(url: str) -> dict:
    """DATABASE_URL as Django settings; SQLite gets WAL, immediate transactions and a busy timeout so that
    parallel uploads wait their turn instead of failing with "database is locked"."""
    database = dj_database_url.parse(url, conn_max_age=60, conn_health_checks=True)
    if database["ENGINE"] == "django.db.backends.sqlite3":
        database["CONN_MAX_AGE"] = 0
        database["OPTIONS"] = {
            "transaction_mode": "IMMEDIATE",
            "timeout": 20,  # seconds a writer waits for the lock
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        }
    return database


(BASE_DIR / "var").mkdir(exist_ok=True)
DATABASES = {
    "default": database_from_url(os.environ.get("DATABASE_URL") or f"sqlite:///{BASE_DIR / 'var' / 'db.sqlite3'}")
}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# The browser's Accept-Language picks the language, the header's switcher (Django's set_language) overrides it
# with a cookie. Catalogues live in locale/<code>/LC_MESSAGES (docs/development.md, "Languages").
LANGUAGE_CODE = "en"
LANGUAGES = [("en", _("English")), ("uk", _("Ukrainian"))]
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = Path(os.environ.get("STATIC_ROOT", BASE_DIR / "var" / "staticfiles"))
STATICFILES_DIRS = [BASE_DIR / "static"]
MEDIA_ROOT = Path(os.environ.get("MEDIA_ROOT", BASE_DIR / "var" / "media"))

MEDIA_URL = "/media/"  # never routed: uploads are served only through views that check the viewer
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
}


def s3_storage(bucket_name: str, endpoint_url: str | None, region_name: str | None, **options) -> dict:
    """Uploads in an S3-compatible bucket, kept private: images are read through the site's own views, which check
    who asks. `options` go to django-storages' S3Storage as they are (e.g. access_key, secret_key)."""
    return {
        "BACKEND": "storages.backends.s3.S3Storage",
        "OPTIONS": {
            "bucket_name": bucket_name,
            "endpoint_url": endpoint_url or None,
            "region_name": region_name or None,
            "default_acl": "private",
            "querystring_auth": True,
            "file_overwrite": False,
        }
        | options,
    }


# Uploads in S3-compatible object storage (AWS, MinIO, Ceph...), so that several app servers share them: set
# AWS_STORAGE_BUCKET_NAME (and AWS_S3_ENDPOINT_URL for a non-AWS service); credentials come the usual boto3 way
# (AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY or an instance role).
if os.environ.get("AWS_STORAGE_BUCKET_NAME"):
    STORAGES["default"] = s3_storage(
        os.environ["AWS_STORAGE_BUCKET_NAME"],
        os.environ.get("AWS_S3_ENDPOINT_URL"),
        os.environ.get("AWS_S3_REGION_NAME"),
    )

# Uploads: each file is cut off as it streams in once it passes MAX_UPLOAD_BYTES; whole requests above
# MAX_REQUEST_BYTES are refused before their body is read.
MAX_UPLOAD_BYTES = int(os.environ.get("MAX_UPLOAD_MB", "10")) * 1024 * 1024
MAX_UPLOAD_FILES = int(os.environ.get("MAX_UPLOAD_FILES", "20"))
MAX_REQUEST_BYTES = MAX_UPLOAD_FILES * MAX_UPLOAD_BYTES + 1024 * 1024
MAX_IMAGE_PIXELS = int(os.environ.get("MAX_IMAGE_PIXELS", str(60_000_000)))  # 50-megapixel phone photos pass
DATA_UPLOAD_MAX_NUMBER_FILES = MAX_UPLOAD_FILES
FILE_UPLOAD_HANDLERS = [
    "classifier.uploads.SizeLimitedUploadHandler",
    "django.core.files.uploadhandler.MemoryFileUploadHandler",
    "django.core.files.uploadhandler.TemporaryFileUploadHandler",
]
FILE_UPLOAD_TEMP_DIR = os.environ.get("FILE_UPLOAD_TEMP_DIR") or None

# The reverse proxies in front of the site (nginx, a load balancer): addresses or networks, comma-separated. Only a
# request that comes from one of them has its X-Forwarded-For read, right to left, for the client's address
# (classifier_site.client_address); anyone else could write any address there.
TRUSTED_PROXIES = [ipaddress.ip_network(item, strict=False) for item in env_list("DJANGO_TRUSTED_PROXIES")]

# Accounts: Django's auth views; django-axes locks a username at one address out after repeated failures.
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "predict"
LOGOUT_REDIRECT_URL = "home"
AXES_FAILURE_LIMIT = int(os.environ.get("AXES_FAILURE_LIMIT", "5"))
AXES_COOLOFF_TIME = timedelta(minutes=int(os.environ.get("AXES_COOLOFF_MINUTES", "15")))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_TEMPLATE = "registration/locked_out.html"
AXES_CLIENT_IP_CALLABLE = "classifier_site.client_address.client_address"
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 10}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
# Password-reset e-mails. Without EMAIL_BACKEND they are printed to the console, fine for development; in production
# that is the server's log, so `check --deploy` wants the choice made explicitly (classifier/checks.py).
EMAIL_BACKEND = os.environ.get("EMAIL_BACKEND", "django.core.mail.backends.console.EmailBackend")
EMAIL_BACKEND_EXPLICIT = "EMAIL_BACKEND" in os.environ
EMAIL_HOST = os.environ.get("EMAIL_HOST", "localhost")
EMAIL_PORT = int(os.environ.get("EMAIL_PORT", "25"))
EMAIL_HOST_USER = os.environ.get("EMAIL_HOST_USER", "")
EMAIL_HOST_PASSWORD = os.environ.get("EMAIL_HOST_PASSWORD", "")
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS")  # STARTTLS, usually on port 587
EMAIL_USE_SSL = env_bool("EMAIL_USE_SSL")  # TLS from the first byte, usually on port 465; never both
# A password reset waits for the SMTP server in one of gunicorn's threads: a server that never answers must not hold
# it until gunicorn's worker timeout kills the whole worker. The reset page shows all the same; the log has the error.
EMAIL_TIMEOUT = int(os.environ.get("EMAIL_TIMEOUT", "10"))  # seconds
DEFAULT_FROM_EMAIL = os.environ.get("DEFAULT_FROM_EMAIL", "classifier@localhost")

# Chat: any OpenAI-compatible server. Without a key or a base URL, /chat/ explains how to configure it.
OPENAI_API_KEY = os.environ.get("OPENAI_API_KEY", "")
OPENAI_BASE_URL = os.environ.get("OPENAI_BASE_URL", "")  # e.g. http://127.0.0.1:11434/v1 for Ollama
OPENAI_MODEL = os.environ.get("OPENAI_MODEL", "gpt-5-mini")
OPENAI_MODELS = env_list("OPENAI_MODELS")  # more models a user may pick from, besides OPENAI_MODEL
# Each upstream read waits at most this long and is retried at most this often, so a reply always ends well
# inside gunicorn's worker timeout.
OPENAI_TIMEOUT = float(os.environ.get("OPENAI_TIMEOUT", "20"))  # seconds
OPENAI_MAX_RETRIES = int(os.environ.get("OPENAI_MAX_RETRIES", "1"))
CHAT_TOOLS = env_bool("CHAT_TOOLS", True)  # offer the list_my_predictions tool to the model
CHAT_MAX_MESSAGE_CHARS = int(os.environ.get("CHAT_MAX_MESSAGE_CHARS", "8000"))
CHAT_MESSAGES_PER_MINUTE = int(os.environ.get("CHAT_MESSAGES_PER_MINUTE", "10"))  # regenerated answers count too
# How many earlier messages of a conversation go with each question: a long conversation costs no more per call.
CHAT_CONTEXT_MESSAGES = max(1, int(os.environ.get("CHAT_CONTEXT_MESSAGES", "20")))
# The longest an answer may stream; a user streams one answer at a time, so this also bounds how long a dead one
# (its worker killed) can hold that user's turn.
CHAT_REPLY_MAX_SECONDS = int(os.environ.get("CHAT_REPLY_MAX_SECONDS", "120"))
# The models on the chat server that take images: with one of these, a photo in the chat goes upstream itself (a
# JPEG copy at most CHAT_IMAGE_SIZE pixels on its longer side); any other model gets only the classifier's answer.
CHAT_VISION_MODELS = env_list("CHAT_VISION_MODELS")
CHAT_IMAGE_SIZE = 1024  # pixels on the longer side of the copy sent to a vision model
CHAT_PHOTOS_PER_MESSAGE = int(os.environ.get("CHAT_PHOTOS_PER_MESSAGE", "4"))

# Limits per user and per client address, kept in the database so that they hold across app servers
# (docs/deploying.md, "Security"). 0 turns a limit off.
UPLOADS_PER_HOUR = int(os.environ.get("UPLOADS_PER_HOUR", "600"))  # images sent in a rolling hour, API included
UPLOAD_QUOTA_BYTES = int(os.environ.get("UPLOAD_QUOTA_MB", "2000")) * 1024 * 1024  # photos a user may keep
SIGNUPS_PER_HOUR = int(os.environ.get("SIGNUPS_PER_HOUR", "10"))  # new accounts from one client address

# The model bundle the site serves: the one shipped in the repository unless MODEL_DIR names another.
SHIPPED_MODEL_DIR = BASE_DIR / "models" / "cifar10"
MODEL_DIR = Path(os.environ.get("MODEL_DIR", SHIPPED_MODEL_DIR))
# How many uploads (and heat maps) each server process works on at once; more wait their turn. Each holds the
# networks' working memory (about 20 MB); more than two do no more uploads a second on a core
# (bench/RESULTS.md, "Uploads under load"). gunicorn's threads beyond these serve pages and stream chat answers.
CLASSIFY_AT_ONCE = max(1, int(os.environ.get("CLASSIFY_AT_ONCE", "2")))
# Where `manage.py train` caches decoded data sets (decoding 60,000 JPEGs takes a while).
DATASET_CACHE_DIR = os.environ.get("DATASET_CACHE_DIR") or None
