"""gunicorn's sync worker, woken one at a time.

Idle sync workers all wait in select() on the shared listening socket, so every new connection
wakes each of them and all but one go back to sleep after a failed accept(). On two cores with
four workers, that herd cost about 15 % of the sequential API throughput. Waiting in epoll with
EPOLLEXCLUSIVE on the listener makes the kernel wake a single idle worker per connection, as
nginx does. Everything else (parsing, signals, graceful stop) is gunicorn's own sync worker.

`gunicorn.conf.py` at the project root selects this worker; off Linux it falls back to select().
"""

import os
import select

from gunicorn.workers.sync import SyncWorker


class ExclusiveSyncWorker(SyncWorker):
    def run(self) -> None:
        # Created here, after the fork: each worker needs its own epoll instance.
        self.poller = select.epoll()
        self.ready_by_fd = {}
        for listener in self.sockets:
            self.poller.register(listener.fileno(), select.EPOLLIN | select.EPOLLEXCLUSIVE)
            self.ready_by_fd[listener.fileno()] = listener
        # Signals write to this pipe (signal.set_wakeup_fd): every worker must see them.
        self.poller.register(self.PIPE[0], select.EPOLLIN)
        self.ready_by_fd[self.PIPE[0]] = self.PIPE[0]
        try:
            super().run()
        finally:
            self.poller.close()

    def wait(self, timeout: float) -> list:
        self.notify()
        ready = [self.ready_by_fd[fd] for fd, _ in self.poller.poll(timeout)]
        if self.PIPE[0] in ready:
            try:
                os.read(self.PIPE[0], 1)
            except BlockingIOError:
                pass
        return ready
