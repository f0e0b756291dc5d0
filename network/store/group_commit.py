"""Group commit: one thread per store writes everything that arrived while it wrote the previous
group, in one database transaction, and only then answers each caller.

A caller hands a submission (one or more items) to :meth:`GroupCommitWriter.enqueue` and waits
for its future; the thread takes whatever is queued (up to ``max_group`` items), calls
:meth:`~GroupCommitWriter.write_group` in one transaction, commits, and calls
:meth:`~GroupCommitWriter.committed`. A thousand callers cost one transaction instead of a
thousand. When a group fails as a whole (say a concurrent replica wrote a row with the same
unique key between the group's read and its insert), each of its items is written again
alone, so one item never fails another; a lone item that still fails gets
:meth:`~GroupCommitWriter.failed_alone`.

What is written, and what each item is answered, is the subclass's (gateway/services/
purchase_writer.py: purchase acceptance). Items carry their answer in ``result`` (None until
answered); a submission's future ends with its items' answers, in order.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any, Generic, Protocol, TypeVar

from sqlalchemy.orm import Session, sessionmaker

log = logging.getLogger(__name__)
CHECKPOINT_EVERY_S = 0.5
SLOW_GROUP_S = 0.1  # a group commit slower than this is logged (every caller in it waited)


class Answerable(Protocol):
    result: Any  # None until answered: a value, or the exception that refused it


Item = TypeVar("Item", bound=Answerable)
Written = TypeVar("Written")


@dataclass(slots=True)
class Submission(Generic[Item]):
    """The items of one caller; its future ends once every one of them has its answer."""

    items: list[Item]
    future: Future[list[Any]] = field(default_factory=Future)


class GroupCommitWriter(Generic[Item, Written]):
    """The group-commit thread of one store (see the module doc). Subclasses say what a group
    writes (:meth:`write_group`) and what its items are answered (:meth:`committed`,
    :meth:`failed_alone`)."""

    thread_name = "group-commit"

    def __init__(self, sessions: sessionmaker[Session], max_group: int = 2000) -> None:
        self.sessions = sessions
        self.max_group = max_group
        self._queue: queue.SimpleQueue[Submission[Item] | None] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self.groups = 0  # commits made, for the benchmarks and the tests
        engine = sessions.kw["bind"]
        # SQLite: the writer's commits never run a WAL checkpoint (its fsyncs would be waited for
        # by every caller of that group); a thread of its own does it instead
        self._sqlite = engine.dialect.name == "sqlite"
        self._checkpointed_at = 0

    # ------------------------------------------------------------------ what a subclass says

    def write_group(self, session: Session, group: list[Item]) -> Written | None:
        """Writes the group in ``session`` (not committed); None when there is nothing to commit.
        Items refused before the commit may be answered here."""
        raise NotImplementedError

    def committed(self, group: list[Item], written: Written) -> None:
        """After the commit: answers the items that wait for it."""
        raise NotImplementedError

    def failed_alone(self, item: Item, exc: Exception) -> None:
        """A lone item's write failed with ``exc``: answer it."""
        item.result = exc

    # ------------------------------------------------------------------ callers

    def enqueue(self, items: list[Item]) -> Future[list[Any]]:
        submission = Submission(items)
        self._ensure_running()
        self._queue.put(submission)
        return submission.future

    def stop(self, timeout_s: float = 10.0) -> None:
        """Writes what is queued, then ends the thread."""
        with self._lock:
            thread, self._thread = self._thread, None
        if thread is not None:
            self._queue.put(None)
            thread.join(timeout_s)

    # ------------------------------------------------------------------ the thread

    def _ensure_running(self) -> None:
        if self._thread is not None:
            return
        with self._lock:
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name=self.thread_name, daemon=True)
                self._thread.start()
                if self._sqlite:
                    threading.Thread(
                        target=self._checkpoint, name=f"{self.thread_name}-checkpoint", daemon=True
                    ).start()

    def _checkpoint(self, every_s: float = CHECKPOINT_EVERY_S) -> None:
        """Moves the WAL into the database file (PASSIVE: never blocks a writer) while groups
        are written; the writer's own connections have automatic checkpoints off."""
        engine = self.sessions.kw["bind"]
        while self._thread is not None:
            time.sleep(every_s)
            if self.groups == self._checkpointed_at:
                continue
            self._checkpointed_at = self.groups
            try:
                with engine.connect() as connection:
                    connection.exec_driver_sql("PRAGMA wal_checkpoint(PASSIVE)")
            except Exception:
                log.exception("WAL checkpoint failed (the next one retries)")

    def _run(self) -> None:
        while True:
            first = self._queue.get()
            if first is None:
                return
            submissions, size, stopping = [first], len(first.items), False
            while size < self.max_group:
                try:
                    more = self._queue.get_nowait()
                except queue.Empty:
                    break
                if more is None:
                    stopping = True
                    break
                submissions.append(more)
                size += len(more.items)
            try:
                self._write([item for s in submissions for item in s.items])
            finally:
                for submission in submissions:
                    results = [i.result or RuntimeError("the writer gave no answer") for i in submission.items]
                    submission.future.set_result(results)
            if stopping:
                return

    def _write(self, group: list[Item]) -> None:
        started = time.perf_counter()
        try:
            with self.sessions() as session:
                if self._sqlite:
                    session.connection().exec_driver_sql("PRAGMA wal_autocheckpoint=0")
                written = self.write_group(session, group)
                if written is None:
                    session.rollback()
                    return
                session.commit()
            self.groups += 1
            took = time.perf_counter() - started
            if took > SLOW_GROUP_S:
                log.warning("a group of %d items took %.0f ms to write", len(group), took * 1000)
        except Exception as exc:
            if len(group) == 1:
                self.failed_alone(group[0], exc)
                return
            log.info("a group of %d items failed (%s); writing each alone", len(group), exc)
            for item in group:
                if item.result is None:
                    self._write([item])
            return
        self.committed(group, written)
