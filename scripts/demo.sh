#!/usr/bin/env bash
# Set up and start the app on a fresh machine with no services: SQLite, Celery tasks in-process,
# a demo organization with a staff login and an API key (printed).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/install.sh

install_python requirements.txt

export DEBUG="${DEBUG:-true}"
export DATABASE_URL="${DATABASE_URL:-sqlite:///$(pwd)/db.sqlite3}"
PORT="${PORT:-8000}"

.venv/bin/python manage.py migrate --noinput -v0
.venv/bin/python manage.py collectstatic --noinput -v0
.venv/bin/python manage.py seed_demo
echo "Open http://127.0.0.1:${PORT}/ (API: http://127.0.0.1:${PORT}/api/v1/, docs: http://127.0.0.1:${PORT}/api/docs)"
exec .venv/bin/python manage.py runserver "127.0.0.1:${PORT}"
