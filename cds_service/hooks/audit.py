"""Protocol layer: the audit writer: one record per hook invocation, written off the request path.

A single background thread per process writes audit rows and issued cards in order, so the clinician's
answer never waits on the database (the write was ~40 % of the protocol overhead when done inline).
It also keeps out of the way of the requests themselves: it gathers what arrives within `_COLLECT_S` of a
first record, then writes when no request is in flight in the process (`InFlight` tells it; at most
`_IDLE_WAIT_S` later under constant load), everything queued by then in one transaction, so a record reaches
the database within about 0.35 s. When the queue is full the caller writes synchronously (back-pressure,
never a dropped audit row); `flush()` ends any wait and returns once the queue is written (tests, worker
shutdown).
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Sequence
from typing import Any

from werkzeug.wsgi import ClosingIterator

from cds_service.store.db import Store
from cds_service.store.protocol import Invocation, IssuedCard, record_hook_calls

log = logging.getLogger(__name__)

_QUEUE_SIZE = 1000
_COLLECT_S = 0.1     # how long the writer gathers records into one transaction
_IDLE_WAIT_S = 0.25  # then, longest it waits for a gap between requests
_BATCH = 200         # records written per transaction at most


class AuditWriter:
    def __init__(self, store: Store) -> None:
        self._store = store
        self._queue: queue.Queue[tuple[Invocation, Sequence[IssuedCard]] | None] = queue.Queue(_QUEUE_SIZE)
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        # Requests being served by this process (`InFlight` counts them): the writer waits for a gap between them.
        self._in_flight = 0
        self._idle = threading.Condition()

    # -- request tracking ---------------------------------------------------------------------------------

    def request_started(self) -> None:
        with self._idle:
            self._in_flight += 1

    def request_finished(self) -> None:
        with self._idle:
            self._in_flight -= 1
            if self._in_flight <= 0:
                self._in_flight = 0
                self._idle.notify_all()

    # -- writing ----------------------------------------------------------------------------------------------

    def submit(self, invocation: Invocation, cards: Sequence[IssuedCard]) -> None:
        self._ensure_thread()
        try:
            self._queue.put_nowait((invocation, cards))
        except queue.Full:
            self._write([(invocation, cards)])

    def flush(self, timeout: float = 10.0) -> None:
        """Block until every submitted record is written (or `timeout` passes)."""
        done = threading.Event()
        if self._thread is None:
            return
        # A marker job: when the single writer reaches it, everything before it is written.
        self._queue.put((_Marker(done), ()))  # type: ignore[arg-type]
        done.wait(timeout)

    def _ensure_thread(self) -> None:
        # Started lazily: gunicorn forks workers after the app is built, and threads do not survive a fork.
        if self._thread is not None and self._thread.is_alive():
            return
        with self._lock:
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="audit-writer", daemon=True)
                self._thread.start()

    def _run(self) -> None:
        while True:
            first = self._queue.get()
            if first is None:
                return
            batch = [first]
            stop = False
            if not isinstance(first[0], _Marker):
                # A transaction costs about 0.45 ms for one record and 0.17 ms per record for twenty (SQLite,
                # six cards each): gather what arrives within `_COLLECT_S` (a flush or stop ends the wait),
                # so a busy worker pays the fixed cost once per batch instead of once per request.
                stop = self._take(batch, deadline=time.monotonic() + _COLLECT_S)
                # The write costs CPU and, in Python, the GIL: done while a request is being computed it
                # slows that request. Wait for a moment when none is in flight (bounded, so a busy worker
                # still writes), then write everything queued by then in one transaction.
                if not stop:
                    with self._idle:
                        self._idle.wait_for(lambda: self._in_flight == 0, timeout=_IDLE_WAIT_S)
            if not stop:
                stop = self._take(batch, deadline=None)
            records = [item for item in batch if not isinstance(item[0], _Marker)]
            if records:
                self._write(records)
            for item in batch:
                if isinstance(item[0], _Marker):
                    item[0].done.set()
            if stop:
                return

    def _take(self, batch: list[Any], *, deadline: float | None) -> bool:
        """Move queued jobs into `batch` (up to `_BATCH`): with a deadline, those arriving until it passes or a
        flush marker comes; without, only those queued now. True when the stop sentinel was taken."""
        while len(batch) < _BATCH:
            try:
                if deadline is None:
                    item = self._queue.get_nowait()
                else:
                    remaining = deadline - time.monotonic()
                    if remaining <= 0:
                        return False
                    item = self._queue.get(timeout=remaining)
            except queue.Empty:
                return False
            if item is None:
                return True
            batch.append(item)
            if deadline is not None and isinstance(item[0], _Marker):
                return False
        return False

    def _write(self, records: Sequence[tuple[Invocation, Sequence[IssuedCard]]]) -> None:
        try:
            record_hook_calls(self._store, records)
        except Exception as exc:  # the audit must never take the service down; say so loudly
            if len(records) > 1:
                # One bad row must not cost the others: write them one by one.
                for record in records:
                    self._write([record])
                return
            log.error("audit write failed hookInstance=%s error=%s", records[0][0].hook_instance,
                      type(exc).__name__)


class _Marker:
    def __init__(self, done: threading.Event) -> None:
        self.done = done
        self.hook_instance = "-"


class InFlight:
    """WSGI middleware: tells the audit writer when a request starts and when its response has been sent
    (the server closes the response iterable after the last byte)."""

    def __init__(self, app: Any, writer: AuditWriter) -> None:
        self.app = app
        self.writer = writer

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        self.writer.request_started()
        try:
            result = self.app(environ, start_response)
        except BaseException:
            self.writer.request_finished()
            raise
        return ClosingIterator(result, [self.writer.request_finished])
