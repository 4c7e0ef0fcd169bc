"""Protocol layer: the audit writer: one record per hook invocation, written off the request path.

A single background thread per process writes audit rows and issued cards in order, so the clinician's
answer never waits on the database (the write was ~40 % of the protocol overhead when done inline).
When the queue is full the caller writes synchronously (back-pressure, never a dropped audit row);
`flush()` waits for the queue to drain (tests, worker shutdown).
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Sequence

from cds_service.store.db import Store
from cds_service.store.protocol import Invocation, IssuedCard, record_hook_call

log = logging.getLogger(__name__)

_QUEUE_SIZE = 1000


class AuditWriter:
    def __init__(self, store: Store) -> None:
        self._store = store
        self._queue: queue.Queue[tuple[Invocation, Sequence[IssuedCard]] | None] = queue.Queue(_QUEUE_SIZE)
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def submit(self, invocation: Invocation, cards: Sequence[IssuedCard]) -> None:
        self._ensure_thread()
        try:
            self._queue.put_nowait((invocation, cards))
        except queue.Full:
            self._write(invocation, cards)

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
            item = self._queue.get()
            if item is None:
                return
            invocation, cards = item
            if isinstance(invocation, _Marker):
                invocation.done.set()
                continue
            self._write(invocation, cards)

    def _write(self, invocation: Invocation, cards: Sequence[IssuedCard]) -> None:
        try:
            record_hook_call(self._store, invocation, cards)
        except Exception as exc:  # the audit must never take the service down; say so loudly
            log.error("audit write failed hookInstance=%s error=%s", invocation.hook_instance, type(exc).__name__)


class _Marker:
    def __init__(self, done: threading.Event) -> None:
        self.done = done
        self.hook_instance = "-"
