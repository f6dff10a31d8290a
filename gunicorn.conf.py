"""gunicorn reads this file from the directory it starts in (the project root)."""

import select

# One idle worker woken per connection (billing/gunicorn_worker.py); EPOLLEXCLUSIVE is Linux-only.
if hasattr(select, "EPOLLEXCLUSIVE"):
    worker_class = "billing.gunicorn_worker.ExclusiveSyncWorker"

# gunicorn 27 opens a control socket at one fixed path per user (~/.gunicorn/gunicorn.ctl), which two
# servers on one host (a blue-green switch, the tests, the benchmarks) would both claim; we don't use it.
control_socket_disable = True
