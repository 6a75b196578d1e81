"""``GroupConsumer``: one member of a consumer group (liblnc's ``lnc_group_consumer_*``).

Membership, assignment, fencing and commits all happen in liblnc (design and exactly when a
record is delivered twice: ``docs/groups.md``); this module only translates.
"""

from __future__ import annotations

import ctypes
import enum
import struct
import threading
import weakref
from typing import Any, Dict, Iterator, List, Mapping, NamedTuple, Optional, Sequence, Tuple

from . import _ffi as F
from .config import CONNECTION_KEYS
from ._ffi import lib
from ._util import Conf, Deadline, Handle, interruptible, to_ms
from .errors import ClosedError, InvalidArgumentError, LanceError, error_class, make_error
from .records import _VIEW, TlvRecord, _from_view

__all__ = ["GroupConsumer", "GroupEvent", "GroupEventKind", "GroupTopic"]

#: Connection keys the name lookup's admin connection shares with the member.


class GroupEventKind(enum.IntEnum):
    """What a :class:`GroupEvent` is (``lnc_group_event_kind_t``)."""

    RECORD = F.LNC_GROUP_EVENT_RECORD
    ASSIGNED = F.LNC_GROUP_EVENT_ASSIGNED
    REVOKED = F.LNC_GROUP_EVENT_REVOKED
    ERROR = F.LNC_GROUP_EVENT_ERROR


class GroupTopic(NamedTuple):
    """A topic of the group. ``name`` is looked up when the topic is first assigned; None when
    that lookup failed (tried again at the next assignment). Ids identify topics."""

    id: int
    name: Optional[str]


class GroupEvent(NamedTuple):
    """One entry of :meth:`GroupConsumer.poll`, in liblnc's order: assignment changes come alone
    in their poll, an ASSIGNED precedes every record of its topics, and no record of a topic
    follows its REVOKED (records of it already returned may be delivered again to its next
    owner)."""

    kind: GroupEventKind
    #: RECORD, ERROR: the topic.
    topic: Optional[GroupTopic] = None
    #: RECORD: the record.
    record: Optional[TlvRecord] = None
    #: ASSIGNED, REVOKED: the topics.
    topics: Tuple[GroupTopic, ...] = ()
    #: ERROR: what the topic's consumer met (liblnc retries the topic).
    error: Optional[LanceError] = None


def _group_free(ptr: int) -> None:
    lib.lnc_group_consumer_free(ptr)


# lnc_group_event_t as one struct (kind, topic_id, the record view's 13 fields, topics,
# topic_count, error_code, error_message): one string_at per event instead of a ctypes attribute
# read per field.
_EVENT = struct.Struct("=iI" + _VIEW.format[1:] + "QQixxxxQ")
assert _EVENT.size == ctypes.sizeof(F.lnc_group_event_t), "lnc_group_event_t layout changed"

_RawEvent = Tuple[int, int, Optional[TlvRecord], Tuple[int, ...], Optional[LanceError]]


def _read_batch(batch: int) -> List[_RawEvent]:
    """Copies a batch out of liblnc's memory: (kind, topic id, record, topic ids, error)."""
    n = lib.lnc_group_events_count(batch)
    out: List[_RawEvent] = []
    ev = F.lnc_group_event_t()
    ev_addr, ev_size = ctypes.addressof(ev), _EVENT.size
    get, string_at, unpack = lib.lnc_group_events_get, ctypes.string_at, _EVENT.unpack
    for i in range(n):
        rc = get(batch, i, ctypes.byref(ev))
        if rc:
            raise make_error(rc)
        t = unpack(string_at(ev_addr, ev_size))
        kind, topic_id = t[0], t[1]
        if kind == F.LNC_GROUP_EVENT_RECORD:
            out.append((kind, topic_id, _from_view(t[2:15]), (), None))
        elif kind in (F.LNC_GROUP_EVENT_ASSIGNED, F.LNC_GROUP_EVENT_REVOKED):
            topics, count = t[15], t[16]
            ids = tuple(ctypes.cast(topics, ctypes.POINTER(ctypes.c_uint32))[:count]) if count else ()
            out.append((kind, topic_id, None, ids, None))
        else:  # ERROR (a kind unknown to this binding is reported as an error, not dropped)
            code, msg_ptr = t[17], t[18]
            msg = string_at(msg_ptr).decode("utf-8", "replace") if msg_ptr else F.err_str(code)
            out.append((F.LNC_GROUP_EVENT_ERROR, topic_id, None, (), error_class(code)._create(msg, code=code)))
    return out


class GroupConsumer:
    """One member of the consumer group ``group_id``: every shared topic (``topics``, or every
    topic named ``topic_prefix``...) is consumed by exactly one live member; a member that
    leaves or dies has its topics moved to the others, resuming at the group's newest commit
    (at-least-once). The group's state lives in the topic ``lnc-group-<group_id>``.

    ::

        with GroupConsumer("127.0.0.1:1992", "billing", ["orders", "refunds"]) as g:
            for ev in g:                        # until closed
                if ev.kind is GroupEventKind.RECORD:
                    handle(ev.topic.name, ev.record)

    Calling :meth:`poll` again marks the records of the previous poll processed (they are what
    the member commits). :meth:`close` leaves cleanly: the others take the topics over at once and
    nothing is delivered twice. Thread-safe: ``close`` from another thread wakes a waiting ``poll``
    (which then raises :class:`ClosedError`; iteration just ends).

    ``options`` are any further liblnc keys (``group.session.timeout.ms``,
    ``group.assignment.strategy``, ``max.poll.records``, ``start.offset``, TLS ...; see the
    README's key table). The constructor blocks up to ``request.timeout.ms`` (it creates the
    group topic if needed).
    """

    def __init__(
        self,
        servers: str,
        group_id: str,
        topics: Optional[Sequence[str]] = None,
        *,
        topic_prefix: Optional[str] = None,
        member_id: Optional[str] = None,
        options: Optional[Mapping[str, Any]] = None,
    ) -> None:
        if isinstance(topics, str):
            raise InvalidArgumentError("topics must be a sequence of names, not a string")
        opts: Dict[str, Any] = {"bootstrap.servers": servers, "group.id": group_id}
        if topics is not None:
            opts["group.topics"] = ",".join(topics)
        if topic_prefix is not None:
            opts["group.topic.prefix"] = topic_prefix
        if member_id is not None:
            opts["group.member.id"] = member_id
        opts.update(options or {})
        self._servers = servers
        self._admin_opts = {k: v for k, v in opts.items() if k in CONNECTION_KEYS}
        conf = Conf(opts)
        self._close_ms = int(conf.get("request.timeout.ms"))
        cptr = conf.ptr
        err = ctypes.c_void_p()

        def create() -> Tuple[int, int]:
            out = ctypes.c_void_p()
            rc = lib.lnc_group_consumer_new(cptr, ctypes.byref(out), ctypes.byref(err))
            return rc, out.value or 0

        def abandon(result: Tuple[int, int]) -> None:
            rc, ptr = result
            if rc == 0:
                lib.lnc_group_consumer_close(ptr, 0)
                lib.lnc_group_consumer_free(ptr)
            else:
                conf.free()
                lib.lnc_error_free(err.value)

        rc, ptr = interruptible(create, abandon)
        if rc:
            conf.free()
            raise make_error(rc, err.value)
        conf.take()
        self._handle = Handle(ptr, _group_free)
        self._finalizer = weakref.finalize(self, self._handle)
        self._member_id = (lib.lnc_group_consumer_member_id(ptr) or b"").decode()
        self._closed = False
        self._names: Dict[int, str] = {}
        self._names_lock = threading.Lock()

    @classmethod
    def connect(cls, servers: str, group_id: str, topics: Optional[Sequence[str]] = None, **kw: Any) -> "GroupConsumer":
        """The constructor under the name ``lnc.aio.GroupConsumer.connect`` has (same arguments)."""
        return cls(servers, group_id, topics, **kw)

    # ------------------------------------------------------------------------------------------

    @property
    def member_id(self) -> str:
        """This member's id (``member_id``, or the one liblnc generated)."""
        return self._member_id

    @property
    def closed(self) -> bool:
        return self._closed

    def _enter(self) -> int:
        if self._closed:
            raise ClosedError("group consumer is closed")
        try:
            return self._handle.acquire()
        except ClosedError:
            raise ClosedError("group consumer is closed") from None

    def poll(self, timeout: Optional[float] = None) -> List[GroupEvent]:
        """Waits up to ``timeout`` seconds (None = until something is ready) and returns what is
        ready: assignment changes alone, or up to ``max.poll.records`` records (and errors)
        tagged with their topic; an empty list on timeout. Raises :class:`ClosedError` once
        closed (a waiting poll wakes with it)."""
        p = self._enter()
        try:
            dl = Deadline(timeout)
            batch = ctypes.c_void_p()
            err = ctypes.c_void_p()
            while True:
                rc = lib.lnc_group_consumer_poll(p, dl.slice_ms(), ctypes.byref(batch), ctypes.byref(err))
                if rc:
                    raise make_error(rc, err.value)
                try:
                    raw = _read_batch(batch.value) if batch.value else []
                finally:
                    lib.lnc_group_events_free(batch.value)
                    batch.value = None
                if raw or dl.expired():
                    break
        finally:
            self._handle.release()
        return self._translate(raw)

    def _translate(self, raw: List[_RawEvent]) -> List[GroupEvent]:
        with self._names_lock:
            assigned = [i for kind, _, _, ids, _ in raw if kind == F.LNC_GROUP_EVENT_ASSIGNED for i in ids]
            if any(i not in self._names for i in assigned):
                self._look_up_names()
            names = self._names
            topic_of: Dict[int, GroupTopic] = {}  # one GroupTopic per topic and batch

            def topic(i: int) -> GroupTopic:
                t = topic_of.get(i)
                if t is None:
                    t = topic_of[i] = GroupTopic(i, names.get(i))
                return t

            out = []
            record_kind = GroupEventKind.RECORD
            for kind, tid, rec, ids, error in raw:
                if kind == F.LNC_GROUP_EVENT_RECORD:
                    out.append(GroupEvent(record_kind, topic(tid), rec))
                elif kind == F.LNC_GROUP_EVENT_ERROR:
                    out.append(GroupEvent(GroupEventKind.ERROR, topic(tid), error=error))
                else:
                    out.append(GroupEvent(GroupEventKind(kind), topics=tuple(topic(i) for i in ids)))
            return out

    def _look_up_names(self) -> None:
        """Refreshes the name cache with one ListTopics (a short-lived admin connection); a
        failure leaves names unknown."""
        from .client import LanceClient
        from .config import ClientConfig

        try:
            cc = ClientConfig(servers=self._servers)
            cc.options.update(self._admin_opts)
            with LanceClient(cc) as admin:
                for t in admin.list_topics():
                    self._names[t.id] = t.name
        except LanceError:
            pass

    def assignment(self) -> List[GroupTopic]:
        """The topics this member consumes now."""
        p = self._enter()
        try:
            cap = 16
            while True:
                arr = (ctypes.c_uint32 * cap)()
                count = ctypes.c_size_t()
                rc = lib.lnc_group_consumer_assignment(p, arr, cap, ctypes.byref(count))
                if rc:
                    raise make_error(rc)
                if count.value <= cap:
                    ids = list(arr[: count.value])
                    break
                cap = count.value + 4  # grown since the call: ask again
        finally:
            self._handle.release()
        with self._names_lock:
            return [GroupTopic(i, self._names.get(i)) for i in ids]

    def __iter__(self) -> Iterator[GroupEvent]:
        """Yields every event until the consumer is closed (from another thread)."""
        while True:
            try:
                events = self.poll(None)
            except ClosedError:
                return
            yield from events

    def close(self, timeout: Optional[float] = None) -> None:
        """Leaves the group: commits what poll handed out, writes a leave record and stops,
        within ``timeout`` seconds (None: ``request.timeout.ms``). Idempotent; safe while other
        threads poll (they wake with :class:`ClosedError`)."""
        if self._closed:
            return
        self._closed = True  # before liblnc's close: new calls fail at once
        try:
            p = self._handle.acquire()
        except ClosedError:
            return
        try:
            rc = lib.lnc_group_consumer_close(p, to_ms(timeout, self._close_ms))
        finally:
            self._handle.release()
        self._finalizer()
        if rc:
            raise make_error(rc)

    def __enter__(self) -> "GroupConsumer":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"GroupConsumer({self._servers}, member_id={self._member_id!r}{', closed' if self._closed else ''})"
