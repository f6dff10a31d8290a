"""Django settings, read from the environment.

With no environment at all the app runs on SQLite with Celery tasks executed in-process, which
is what the README's first command uses. Production sets DATABASE_URL, REDIS_URL (or
CELERY_BROKER_URL), SECRET_KEY, DEBUG=false and ALLOWED_HOSTS.
"""

import os
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent


def env_bool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def env_list(name: str, default: list[str]) -> list[str]:
    value = os.environ.get(name)
    if not value:
        return default
    return [item.strip() for item in value.split(",") if item.strip()]


DEBUG = env_bool("DEBUG", False)

SECRET_KEY = os.environ.get("SECRET_KEY", "")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured("SECRET_KEY must be set when DEBUG is off.")
    SECRET_KEY = "insecure-development-key-do-not-use-in-production"

ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["localhost", "127.0.0.1", "[::1]", "testserver"])
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.postgres",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_htmx",
    "template_partials",
    "django_countries",
    "billing",
    "organizations",
    "webhooks",
    "customers",
    "plans",
    "events",
    "coupons",
    "wallets",
    "invoicing",
    "analytics",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "billing.urls"
WSGI_APPLICATION = "billing.wsgi.application"

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
            ],
        },
    },
]

# Persistent connections: opening one per request costs several times the request itself
# (reference/performance.md, H2).
DATABASES = {
    "default": dj_database_url.config(
        default=f"sqlite:///{BASE_DIR / 'db.sqlite3'}",
        conn_max_age=int(os.environ.get("CONN_MAX_AGE", "600")),
        conn_health_checks=True,
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    # Django's backend, whose per-request health check skips connections in continuous use.
    DATABASES["default"]["ENGINE"] = "billing.postgresql"
    # Parameters are bound by the server and a statement run 5 times on a connection is prepared:
    # parsing and planning were most of the database's work for an event, and the ingestion
    # statements never change text (benchmarks/usage_bench.py). Raw SQL names its columns rather
    # than select `*`, which a prepared statement would not survive a migration.
    # DB_PREPARED_STATEMENTS=false turns preparing off, e.g. behind a pooler in transaction mode.
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        server_side_binding=True, prepare_threshold=5 if env_bool("DB_PREPARED_STATEMENTS", True) else None
    )
# Lets parallel test runs on one server use separate test databases.
if os.environ.get("TEST_DATABASE_NAME"):
    DATABASES["default"]["TEST"] = {"NAME": os.environ["TEST_DATABASE_NAME"]}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_USER_MODEL = "organizations.User"
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "analytics:dashboard"
LOGOUT_REDIRECT_URL = "login"

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = BASE_DIR / "staticfiles"

# Cookies and transport. Secure cookies whenever DEBUG is off; HTTPS redirect and HSTS are left
# to the deployment (a proxy usually terminates TLS), switched on by environment variables.
SESSION_COOKIE_SECURE = env_bool("SESSION_COOKIE_SECURE", not DEBUG)
CSRF_COOKIE_SECURE = env_bool("CSRF_COOKIE_SECURE", not DEBUG)
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_SAMESITE = "Lax"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", False)
SECURE_HSTS_SECONDS = int(os.environ.get("SECURE_HSTS_SECONDS", "0"))
if env_bool("USE_X_FORWARDED_PROTO", False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

# The API lives under /api/v1 without trailing slashes; CommonMiddleware never redirects there
# because a catch-all route answers every unknown API path with Lago's JSON 404.
APPEND_SLASH = True

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": ["organizations.authentication.ApiKeyAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["rest_framework.parsers.JSONParser"],
    "EXCEPTION_HANDLER": "billing.api.errors.lago_exception_handler",
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "UNAUTHENTICATED_USER": None,
    # Lago's per-organization limits, counted in Redis (see "Abuse limits" at the end of this file).
    "DEFAULT_THROTTLE_CLASSES": ["billing.api.throttling.OrganizationRateThrottle"],
}

SPECTACULAR_SETTINGS = {
    "TITLE": "Billing API (Lago v1 compatible)",
    "DESCRIPTION": "Lago's public v1 API contract, served by our own implementation.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SERVE_PERMISSIONS": ["rest_framework.permissions.AllowAny"],
    "SERVE_AUTHENTICATION": [],
    "COMPONENT_SPLIT_REQUEST": True,
    "SCHEMA_PATH_PREFIX": r"/api/v1",
    # Each operation's summary, description, errors and examples (billing/api/descriptions.py),
    # after drf-spectacular's own enum hook.
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "billing.api.descriptions.describe_operations",
    ],
    # The docs page loads nothing from outside this server (templates/drf_spectacular/redoc.html):
    # Redoc from drf-spectacular-sidecar, and fonts every system has instead of Redoc's Google Fonts.
    "REDOC_DIST": "SIDECAR",
    "REDOC_UI_SETTINGS": {
        "theme": {
            "typography": {
                "fontFamily": 'system-ui, "Segoe UI", Roboto, "Noto Sans", "Liberation Sans", sans-serif',
                "headings": {"fontFamily": 'system-ui, "Segoe UI", Roboto, "Noto Sans", "Liberation Sans", sans-serif'},
                "code": {"fontFamily": 'ui-monospace, SFMono-Regular, Menlo, Consolas, "Liberation Mono", monospace'},
            },
        },
        "expandResponses": "200",
        "jsonSampleExpandLevel": 4,
        "requiredPropsFirst": True,
        "pathInMiddlePanel": True,
        "hideDownloadButton": False,
    },
}

# How long a server process trusts an API key it has just checked (organizations/services.py):
# a revoked key, or an edit of its organization, reaches the other processes within this delay.
API_KEY_CACHE_SECONDS = int(os.environ.get("API_KEY_CACHE_SECONDS", "5"))

# Webhooks: by default never to an address of our own network (README, "Webhooks"); the `iss` of
# JWT signatures names this server, as Lago's names its API URL.
WEBHOOKS_ALLOW_PRIVATE_URLS = env_bool("WEBHOOKS_ALLOW_PRIVATE_URLS", False)
WEBHOOKS_ISSUER = os.environ.get("WEBHOOKS_ISSUER", "http://localhost:8000")

# Celery: Redis as the broker in production. Without a broker the tasks run in-process, which is
# what the SQLite demo uses.
REDIS_URL = os.environ.get("REDIS_URL", "")
CELERY_BROKER_URL = os.environ.get("CELERY_BROKER_URL", REDIS_URL)
CELERY_TASK_ALWAYS_EAGER = env_bool("CELERY_TASK_ALWAYS_EAGER", not CELERY_BROKER_URL)
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_TASK_ACKS_LATE = True
# Celery's Django fixup closes the database connection around every task unless this is set; a
# new connection per task costs more than the task itself (benchmarks/billing_bench.py).
CELERY_DB_REUSE_MAX = int(os.environ.get("CELERY_DB_REUSE_MAX", "1000"))
CELERY_TASK_DEFAULT_QUEUE = os.environ.get("CELERY_TASK_DEFAULT_QUEUE", "celery")
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
# Webhook deliveries wait on other people's servers: they have a queue of their own, consumed by a
# worker of their own (README, "Running in production"), so that a slow receiver never delays billing.
CELERY_WEBHOOKS_QUEUE = os.environ.get("CELERY_WEBHOOKS_QUEUE", "webhooks")
CELERY_TASK_ROUTES = {
    "webhooks.tasks.deliver_webhook_task": {"queue": CELERY_WEBHOOKS_QUEUE},
    "webhooks.tasks.drain_committed_webhooks_task": {"queue": CELERY_WEBHOOKS_QUEUE},
}
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TIMEZONE = "UTC"
CELERY_BEAT_SCHEDULE = {
    "activate-due-subscriptions": {"task": "invoicing.tasks.activate_due_subscriptions_task", "schedule": 60.0},
    "billing-clock": {"task": "invoicing.tasks.run_billing_clock_task", "schedule": 3600.0},
    # Expiry is checked every five minutes: an expired coupon or wallet ends within five minutes.
    "coupon-expiry": {"task": "coupons.tasks.terminate_expired_coupons_task", "schedule": 300.0},
    "wallet-expiry": {"task": "wallets.tasks.terminate_expired_wallets_task", "schedule": 300.0},
    "wallet-balances": {"task": "invoicing.tasks.sync_wallet_balances_task", "schedule": 300.0},
    "customer-deletions": {"task": "invoicing.tasks.resume_customer_deletions_task", "schedule": 60.0},
    "lost-webhooks": {"task": "webhooks.tasks.resend_lost_webhooks_task", "schedule": 60.0},
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "WARNING")},
}

# Abuse limits (billing/ratelimit.py). The API: per-organization requests per second as Lago Cloud's
# (billing/api/throttling.py); on wherever Redis is, off without it (the SQLite demo), API_RATE_LIMITS
# switches them off or on; a limit of 0 leaves its category unlimited.
API_RATE_LIMITS_ENABLED = env_bool("API_RATE_LIMITS", True)
API_RATE_LIMIT_EVENTS = int(os.environ.get("API_RATE_LIMIT_EVENTS", "500"))  # POST /events, /events/batch
API_RATE_LIMIT_CURRENT_USAGE = int(os.environ.get("API_RATE_LIMIT_CURRENT_USAGE", "200"))
API_RATE_LIMIT_OTHER = int(os.environ.get("API_RATE_LIMIT_OTHER", "50"))  # every other endpoint
# Where the API limits and the login guard count: REDIS_URL unless a Redis of their own is named.
# A request never waits longer than the timeout for it; after a failure it is left alone (and the
# limits are not enforced) for RATE_LIMIT_REDIS_RETRY_SECONDS.
RATE_LIMIT_REDIS_URL = os.environ.get("RATE_LIMIT_REDIS_URL", REDIS_URL)
RATE_LIMIT_REDIS_TIMEOUT = float(os.environ.get("RATE_LIMIT_REDIS_TIMEOUT", "0.25"))
RATE_LIMIT_REDIS_RETRY_SECONDS = float(os.environ.get("RATE_LIMIT_REDIS_RETRY_SECONDS", "5"))
RATE_LIMIT_KEY_PREFIX = os.environ.get("RATE_LIMIT_KEY_PREFIX", "abuse:")
# The staff login (organizations/login_guard.py): from 5 failures in 15 minutes, per email and per
# client address, each attempt waits a growing delay; from 10, logging in is refused until 15 minutes
# after the last failure. Behind proxies, LOGIN_TRUSTED_PROXIES says how many add X-Forwarded-For.
LOGIN_FAILURES_BEFORE_DELAY = int(os.environ.get("LOGIN_FAILURES_BEFORE_DELAY", "5"))
LOGIN_FAILURES_BEFORE_BLOCK = int(os.environ.get("LOGIN_FAILURES_BEFORE_BLOCK", "10"))
LOGIN_FAILURE_WINDOW_SECONDS = int(os.environ.get("LOGIN_FAILURE_WINDOW_SECONDS", "900"))
LOGIN_TRUSTED_PROXIES = int(os.environ.get("LOGIN_TRUSTED_PROXIES", "0"))
AUTHENTICATION_BACKENDS = ["organizations.backends.GuardedModelBackend"]
