#!/usr/bin/env bash
# The whole test run behind `make test`: lint, Django checks, the suite in the
# embedded mode (with the browser tests), then again in the production mode
# against PostgreSQL and Redis on 127.0.0.1.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=.venv/bin

step() { printf '\n== %s\n' "$*"; }

# Tests run on as many workers as the machine has cores (PORTAL_TEST_WORKERS overrides);
# each worker has its own database and its own kubesim servers.
WORKERS="${PORTAL_TEST_WORKERS:-$(nproc)}"

# pytest exits 5 when it collected nothing: that is a failure here, not a pass.
run_pytest() {
  local code=0
  "$BIN/pytest" -n "$WORKERS" "$@" || code=$?
  if [ "$code" -eq 5 ]; then echo "pytest collected no tests" >&2; return 1; fi
  return "$code"
}

ensure_chromium() {
  if ! command -v chromium >/dev/null 2>&1; then
    step "installing Chromium for the browser tests"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
  fi
}

ensure_kubectl() {
  if ! command -v kubectl >/dev/null 2>&1; then
    step "installing kubectl for the tests that drive it"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq kubectl >/dev/null || true
  fi
  if ! command -v kubectl >/dev/null 2>&1; then
    echo "kubectl is not installed and apt-get could not install it; install kubectl 1.32" >&2
    exit 1
  fi
}

ensure_services() {
  if ! pg_isready -h 127.0.0.1 -p 5432 -q 2>/dev/null; then
    pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql)" main start || true
  fi
  if ! redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1; then
    redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no || true
  fi
  for _ in $(seq 1 30); do
    if pg_isready -h 127.0.0.1 -p 5432 -q 2>/dev/null && redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1; then
      return 0
    fi
    sleep 1
  done
  return 1
}

step "ruff"
"$BIN/ruff" check .
"$BIN/ruff" format --check .

step "Django checks"
"$BIN/python" manage.py check
"$BIN/python" manage.py makemigrations --check --dry-run

ensure_chromium
ensure_kubectl
export PORTAL_DATA_DIR="${PORTAL_DATA_DIR:-$(mktemp -d)}"

step "tests, embedded mode (SQLite, in-process channel layer)"
run_pytest -p no:cacheprovider

if ensure_services; then
  step "tests, production mode (PostgreSQL, Redis)"
  export DATABASE_URL="postgres://postgres@127.0.0.1:5432/portal"
  export REDIS_URL="redis://127.0.0.1:6379/15"
  # Counters a previous run left (sign-in throttles, rate limits) must not carry over.
  redis-cli -h 127.0.0.1 -p 6379 -n 15 flushdb >/dev/null
  export PORTAL_SECRET_KEY="ci-only-secret-$(head -c 48 /dev/urandom | base64 | tr -dc 'A-Za-z0-9')"
  export PORTAL_ENCRYPTION_KEYS="$("$BIN/python" -c 'from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())')"
  export PORTAL_SECURE_SSL_REDIRECT=0
  # As in a deployment: static files are collected (hashed names) before serving.
  "$BIN/python" manage.py collectstatic --noinput -v0
  PORTAL_TEST_DB_ONLY=1 run_pytest -p no:cacheprovider -m "not browser"
else
  echo "PostgreSQL or Redis did not answer on 127.0.0.1; production-mode run failed to start" >&2
  exit 1
fi
