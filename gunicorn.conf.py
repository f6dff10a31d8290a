"""gunicorn reads this file from the directory it starts in (the project root)."""

import select

# One idle worker woken per connection (billing/gunicorn_worker.py); EPOLLEXCLUSIVE is Linux-only.
if hasattr(select, "EPOLLEXCLUSIVE"):
    worker_class = "billing.gunicorn_worker.ExclusiveSyncWorker"
