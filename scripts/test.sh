#!/usr/bin/env bash
# The whole test suite on PostgreSQL and Redis, from a fresh clone: installs what it needs,
# starts the services when they are down, checks style, runs pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/install.sh
source scripts/services.sh

install_python requirements-dev.txt
install_browser
start_services

export DATABASE_URL="${TEST_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/billing}"
export REDIS_URL="${TEST_REDIS_URL:-redis://127.0.0.1:6379/15}"
export CELERY_BROKER_URL="$REDIS_URL"
export SECRET_KEY="test-secret-key-not-for-production"
export DEBUG=false

# The database the tests connect to first (pytest-django then creates test_billing).
psql -h 127.0.0.1 -U postgres -tAc "SELECT 1 FROM pg_database WHERE datname = 'billing'" | grep -q 1 \
  || createdb -h 127.0.0.1 -U postgres billing

.venv/bin/ruff check .
.venv/bin/lint-imports --no-cache  # the apps' dependency order (.importlinter)
.venv/bin/python manage.py collectstatic --noinput -v0
.venv/bin/python manage.py makemigrations --check --dry-run >/dev/null
.venv/bin/python -m pytest "$@"
