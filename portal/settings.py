"""Settings for the portal, read from the environment.

Every setting has an embedded default, so a fresh checkout runs with nothing
set: SQLite, an in-process channel layer, background tasks on a thread pool and
the kubesim sandbox cluster. Setting ``DATABASE_URL`` switches to the production
mode (PostgreSQL, Redis for Celery, channels and cache), which refuses to start
without a real secret key.
"""

import os
from datetime import timedelta
from pathlib import Path

import dj_database_url
from csp import constants as csp
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent


def env_str(name: str, default: str = "") -> str:
    """Returns the variable's value, or ``default`` when unset or empty."""
    return os.environ.get(name) or default


def env_bool(name: str, default: bool) -> bool:
    """Returns the variable read as a boolean (1/true/yes/on), or ``default``."""
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    return raw.strip().lower() in {"1", "true", "yes", "on"}


def env_int(name: str, default: int) -> int:
    """Returns the variable read as an integer, or ``default``; a bad value stops startup."""
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be an integer, got {raw!r}") from None


def env_list(name: str, default: list[str]) -> list[str]:
    """Returns the comma-separated variable as a list of stripped items, or ``default``."""
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    return [item.strip() for item in raw.split(",") if item.strip()]


DATABASE_URL = env_str("DATABASE_URL")
REDIS_URL = env_str("REDIS_URL")
PRODUCTION = bool(DATABASE_URL)
MODE = "production" if PRODUCTION else "embedded"


def private_file(path: Path, *, create: bool) -> None:
    """Makes ``path`` readable and writable by this user only (0600), creating it empty
    first when ``create``; a missing file is otherwise left alone."""
    if create:
        os.close(os.open(path, os.O_CREAT | os.O_WRONLY, 0o600))
    if path.exists() and path.stat().st_mode & 0o077:
        path.chmod(0o600)


DATA_DIR = Path(env_str("PORTAL_DATA_DIR", str(BASE_DIR / "var")))
DATA_DIR.mkdir(mode=0o700, parents=True, exist_ok=True)

DEBUG = env_bool("PORTAL_DEBUG", False)

_EMBEDDED_SECRET = "embedded-insecure-secret-key-do-not-use-in-production-0123456789"
SECRET_KEY = env_str("PORTAL_SECRET_KEY", _EMBEDDED_SECRET)
if PRODUCTION and (SECRET_KEY == _EMBEDDED_SECRET or len(SECRET_KEY) < 50):
    raise ImproperlyConfigured(
        "PORTAL_SECRET_KEY must be set to a random string of at least 50 characters in "
        "production mode (for example: python -c 'import secrets; print(secrets.token_urlsafe(50))')"
    )

ALLOWED_HOSTS = env_list("PORTAL_ALLOWED_HOSTS", ["127.0.0.1", "localhost", "testserver"])
CSRF_TRUSTED_ORIGINS = env_list("PORTAL_CSRF_TRUSTED_ORIGINS", [])

INSTALLED_APPS = [
    "portal.apps.PortalConfig",
    "compute.apps.ComputeConfig",
    "assets.apps.AssetsConfig",
    "jobs.apps.JobsConfig",
    "tracking.apps.TrackingConfig",
    "portal.apps.PortalAdminConfig",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "template_partials",
    "rest_framework",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "channels",
    "axes",
]

MIDDLEWARE = [
    # First: probes and scrapes use the pod's address and plain HTTP (portal/health.py).
    "portal.health.ProbeMiddleware",
    # Request ids on log lines, request counts and latencies (portal/observe.py).
    "portal.observe.RequestMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "csp.middleware.CSPMiddleware",
    "portal.display.NeutraliseBidiMiddleware",
    "portal.middleware.permissions_policy",
    "portal.staticfiles.StaticFilesMiddleware",  # WhiteNoise, whole files for ASGI
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "portal.middleware.CurrentWorkspaceMiddleware",
    "portal.audit.AuditContextMiddleware",
    # Last, as django-axes asks: turns a lockout found while signing in into its response.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "portal.urls"
ASGI_APPLICATION = "portal.asgi.application"
AUTH_USER_MODEL = "portal.User"
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "builtins": ["template_partials.templatetags.partials"],
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "portal.context.navigation",
            ],
        },
    },
]

# PostgreSQL connections per process, kept in a pool (psycopg_pool through Django). Under ASGI
# each request's sync code may run on a fresh thread, so persistent connections pile up (the
# production benchmark ran PostgreSQL out of slots), and without them every request and every
# websocket's database trip paid for a new connection. 0: no pool (PORTAL_DB_CONN_MAX_AGE).
DB_POOL_SIZE = env_int("PORTAL_DB_POOL_SIZE", 16)
if PRODUCTION:
    DATABASES = {
        "default": dj_database_url.parse(
            DATABASE_URL,
            conn_max_age=0 if DB_POOL_SIZE else env_int("PORTAL_DB_CONN_MAX_AGE", 0),
        )
    }
    if DB_POOL_SIZE:
        DATABASES["default"].setdefault("OPTIONS", {})["pool"] = {
            "min_size": 1,
            "max_size": DB_POOL_SIZE,
            "timeout": env_int("PORTAL_DB_POOL_TIMEOUT", 20),  # seconds waiting for a free one
        }
else:
    # The database holds sessions and everything else: only the portal's user reads it
    # (SQLite gives its -wal and -shm files the database file's mode).
    for suffix in ("", "-wal", "-shm"):
        private_file(DATA_DIR / f"portal.sqlite3{suffix}", create=not suffix)
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": DATA_DIR / "portal.sqlite3",
            # WAL lets the watcher thread write while pages read.
            "OPTIONS": {
                "transaction_mode": "IMMEDIATE",
                "timeout": 20,
                "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
            },
            # Tests on a file as served, not in memory: an in-memory database shared between
            # threads locks whole tables and answers "table is locked" at once instead of
            # waiting as WAL and the busy time-out do.
            "TEST": {"NAME": str(DATA_DIR / "test-portal.sqlite3")},
        }
    }
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# Fragments waiting for one web process's live hub (portal.fanout) before the layer drops more.
HUB_CAPACITY = 20000
if REDIS_URL:
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "portal.layers.RedisChannelLayer",
            "CONFIG": {
                # The layer's receive blocks on Redis for 5 s: a read time-out at or below
                # that (redis-py's default is 5 s) kills idle websockets. The pool is sized
                # for bursts of group changes (each web process's hub joins per group).
                "hosts": [{"address": REDIS_URL, "socket_timeout": 15, "max_connections": 1000}],
                "capacity": 1000,
                # Each web process's live hub receives every fragment its sockets follow.
                "channel_capacity": {"livehub*": HUB_CAPACITY},
                "expiry": 30,
            },
        }
    }
    CACHES = {
        "default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL}
    }
else:
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "portal.layers.InProcessChannelLayer",
            "CONFIG": {"channel_capacity": {"livehub*": HUB_CAPACITY}},
        }
    }
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

# Background tasks: "thread" runs them on an in-process pool (embedded), "celery"
# sends them to the Celery workers (production), "immediate" runs them on commit in
# the calling thread (tests that want determinism).
TASKS_MODE = env_str("PORTAL_TASKS", "celery" if REDIS_URL else "thread")
TASKS_THREADS = env_int("PORTAL_TASK_THREADS", 4)
CELERY_BROKER_URL = REDIS_URL or "memory://"
CELERY_RESULT_BACKEND = None
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
# The broker queue tasks go to and workers and beat use.
TASK_QUEUE = env_str("PORTAL_TASK_QUEUE", "celery")
CELERY_TASK_DEFAULT_QUEUE = TASK_QUEUE
# A task a lost worker held is handed out again after this many seconds (the transport's
# default is an hour); every task is idempotent and the longest takes seconds.
TASK_VISIBILITY_SECONDS = env_int("PORTAL_TASK_VISIBILITY_SECONDS", 300)
CELERY_BROKER_TRANSPORT_OPTIONS = {
    "visibility_timeout": TASK_VISIBILITY_SECONDS,
    # Workers look for such tasks every tenth of that (at most every 10 s), and really do on
    # each look (kombu's default scans every tenth look: 100 s apart).
    "unacked_restore_interval": max(1, min(10, TASK_VISIBILITY_SECONDS // 10)),
    "unacked_restore_throttle": 1,
}
# A job NotStarted with no news for this long (no start attempt recorded: its start task was
# lost with a worker or a restart) is queued again by the reconcile pass.
START_REQUEUE_SECONDS = env_int("PORTAL_START_REQUEUE_SECONDS", 60)
# Beat's own record of when each entry last ran, out of the checkout.
CELERY_BEAT_SCHEDULE_FILENAME = str(DATA_DIR / "celerybeat-schedule")
CELERY_BEAT_SCHEDULE = {
    "recheck-clusters": {"task": "compute.tasks.recheck_clusters", "schedule": 60.0},
    "sync-clusters": {
        "task": "compute.tasks.sync_clusters",
        "schedule": float(env_int("PORTAL_SYNC_SECONDS", 10)),
    },
    "follow-logs": {
        "task": "jobs.tasks.follow_logs",
        "schedule": float(env_int("PORTAL_LOG_FOLLOW_SECONDS", 2)),
    },
    "reconcile-jobs": {
        "task": "jobs.tasks.reconcile_jobs",
        "schedule": float(env_int("PORTAL_RECONCILE_SECONDS", 30)),
    },
    "seal-audit": {
        "task": "portal.tasks.audit_seal",
        "schedule": float(max(1, env_int("PORTAL_AUDIT_SEAL_SECONDS", 60))),
    },
    "purge-audit": {"task": "portal.tasks.audit_purge", "schedule": 3600.0},
}
# Audit records are kept this many days (whole sealed batches go); 0 keeps them forever.
AUDIT_RETENTION_DAYS = env_int("PORTAL_AUDIT_RETENTION_DAYS", 400)

# Observability: /metrics on the web process needs this bearer token (unset: no /metrics
# there); worker, beat and watcher processes answer /healthz, /readyz and /metrics on
# PROBE_PORT when it is set (0: not at all). Logs as text or one JSON object a line.
METRICS_TOKEN = env_str("PORTAL_METRICS_TOKEN")
PROBE_PORT = env_int("PORTAL_PROBE_PORT", 0)
PROBE_ADDRESS = env_str("PORTAL_PROBE_ADDRESS", "0.0.0.0")
LOG_FORMAT = env_str("PORTAL_LOG_FORMAT", "text")
if LOG_FORMAT not in {"text", "json"}:
    raise ImproperlyConfigured(f"PORTAL_LOG_FORMAT must be text or json, got {LOG_FORMAT!r}")
# Seconds between the watchers' one-line summaries (events, batches, lag); 0: none.
WATCH_SUMMARY_SECONDS = env_int("PORTAL_WATCH_SUMMARY_SECONDS", 60)

# Render and send live fragments on a background thread (off the request/watcher path).
LIVE_SEND_IN_BACKGROUND = env_bool("PORTAL_LIVE_BACKGROUND_SEND", True)
# Seconds between full garbage collections in the server processes (web, watchers, sender),
# which otherwise stop every thread for 50-150 ms every few seconds under load; 0 leaves
# Python's own policy (portal/gcpolicy.py).
GC_FULL_EVERY = env_int("PORTAL_GC_FULL_EVERY", 60)

# Where pods reach the portal (code download for jobs).
PUBLIC_URL = env_str("PORTAL_PUBLIC_URL", "http://127.0.0.1:8000").rstrip("/")
# Job priority (low/medium/high) -> PriorityClass name; empty: no priorityClassName.
# Size asked for the outputs claim (portal-outputs) the portal creates in each compute
# target's namespace.
OUTPUTS_CLAIM_SIZE = env_str("PORTAL_OUTPUTS_CLAIM_SIZE", "10Gi")
JOB_PRIORITY_CLASSES = dict(
    item.split("=", 1) for item in env_list("PORTAL_PRIORITY_CLASSES", []) if "=" in item
)
JOB_LOG_MAX_BYTES = env_int("PORTAL_JOB_LOG_MAX_BYTES", 2 * 1024 * 1024)
CODE_UPLOAD_MAX_BYTES = env_int("PORTAL_CODE_MAX_BYTES", 100 * 1024 * 1024)
# The most a model version's files may take (an upload, or what is copied from a run).
MODEL_MAX_BYTES = env_int("PORTAL_MODEL_MAX_BYTES", 2 * 1024 * 1024 * 1024)
DATA_UPLOAD_MAX_MEMORY_SIZE = env_int("PORTAL_UPLOAD_MAX_MEMORY", 2_621_440)

# Stored cluster credentials are encrypted with the first key; older keys still
# decrypt, which is how keys are rotated (see README).
ENCRYPTION_KEYS = env_list("PORTAL_ENCRYPTION_KEYS", [])
ENCRYPTION_KEY_FILE = DATA_DIR / "encryption.key"
if PRODUCTION and not ENCRYPTION_KEYS:
    raise ImproperlyConfigured(
        "PORTAL_ENCRYPTION_KEYS must be set in production mode (a Fernet key: "
        "python -c 'from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())')"
    )

SANDBOX_ENABLED = env_bool("PORTAL_SANDBOX", not PRODUCTION)
SANDBOX_PORT = env_int("PORTAL_SANDBOX_PORT", 6443)
SANDBOX_NODES = env_str("PORTAL_SANDBOX_NODES", "")
# "local": the sandbox runs jobs' and deployments' code as processes on this machine, as
# the user running the portal; "simulate": every pod is scripted and nothing runs.
SANDBOX_RUNTIME = env_str("PORTAL_SANDBOX_RUNTIME", "local")
# permessage-deflate on live websockets (runportal; production passes uvicorn's own flag).
# Off by default: fragments are a few kB, and a compressor per socket cost a thousand open
# tabs more than half their latency (bench/live_e2e.py --ws-deflate); on for slow links.
WS_DEFLATE = env_bool("PORTAL_WS_DEFLATE", False)
KUBE_REQUEST_TIMEOUT = env_int("PORTAL_KUBE_TIMEOUT", 10)
# A cluster is marked Unreachable after this many consecutive failed checks and syncs that
# span at least this many seconds (one failed call only shows as Degraded; watches go on).
CLUSTER_FAILURES_UNREACHABLE = max(1, env_int("PORTAL_CLUSTER_FAILURES", 3))
CLUSTER_FAILURE_WINDOW = env_int("PORTAL_CLUSTER_FAILURE_WINDOW_SECONDS", 20)
# Node labels that name a node's pool, the first a node carries wins (AKS, GKE, EKS,
# Karpenter, kubesim); a node with none of them is grouped by its instance type.
NODE_POOL_LABELS = env_list(
    "PORTAL_NODE_POOL_LABELS",
    [
        "agentpool",
        "cloud.google.com/gke-nodepool",
        "eks.amazonaws.com/nodegroup",
        "karpenter.sh/nodepool",
        "kubesim.io/pool",
    ],
)

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = DATA_DIR / "staticfiles"
STATIC_ROOT.mkdir(exist_ok=True)
WHITENOISE_USE_FINDERS = not PRODUCTION
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"
        if PRODUCTION
        else "django.contrib.staticfiles.storage.StaticFilesStorage"
    },
}

# Run artifacts (tracking): an S3-compatible bucket when PORTAL_ARTIFACT_S3_BUCKET is set,
# else files under the data folder.
ARTIFACT_S3_BUCKET = env_str("PORTAL_ARTIFACT_S3_BUCKET")
if ARTIFACT_S3_BUCKET:
    STORAGES["artifacts"] = {
        "BACKEND": "storages.backends.s3.S3Storage",
        "OPTIONS": {
            "bucket_name": ARTIFACT_S3_BUCKET,
            "endpoint_url": env_str("PORTAL_ARTIFACT_S3_ENDPOINT") or None,
            "region_name": env_str("PORTAL_ARTIFACT_S3_REGION") or None,
            "access_key": env_str("PORTAL_ARTIFACT_S3_ACCESS_KEY") or None,
            "secret_key": env_str("PORTAL_ARTIFACT_S3_SECRET_KEY") or None,
            "location": env_str("PORTAL_ARTIFACT_S3_PREFIX", "artifacts"),
            "file_overwrite": True,
            "default_acl": None,
            "querystring_auth": False,
        },
    }
else:
    STORAGES["artifacts"] = {
        "BACKEND": "django.core.files.storage.FileSystemStorage",
        "OPTIONS": {"location": str(DATA_DIR / "artifacts"), "allow_overwrite": True},
    }
# The largest artifact one upload may store.
ARTIFACT_MAX_BYTES = env_int("PORTAL_ARTIFACT_MAX_BYTES", 512 * 1024 * 1024)

LANGUAGE_CODE = "en-us"
TIME_ZONE = env_str("PORTAL_TIME_ZONE", "UTC")
USE_I18N = False
USE_TZ = True

# ---- signing in: brute-force and flood protection (portal/signin.py, portal/throttle.py) ----
# Local accounts (username and password) can be switched off once single sign-on is set up;
# personal API tokens keep working either way.
LOCAL_ACCOUNTS = env_bool("PORTAL_LOCAL_ACCOUNTS", True)
AUTHENTICATION_BACKENDS = (
    [
        "portal.signin.AddressLimitBackend",
        "axes.backends.AxesStandaloneBackend",
        "django.contrib.auth.backends.ModelBackend",
    ]
    if LOCAL_ACCOUNTS
    else []
)
# ---- single sign-on with OpenID Connect (portal/sso.py, mozilla-django-oidc) ----
OIDC_RP_CLIENT_ID = env_str("PORTAL_OIDC_CLIENT_ID")
OIDC_RP_CLIENT_SECRET = env_str("PORTAL_OIDC_CLIENT_SECRET")
OIDC_OP_AUTHORIZATION_ENDPOINT = env_str("PORTAL_OIDC_AUTHORIZATION_ENDPOINT")
OIDC_OP_TOKEN_ENDPOINT = env_str("PORTAL_OIDC_TOKEN_ENDPOINT")
OIDC_OP_USER_ENDPOINT = env_str("PORTAL_OIDC_USERINFO_ENDPOINT")
OIDC_OP_JWKS_ENDPOINT = env_str("PORTAL_OIDC_JWKS_ENDPOINT")
OIDC_RP_SIGN_ALGO = env_str("PORTAL_OIDC_SIGN_ALGO", "RS256")
OIDC_RP_SCOPES = env_str("PORTAL_OIDC_SCOPES", "openid email profile")
OIDC_GROUPS_CLAIM = env_str("PORTAL_OIDC_GROUPS_CLAIM", "groups")
OIDC_GROUP_MAP = env_str("PORTAL_OIDC_GROUP_MAP")
OIDC_USE_PKCE = True
OIDC_TIMEOUT = 10  # seconds for each call to the provider
LOGIN_REDIRECT_URL_FAILURE = "/login/?sso=failed"
SSO_ENABLED = bool(OIDC_RP_CLIENT_ID and OIDC_OP_AUTHORIZATION_ENDPOINT)
if SSO_ENABLED:
    AUTHENTICATION_BACKENDS.append("portal.sso.PortalOIDCBackend")
if not AUTHENTICATION_BACKENDS:
    raise ImproperlyConfigured(
        "PORTAL_LOCAL_ACCOUNTS=0 needs single sign-on: set PORTAL_OIDC_CLIENT_ID and the "
        "provider's endpoints (PORTAL_OIDC_AUTHORIZATION_ENDPOINT, …)."
    )
# Trusted proxies in front of the portal whose X-Forwarded-For entries name the client.
PROXY_COUNT = env_int("PORTAL_PROXY_COUNT", 0)
LOGIN_FAILURE_LIMIT = env_int("PORTAL_LOGIN_FAILURE_LIMIT", 10)
LOGIN_LOCKOUT_MINUTES = env_int("PORTAL_LOGIN_LOCKOUT_MINUTES", 15)
AUTH_FAILURES_PER_ADDRESS = env_int("PORTAL_AUTH_FAILURES_PER_ADDRESS", 50)
AUTH_FAILURE_WINDOW = max(1, env_int("PORTAL_AUTH_FAILURE_WINDOW_SECONDS", 300))
API_CALLS_PER_MINUTE = env_int("PORTAL_API_CALLS_PER_MINUTE", 60000)
# Personal tokens expire: after TOKEN_DAYS unless their maker chose otherwise, never
# later than TOKEN_MAX_DAYS after creation.
TOKEN_DAYS = env_int("PORTAL_TOKEN_DAYS", 90)
TOKEN_MAX_DAYS = env_int("PORTAL_TOKEN_MAX_DAYS", 365)
AXES_ENABLED = LOGIN_FAILURE_LIMIT > 0
AXES_FAILURE_LIMIT = max(1, LOGIN_FAILURE_LIMIT)
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_COOLOFF_TIME = timedelta(minutes=max(1, LOGIN_LOCKOUT_MINUTES))
AXES_RESET_ON_SUCCESS = True
AXES_CLIENT_IP_CALLABLE = "portal.throttle.client_address"
AXES_LOCKOUT_CALLABLE = "portal.signin.lockout_response"
AXES_DISABLE_ACCESS_LOG = True  # successful sign-ins go to the audit log
AXES_VERBOSE = False

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "portal.api.auth.PersonalTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_PAGINATION_CLASS": "portal.api.inputs.Pagination",
    "DEFAULT_PARSER_CLASSES": [
        "portal.api.inputs.JSONParser",
        "rest_framework.parsers.FormParser",
        "rest_framework.parsers.MultiPartParser",
    ],
    "PAGE_SIZE": 50,
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "EXCEPTION_HANDLER": "portal.api.errors.exception_handler",
    "DEFAULT_THROTTLE_CLASSES": ["portal.api.auth.CallerRateThrottle"],
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Kube portal API",
    "DESCRIPTION": "Clusters, compute targets, instance types and jobs.",
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    # The schema and its docs page are for signed-in users (or a token): they list every
    # operation and field, which anonymous visitors have no need of.
    "SERVE_PERMISSIONS": ["rest_framework.permissions.IsAuthenticated"],
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "ENUM_NAME_OVERRIDES": {
        "ClusterStatusEnum": "compute.models.ClusterStatus",
        "ExtensionStatusEnum": "compute.models.ExtensionStatus",
        "TargetStatusEnum": "compute.models.TargetStatus",
        "RequestStatusEnum": "compute.models.RequestStatus",
        "JobStatusEnum": "jobs.models.Status",
    },
}
CSRF_FAILURE_VIEW = "portal.views.csrf_failure"

if PRODUCTION:
    SECURE_SSL_REDIRECT = env_bool("PORTAL_SECURE_SSL_REDIRECT", True)
    # Probes and scrapers talk plain HTTP to the pod or host directly.
    SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^readyz$", r"^metrics$"]
    SESSION_COOKIE_SECURE = CSRF_COOKIE_SECURE = env_bool("PORTAL_SECURE_COOKIES", True)
    SECURE_HSTS_SECONDS = env_int("PORTAL_HSTS_SECONDS", 31536000)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SESSION_COOKIE_HTTPONLY = True
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
# No inline script or style anywhere (django-csp): scripts, styles and images come from
# the portal itself; websockets and htmx requests go back to it; nothing may frame it.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [csp.SELF],
        "script-src": [csp.SELF],
        "style-src": [csp.SELF],
        "img-src": [csp.SELF, "data:"],
        "font-src": [csp.SELF],
        "connect-src": [csp.SELF],
        "object-src": [csp.NONE],
        "base-uri": [csp.SELF],
        "form-action": [csp.SELF],
        "frame-ancestors": [csp.NONE],
    }
}
PERMISSIONS_POLICY = "camera=(), microphone=(), geolocation=(), payment=(), usb=()"

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {
        "context": {"()": "portal.logs.ContextFilter"},
        "refusals": {"()": "portal.logs.RefusalFilter"},
    },
    "formatters": {
        "text": {"format": "%(asctime)s %(levelname)s %(name)s [%(context)s]: %(message)s"},
        "json": {"()": "portal.logs.JsonFormatter"},
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": LOG_FORMAT,
            "filters": ["context"],
        }
    },
    "root": {"handlers": ["console"], "level": env_str("PORTAL_LOG_LEVEL", "INFO")},
    "loggers": {
        "kubernetes": {"level": "WARNING"},
        "urllib3": {"level": "WARNING"},
        # django-axes writes lines per failed sign-in; an attack would flood the log.
        "axes": {"level": "ERROR"},
        # A refused request (403, 404) is not an error: INFO, no traceback.
        "django.request": {"filters": ["refusals"]},
    },
}
