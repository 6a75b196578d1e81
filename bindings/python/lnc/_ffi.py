"""ctypes declarations of the whole liblnc C ABI (include/lnc.h), in one place.

Every function of lnc.h is declared here with its argtypes and restype; the Structures mirror the
header's structs field by field (tests compare sizeof/offsetof with a C program compiled against
lnc.h). Nothing else in the package calls ``CDLL`` or declares a prototype.

Conventions used below:
- opaque handles (``lnc_producer_t *`` ...) are ``c_void_p``;
- borrowed input byte buffers (``const uint8_t *``) are ``c_char_p`` so ``bytes`` pass without a
  copy; output pointers inside Structures are ``c_void_p`` (copied with ``ctypes.string_at``);
- ``lnc_err_t`` is ``c_int``.

Library search order: the copy bundled in the package (``lnc/_lib/liblnc.so``), then
``$LNC_LIBRARY``, then the repository's ``target/release/liblnc.so`` (development checkouts).
"""

from __future__ import annotations

import ctypes
import os
from ctypes import (
    CFUNCTYPE,
    POINTER,
    Structure,
    c_char,
    c_char_p,
    c_int,
    c_int32,
    c_size_t,
    c_uint8,
    c_uint16,
    c_uint32,
    c_uint64,
    c_void_p,
)
from pathlib import Path

__all__ = ["lib", "library_path"]

_HERE = Path(__file__).resolve().parent


def _candidates() -> list[Path]:
    out = [_HERE / "_lib" / "liblnc.so"]
    env = os.environ.get("LNC_LIBRARY")
    if env:
        out.append(Path(env))
    # bindings/python/lnc/_ffi.py -> repository root is three levels up.
    out.append(_HERE.parents[2] / "target" / "release" / "liblnc.so")
    return out


def _load() -> tuple[ctypes.CDLL, Path]:
    tried = []
    for p in _candidates():
        if p.is_file():
            return ctypes.CDLL(str(p)), p
        tried.append(str(p))
    raise ImportError(
        "liblnc.so not found (tried: " + ", ".join(tried) + "); build it with `cargo build --release --lib` "
        "or set LNC_LIBRARY to its path"
    )


lib, library_path = _load()

# ------------------------------------------------------------------------------------------------
# Constants (lnc.h #defines and enums)
# ------------------------------------------------------------------------------------------------

LNC_VERSION_MAJOR = 0
LNC_VERSION_MINOR = 1
LNC_VERSION_PATCH = 0
LNC_RETENTION_UNLIMITED = (1 << 64) - 1

LNC_RECORD_RAW_CHUNK = 0x00
LNC_RECORD_RAW = 0x01
LNC_RECORD_JSON = 0x02
LNC_RECORD_MSGPACK = 0x03
LNC_RECORD_PROTOBUF = 0x04
LNC_RECORD_AVRO = 0x05
LNC_RECORD_KEY_VALUE = 0x10
LNC_RECORD_TIMESTAMPED = 0x11
LNC_RECORD_KEY_TIMESTAMPED = 0x12
LNC_RECORD_EXTENDED = 0xFF
LNC_EXT_TOMBSTONE = 0x00FF

LNC_SEEK_BEGINNING = 0
LNC_SEEK_END = 1
LNC_SEEK_OFFSET = 2

# lnc_err_t
LNC_ERR_OK = 0
LNC_ERR_INVALID_ARG = -1
LNC_ERR_UNKNOWN_KEY = -2
LNC_ERR_INVALID_VALUE = -3
LNC_ERR_TIMED_OUT = -4
LNC_ERR_QUEUE_FULL = -5
LNC_ERR_CLOSED = -6
LNC_ERR_PROTOCOL = -7
LNC_ERR_CORRUPT_RECORD = -8
LNC_ERR_PANIC = -9
LNC_ERR_TRANSPORT = -10
LNC_ERR_MSG_TOO_LARGE = -11
LNC_ERR_OFFSET_OUT_OF_RANGE = -12
LNC_ERR_PURGED = -13
LNC_ERR_UNKNOWN_OUTCOME = -14
LNC_ERR_IN_CALLBACK = -15
LNC_ERR_STATE = -16
LNC_ERR_IO = -17
LNC_ERR_TLS = -18
LNC_ERR_CANCELLED = -19
LNC_ERR_DELIVERY_FAILED = -20
LNC_ERR_CIRCUIT_OPEN = -21
LNC_ERR_UNKNOWN_TOPIC = 1
LNC_ERR_NOT_LEADER = 2
LNC_ERR_FORWARD_FAILED = 3
LNC_ERR_RATE_LIMITED = 4
LNC_ERR_AUTH_REQUIRED = 5
LNC_ERR_AUTH_FAILED = 6
LNC_ERR_CATCHING_UP = 7
LNC_ERR_TOPIC_EXISTS = 8
LNC_ERR_INVALID_NAME = 9
LNC_ERR_SERVER_ERROR = 10

ALL_ERROR_CODES = tuple(range(-21, 0)) + tuple(range(1, 11))

# lnc_event_kind_t
LNC_EVENT_CONNECTING = 1
LNC_EVENT_CONNECTED = 2
LNC_EVENT_DISCONNECTED = 3
LNC_EVENT_RECONNECT_SCHEDULED = 4
LNC_EVENT_LEADER_CHANGED = 5
LNC_EVENT_AUTH_FAILED = 6
LNC_EVENT_FATAL = 7
LNC_EVENT_CIRCUIT_OPEN = 8
LNC_EVENT_CIRCUIT_HALF_OPEN = 9
LNC_EVENT_CIRCUIT_CLOSED = 10
LNC_EVENT_STATISTICS = 11
LNC_EVENT_EVENTS_DROPPED = 12

# lnc_group_event_kind_t
LNC_GROUP_EVENT_RECORD = 0
LNC_GROUP_EVENT_ASSIGNED = 1
LNC_GROUP_EVENT_REVOKED = 2
LNC_GROUP_EVENT_ERROR = 3

# lnc_log_level_t (syslog numbering)
LNC_LOG_ERROR = 3
LNC_LOG_WARN = 4
LNC_LOG_INFO = 6
LNC_LOG_DEBUG = 7

# ------------------------------------------------------------------------------------------------
# Structures (field order and types exactly as in lnc.h)
# ------------------------------------------------------------------------------------------------


class lnc_topic_t(Structure):
    _fields_ = [
        ("id", c_uint32),
        ("name", c_char * 256),
        ("created_at", c_uint64),
        ("topic_epoch", c_uint64),
        ("has_retention", c_uint8),
        ("max_age_secs", c_uint64),
        ("max_bytes", c_uint64),
    ]


class lnc_cluster_status_t(Structure):
    _fields_ = [
        ("current_term", c_uint64),
        ("healthy_nodes", c_uint32),
        ("node_count", c_uint32),
        ("node_id", c_uint32),
        ("leader_id", c_int32),
        ("is_leader", c_uint8),
        ("quorum_available", c_uint8),
        ("is_standalone", c_uint8),
    ]


class lnc_fetch_result_t(Structure):
    _fields_ = [
        ("catching_up", c_uint8),
        ("next_offset", c_uint64),
        ("end_offset", c_uint64),
        ("data", c_void_p),
        ("data_len", c_size_t),
    ]


class lnc_record_view_t(Structure):
    _fields_ = [
        ("record_type", c_uint8),
        ("has_ext_type", c_uint8),
        ("ext_type", c_uint16),
        ("has_key", c_uint8),
        ("has_timestamp", c_uint8),
        ("offset", c_uint64),
        ("timestamp_ns", c_uint64),
        ("key", c_void_p),
        ("key_len", c_size_t),
        ("data", c_void_p),
        ("data_len", c_size_t),
        ("value", c_void_p),
        ("value_len", c_size_t),
    ]


class lnc_mock_stats_t(Structure):
    _fields_ = [
        (name, c_uint64)
        for name in (
            "connections_accepted",
            "connections_open",
            "frames_received",
            "fatal_closes",
            "ingests_received",
            "ingests_stored",
            "bytes_stored",
            "acks_sent",
            "acks_dropped",
            "errors_sent",
            "keepalives_answered",
            "control_requests",
            "fetches_served",
        )
    ]


class lnc_delivery_report_t(Structure):
    _fields_ = [
        ("topic_id", c_uint32),
        ("opaque", c_void_p),
        ("batch_id", c_uint64),
        ("err", c_int),
        ("error", c_void_p),
    ]


class lnc_message_t(Structure):
    # key/value are c_char_p so ``bytes`` are assigned without a copy (the Structure keeps them
    # alive); liblnc reads exactly key_len/value_len bytes, NULs included.
    _fields_ = [
        ("record_type", c_uint8),
        ("ext_type", c_uint16),
        ("key", c_char_p),
        ("key_len", c_size_t),
        ("value", c_char_p),
        ("value_len", c_size_t),
        ("timestamp_ns", c_uint64),
        ("opaque", c_void_p),
    ]


class lnc_report_t(Structure):
    _fields_ = [
        ("topic_id", c_uint32),
        ("opaque", c_void_p),
        ("batch_id", c_uint64),
        ("err", c_int),
        ("error", c_void_p),
    ]


class lnc_producer_metrics_t(Structure):
    _fields_ = [
        (name, c_uint64)
        for name in (
            "records_sent",
            "records_acked",
            "records_failed",
            "bytes_sent",
            "bytes_acked",
            "batches_sent",
            "batches_acked",
            "batches_failed",
            "batches_retried",
            "records_retried",
            "possible_duplicates",
            "connects",
            "disconnects",
            "server_errors",
            "batches_compressed",
            "in_flight_batches",
            "buffered_bytes",
            "outstanding_records",
            "ack_latency_p50_us",
            "ack_latency_p99_us",
            "batch_size_current",
        )
    ]


class lnc_send_options_t(Structure):
    _fields_ = [
        ("topic_name", c_char_p),
        ("timeout_ms", c_int32),
        ("cancel", c_void_p),
    ]


class lnc_event_t(Structure):
    _fields_ = [
        ("kind", c_int),
        ("err", c_int),
        ("server", c_char_p),
        ("node_id", c_uint32),
        ("attempt", c_uint32),
        ("delay_ms", c_uint64),
        ("message", c_char_p),
    ]


class lnc_group_event_t(Structure):
    _fields_ = [
        ("kind", c_int),
        ("topic_id", c_uint32),
        ("record", lnc_record_view_t),
        ("topics", POINTER(c_uint32)),
        ("topic_count", c_size_t),
        ("error_code", c_int),
        ("error_message", c_char_p),
    ]


STRUCTS = {
    "lnc_topic_t": lnc_topic_t,
    "lnc_cluster_status_t": lnc_cluster_status_t,
    "lnc_fetch_result_t": lnc_fetch_result_t,
    "lnc_record_view_t": lnc_record_view_t,
    "lnc_mock_stats_t": lnc_mock_stats_t,
    "lnc_delivery_report_t": lnc_delivery_report_t,
    "lnc_message_t": lnc_message_t,
    "lnc_report_t": lnc_report_t,
    "lnc_producer_metrics_t": lnc_producer_metrics_t,
    "lnc_send_options_t": lnc_send_options_t,
    "lnc_event_t": lnc_event_t,
    "lnc_group_event_t": lnc_group_event_t,
}

# ------------------------------------------------------------------------------------------------
# Callback types
# ------------------------------------------------------------------------------------------------

lnc_offset_load_cb = CFUNCTYPE(c_int, c_uint32, POINTER(c_uint64), c_void_p)
lnc_offset_save_cb = CFUNCTYPE(c_int, c_uint32, c_uint64, c_void_p)
lnc_record_cb = CFUNCTYPE(None, POINTER(lnc_record_view_t), c_void_p)
lnc_delivery_cb = CFUNCTYPE(None, POINTER(lnc_delivery_report_t), c_void_p)
lnc_log_cb = CFUNCTYPE(None, c_int, c_char_p, c_void_p)
lnc_event_cb = CFUNCTYPE(None, POINTER(lnc_event_t), c_void_p)

# ------------------------------------------------------------------------------------------------
# Prototypes
# ------------------------------------------------------------------------------------------------

_p = c_void_p  # any opaque handle
_pp = POINTER(c_void_p)  # handle out-pointer, lnc_error_t **
_u8p = c_char_p  # borrowed input bytes
_u64p = POINTER(c_uint64)
_szp = POINTER(c_size_t)
_E = c_int  # lnc_err_t

_PROTOTYPES: dict[str, tuple[object, list[object]]] = {
    # version / errors
    "lnc_version": (c_uint32, []),
    "lnc_version_str": (c_char_p, []),
    "lnc_err_str": (c_char_p, [c_int]),
    "lnc_err_name": (c_char_p, [c_int]),
    "lnc_error_code": (_E, [_p]),
    "lnc_error_message": (c_char_p, [_p]),
    "lnc_error_retryable": (c_int, [_p]),
    "lnc_error_fatal": (c_int, [_p]),
    "lnc_error_leader": (c_char_p, [_p]),
    "lnc_error_server_offset": (c_int, [_p, _u64p]),
    "lnc_error_free": (None, [_p]),
    # admin
    "lnc_admin_new": (_E, [_p, _pp, _pp]),
    "lnc_admin_free": (None, [_p]),
    "lnc_admin_create_topic": (_E, [_p, c_char_p, c_int32, POINTER(lnc_topic_t), _pp]),
    "lnc_admin_ensure_topic": (_E, [_p, c_char_p, c_int32, POINTER(lnc_topic_t), _pp]),
    "lnc_admin_create_topic_with_retention": (
        _E,
        [_p, c_char_p, c_uint64, c_uint64, c_int32, POINTER(lnc_topic_t), _pp],
    ),
    "lnc_admin_list_topics": (_E, [_p, c_int32, POINTER(POINTER(lnc_topic_t)), _szp, _pp]),
    "lnc_topics_free": (None, [POINTER(lnc_topic_t), c_size_t]),
    "lnc_admin_find_topic": (_E, [_p, c_char_p, c_int32, POINTER(lnc_topic_t), _pp]),
    "lnc_admin_get_topic": (_E, [_p, c_uint32, c_int32, POINTER(lnc_topic_t), _pp]),
    "lnc_admin_delete_topic": (_E, [_p, c_uint32, c_int32, _pp]),
    "lnc_admin_set_retention": (_E, [_p, c_uint32, c_uint64, c_uint64, c_int32, _pp]),
    "lnc_admin_cluster_status": (_E, [_p, c_int32, POINTER(lnc_cluster_status_t), _pp]),
    "lnc_admin_ping": (_E, [_p, c_int32, _u64p, _pp]),
    "lnc_admin_authenticate": (_E, [_p, c_char_p, c_int32, _pp]),
    "lnc_admin_fetch": (_E, [_p, c_uint32, c_uint64, c_uint32, c_int32, POINTER(lnc_fetch_result_t), _pp]),
    "lnc_fetch_result_clear": (None, [POINTER(lnc_fetch_result_t)]),
    "lnc_admin_subscribe": (_E, [_p, c_uint32, c_uint64, c_uint32, c_uint64, c_int32, _u64p, _pp]),
    "lnc_admin_unsubscribe": (_E, [_p, c_uint32, c_uint64, c_int32, _pp]),
    "lnc_admin_commit_offset": (_E, [_p, c_uint32, c_uint64, c_uint64, c_int32, _pp]),
    "lnc_admin_poll_events": (_E, [_p, c_int32, POINTER(lnc_event_t), c_size_t, _szp]),
    "lnc_admin_eventfd": (c_int, [_p]),
    # cancellation tokens
    "lnc_cancel_new": (_p, []),
    "lnc_cancel_fire": (None, [_p]),
    "lnc_cancel_fired": (c_int, [_p]),
    "lnc_cancel_free": (None, [_p]),
    # events and logs
    "lnc_event_free": (None, [POINTER(lnc_event_t)]),
    "lnc_event_kind_name": (c_char_p, [c_int32]),
    "lnc_conf_set_log_cb": (_E, [_p, lnc_log_cb, c_void_p]),
    "lnc_conf_set_event_cb": (_E, [_p, lnc_event_cb, c_void_p]),
    # conf
    "lnc_consumer_id": (_E, [c_char_p, _u64p]),
    "lnc_conf_new": (_p, []),
    "lnc_conf_set": (_E, [_p, c_char_p, c_char_p, c_void_p, c_size_t]),
    "lnc_conf_get": (_E, [_p, c_char_p, c_void_p, _szp]),
    "lnc_conf_dup": (_p, [_p]),
    "lnc_conf_free": (None, [_p]),
    # consumer
    "lnc_consumer_new": (_E, [_p, c_int32, _pp, _pp]),
    "lnc_consumer_new_with_store": (_E, [_p, lnc_offset_load_cb, lnc_offset_save_cb, c_void_p, c_int32, _pp, _pp]),
    "lnc_consumer_poll": (_E, [_p, c_int32, _pp, _pp]),
    "lnc_consumer_poll_cb": (_E, [_p, c_int32, c_size_t, lnc_record_cb, c_void_p, _szp, _pp]),
    "lnc_consumer_seek": (_E, [_p, c_int, c_uint64, c_int32, _u64p, _pp]),
    "lnc_consumer_commit": (_E, [_p, c_int32, _u64p, _pp]),
    "lnc_consumer_lag": (_E, [_p, c_int32, _u64p, _pp]),
    "lnc_consumer_position": (_E, [_p, _u64p]),
    "lnc_consumer_topic_id": (c_uint32, [_p]),
    "lnc_consumer_eventfd": (c_int, [_p]),
    "lnc_consumer_close": (_E, [_p, c_int32]),
    "lnc_consumer_free": (_E, [_p]),
    "lnc_consumer_poll_into": (
        _E,
        [_p, c_int32, c_void_p, c_size_t, POINTER(lnc_record_view_t), c_size_t, _szp, _pp],
    ),
    "lnc_consumer_poll_events": (_E, [_p, c_int32, POINTER(lnc_event_t), c_size_t, _szp]),
    # group consumer (lnc/group.py)
    "lnc_group_consumer_new": (_E, [_p, _pp, _pp]),
    "lnc_group_consumer_poll": (_E, [_p, c_int32, _pp, _pp]),
    "lnc_group_events_count": (c_size_t, [_p]),
    "lnc_group_events_get": (_E, [_p, c_size_t, POINTER(lnc_group_event_t)]),
    "lnc_group_events_free": (None, [_p]),
    "lnc_group_consumer_assignment": (_E, [_p, POINTER(c_uint32), c_size_t, _szp]),
    "lnc_group_consumer_member_id": (c_char_p, [_p]),
    "lnc_group_consumer_close": (_E, [_p, c_int32]),
    "lnc_group_consumer_free": (_E, [_p]),
    # mock
    "lnc_mock_new": (_E, [POINTER(c_char_p), POINTER(c_char_p), c_size_t, _pp, c_void_p, c_size_t]),
    "lnc_mock_address": (c_size_t, [_p, c_void_p, c_size_t]),
    "lnc_mock_port": (c_uint16, [_p]),
    "lnc_mock_drop_after_frames": (_E, [_p, c_uint64]),
    "lnc_mock_drop_after_bytes": (_E, [_p, c_uint64]),
    "lnc_mock_disconnect_all": (_E, [_p]),
    "lnc_mock_set_ack_delay_ms": (_E, [_p, c_uint64]),
    "lnc_mock_drop_next_acks": (_E, [_p, c_uint64]),
    "lnc_mock_stall_reading": (_E, [_p, c_int]),
    "lnc_mock_force_catching_up": (_E, [_p, c_uint64]),
    "lnc_mock_set_fetch_rate_limit": (_E, [_p, c_uint64]),
    "lnc_mock_restart": (_E, [_p]),
    "lnc_mock_set_write_only": (_E, [_p, c_int]),
    "lnc_mock_truncate_front": (_E, [_p, c_uint32, c_uint64]),
    "lnc_mock_fail_next_ingests": (_E, [_p, c_uint64, c_char_p, c_int]),
    "lnc_mock_fail_next_requests": (_E, [_p, c_uint64, c_char_p]),
    "lnc_mock_require_token": (_E, [_p, c_char_p]),
    "lnc_mock_create_topic": (_E, [_p, c_char_p, POINTER(c_uint32), _pp]),
    "lnc_mock_stats": (_E, [_p, POINTER(lnc_mock_stats_t)]),
    "lnc_mock_topic_size": (_E, [_p, c_uint32, _u64p]),
    "lnc_mock_stop": (_E, [_p]),
    "lnc_mock_free": (None, [_p]),
    # producer
    "lnc_producer_new": (_E, [_p, lnc_delivery_cb, c_void_p, _pp, _pp]),
    "lnc_producer_send": (_E, [_p, c_uint32, POINTER(lnc_message_t), _pp]),
    "lnc_producer_send_batch": (_E, [_p, c_uint32, POINTER(lnc_message_t), c_size_t, _pp]),
    "lnc_producer_poll_reports": (_E, [_p, c_int32, POINTER(lnc_report_t), c_size_t, _szp]),
    "lnc_producer_send_record": (
        _E,
        [_p, c_uint32, c_uint8, c_uint16, _u8p, c_size_t, _u8p, c_size_t, c_uint64, c_void_p, _pp],
    ),
    "lnc_producer_produce": (_E, [_p, c_uint32, _u8p, c_size_t, c_void_p, _pp]),
    "lnc_producer_send_with_options": (
        _E,
        [_p, c_uint32, POINTER(lnc_message_t), c_size_t, POINTER(lnc_send_options_t), POINTER(c_uint32), _pp],
    ),
    "lnc_producer_topic_id": (_E, [_p, c_char_p, c_int32, _p, POINTER(c_uint32), _pp]),
    "lnc_producer_send_sync": (
        _E,
        [_p, c_uint32, POINTER(lnc_message_t), POINTER(lnc_send_options_t), c_int32, _u64p, _pp],
    ),
    "lnc_producer_poll": (_E, [_p, c_int32, _szp]),
    "lnc_producer_flush": (_E, [_p, c_int32, _szp, _pp]),
    "lnc_producer_purge": (_E, [_p, _szp]),
    "lnc_producer_close": (_E, [_p, c_int32, _pp]),
    "lnc_producer_statistics": (_E, [_p, _pp]),
    "lnc_consumer_statistics": (_E, [_p, _pp]),
    "lnc_consumer_metrics": (_E, [_p, c_void_p]),
    "lnc_string_free": (None, [c_void_p]),
    "lnc_producer_metrics": (_E, [_p, POINTER(lnc_producer_metrics_t)]),
    "lnc_producer_eventfd": (c_int, [_p]),
    "lnc_producer_free": (_E, [_p]),
    "lnc_producer_poll_events": (_E, [_p, c_int32, POINTER(lnc_event_t), c_size_t, _szp]),
    # records
    "lnc_records_count": (c_size_t, [_p]),
    "lnc_records_views": (c_void_p, [_p]),
    "lnc_records_get": (_E, [_p, c_size_t, POINTER(lnc_record_view_t)]),
    "lnc_records_free": (None, [_p]),
    "lnc_record_encode": (_E, [POINTER(lnc_message_t), c_void_p, c_size_t, _szp, _pp]),
    "lnc_record_encode_value": (_E, [c_uint8, c_uint16, c_void_p, c_size_t, c_void_p, c_size_t, _szp, _pp]),
    "lnc_record_decode": (_E, [_u8p, c_size_t, POINTER(lnc_record_view_t), _szp, _pp]),
}

for _name, (_res, _args) in _PROTOTYPES.items():
    _fn = getattr(lib, _name)
    _fn.restype = _res
    _fn.argtypes = _args

del _name, _res, _args, _fn

FUNCTIONS = tuple(_PROTOTYPES)


def err_name(code: int) -> str:
    return (lib.lnc_err_name(code) or b"UNKNOWN").decode()


def err_str(code: int) -> str:
    return (lib.lnc_err_str(code) or b"unknown error").decode()


# ------------------------------------------------------------------------------------------------
# Consumer groups (lnc_group_consumer_*; docs/groups.md)
# ------------------------------------------------------------------------------------------------

LNC_GROUP_EVENT_RECORD = 0
LNC_GROUP_EVENT_ASSIGNED = 1
LNC_GROUP_EVENT_REVOKED = 2
LNC_GROUP_EVENT_ERROR = 3

