"""A real HTTP receiver on loopback for webhook tests: it records every request and answers from a
script.

    with Receiver(Answer(500), Answer(500), Answer(200)) as receiver:
        ...deliver to receiver.url("/hooks")...
        receiver.wait_for(3)             # for deliveries made by another process (a Celery worker)
        [first, second, third] = receiver.requests

- Each request is recorded when it arrives, before it is answered: `method`, `path`, `headers`
  (a case-insensitive `email.message.Message`) and the exact `body` bytes.
- Answers are used in order, one per request; once the script is used up, `default` answers
  (200 "ok" unless told). `answer(...)` adds answers to the script later.
- An `Answer` has a status, a body, extra headers and a `delay` before it is sent. A delay longer
  than the sender's timeout is a receiver that never answers; `trickle` sends the body one byte at
  a time, `trickle` apart (with `trickle_head`, the status line and headers too). `stop()` cuts
  every wait short, so a test never waits for it.
- One thread per request (`ThreadingHTTPServer`): a slow answer never holds up another request,
  so one receiver can play a slow endpoint and a fast one at two paths (`answer_path`).

Only the standard library; the port is chosen by the system.
"""

import threading
from collections import deque
from dataclasses import dataclass, field
from email.message import Message
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass(frozen=True)
class Answer:
    status: int = 200
    body: bytes = b"ok"
    delay: float = 0.0  # seconds before answering
    trickle: float = 0.0  # seconds between the bytes of the body: slow, but never silent for long
    trickle_head: bool = False  # the status line and the headers trickle too
    headers: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    headers: Message
    body: bytes


def _phrase(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Unknown"


class _Handler(BaseHTTPRequestHandler):
    server: "_Server"
    protocol_version = "HTTP/1.1"

    def _handle(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        receiver = self.server.receiver
        answer = receiver._record(Request(self.command, self.path, self.headers, body))
        self.close_connection = True  # one request per connection: a sender's retry opens a new one
        if answer.delay and receiver._stopping.wait(answer.delay):
            return  # stopped while "never answering": drop the connection
        head = [f"HTTP/1.1 {answer.status} {_phrase(answer.status)}"]
        head += [f"{name}: {value}" for name, value in answer.headers.items()]
        head += [f"Content-Length: {len(answer.body)}", "Connection: close", "", ""]
        head_bytes = "\r\n".join(head).encode("latin-1")
        if not answer.trickle:
            self.wfile.write(head_bytes + answer.body)
            return
        fast, slow = (b"", head_bytes + answer.body) if answer.trickle_head else (head_bytes, answer.body)
        self.wfile.write(fast)
        self.wfile.flush()
        for byte in slow:
            if receiver._stopping.wait(answer.trickle):
                return
            self.wfile.write(bytes([byte]))
            self.wfile.flush()

    do_POST = do_GET = do_PUT = do_DELETE = _handle

    def log_message(self, format, *args) -> None:  # quiet
        pass


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False  # stop() does not wait for a sleeping answer

    def __init__(self, receiver: "Receiver"):
        self.receiver = receiver
        super().__init__(("127.0.0.1", 0), _Handler)

    def handle_error(self, request, client_address) -> None:
        pass  # the sender gave up (its timeout): nothing to report


class Receiver:
    """Start it with `start()` or `with`; `url(path)` is where it listens."""

    def __init__(self, *answers: Answer, default: Answer | None = None):
        self.default = default or Answer()
        self._script: deque[Answer] = deque(answers)
        self._per_path: dict[str, deque[Answer]] = {}
        self._requests: list[Request] = []
        self._changed = threading.Condition()
        self._stopping = threading.Event()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    # Lifecycle -----------------------------------------------------------------------------------

    def start(self) -> "Receiver":
        self._server = _Server(self)
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, name="webhook-receiver", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> "Receiver":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    # Use -----------------------------------------------------------------------------------------

    @property
    def port(self) -> int:
        assert self._server is not None, "start the receiver first"
        return self._server.server_address[1]

    def url(self, path: str = "/webhooks") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def answer(self, *answers: Answer) -> None:
        """Add answers to the script (used in order, by requests to any path)."""
        with self._changed:
            self._script.extend(answers)

    def answer_path(self, path: str, *answers: Answer) -> None:
        """Answers for requests to `path` only, used before the shared script."""
        with self._changed:
            self._per_path.setdefault(path, deque()).extend(answers)

    @property
    def requests(self) -> list[Request]:
        with self._changed:
            return list(self._requests)

    def requests_to(self, path: str) -> list[Request]:
        return [request for request in self.requests if request.path == path]

    def wait_for(self, count: int, timeout: float = 10.0, path: str | None = None) -> list[Request]:
        """Block until `count` requests (to `path`, if given) have arrived; return them. Raises
        AssertionError after `timeout` seconds."""

        def arrived() -> list[Request]:
            return [request for request in self._requests if path is None or request.path == path]

        with self._changed:
            if not self._changed.wait_for(lambda: len(arrived()) >= count, timeout=timeout):
                raise AssertionError(f"{len(arrived())} of {count} requests arrived in {timeout} s")
            return arrived()

    def _record(self, request: Request) -> Answer:
        with self._changed:
            self._requests.append(request)
            self._changed.notify_all()
            own = self._per_path.get(request.path)
            if own:
                return own.popleft()
            return self._script.popleft() if self._script else self.default
