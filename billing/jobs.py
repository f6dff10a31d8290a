"""How a service starts Celery work: by task name, once the caller's transaction has committed.

By name, so that a service never imports the tasks module that calls it (tasks sit above services).
After the commit, so that a worker never looks for rows it cannot see yet, and a rolled-back change
never leaves work behind. The database, not the broker, is the truth about work still to do: each
service that enqueues writes what is due first, and the clock finds again whatever a lost message
did not do, so a broker that refuses the message is logged here, not raised into the committed caller.
"""

import logging

from celery import current_app
from django.db import transaction

logger = logging.getLogger(__name__)


def task_named(name: str):
    """The registered Celery task called `name`."""
    app = current_app
    if name not in app.tasks:
        # A web process has not imported the apps' tasks modules yet: Celery's own discovery does it.
        app.loader.import_default_modules()
    return app.tasks[name]


def enqueue(task_name: str, *args: str, countdown: float | None = None) -> None:
    """Send `task_name(*args)` (ids as text) now, from work that has already committed: a broker that
    refuses it is logged, not raised. `countdown`: seconds before a worker may run it (a retry later)."""
    try:
        task = task_named(task_name)
        if countdown is None:
            task.delay(*args)
        else:
            task.apply_async(args=args, countdown=countdown)
    except Exception:
        if current_app.conf.task_always_eager:
            raise  # in-process mode: a failing task is the caller's error, not a broker's
        logger.exception("could not enqueue %s%r; the clock will find the work again", task_name, args)


def enqueue_on_commit(task_name: str, *args: str, countdown: float | None = None) -> None:
    """`enqueue` once the current transaction commits; at once outside one."""
    transaction.on_commit(lambda: enqueue(task_name, *args, countdown=countdown))
