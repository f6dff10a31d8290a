#!/usr/bin/env bash
# Set up and start the app on a fresh machine with no services: SQLite, Celery tasks in-process,
# a demo organization with a staff login and an API key (printed).
#
# Environment: PORT (8000), DATABASE_URL (db.sqlite3 here), DEMO_SKIP_INSTALL=1 to use the
# virtualenv as it is (no pip: offline, or already installed by the tests), DEMO_SETUP_ONLY=1 to
# stop once the demo data is in place, without starting the server. tests/test_demo_sqlite.py runs
# this script.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/install.sh

if [ "${DEMO_SKIP_INSTALL:-}" != 1 ]; then
  install_python requirements.txt
fi

export DEBUG="${DEBUG:-true}"
export DATABASE_URL="${DATABASE_URL:-sqlite:///$(pwd)/db.sqlite3}"
PORT="${PORT:-8000}"

.venv/bin/python manage.py migrate --noinput -v0
.venv/bin/python manage.py collectstatic --noinput -v0
.venv/bin/python manage.py seed_demo
if [ "${DEMO_SETUP_ONLY:-}" = 1 ]; then
  exit 0
fi
echo "Open http://127.0.0.1:${PORT}/ (API docs: http://127.0.0.1:${PORT}/api/docs)"
echo "Try the API: curl -H \"Authorization: Bearer <API key>\" http://127.0.0.1:${PORT}/api/v1/customers"
exec .venv/bin/python manage.py runserver "127.0.0.1:${PORT}"
