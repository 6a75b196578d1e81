"""lnc — Python binding of liblnc, the client library for the LANCE streaming server (LWP).

Pure Python over ``liblnc.so`` through ctypes: every protocol detail (framing, checksums, TLV,
acks, retries, offsets on disk) lives in liblnc; this package adds Python idiom only. The names
are those of the seed client (PyPI ``lnc-client``)::

    from lnc import LanceClient, Producer, ProducerConfig, StandaloneConsumer, StandaloneConfig

    with LanceClient("127.0.0.1:1992") as admin:
        topic = admin.ensure_topic("events")
    with Producer("127.0.0.1:1992", ProducerConfig().with_linger_ms(5)) as producer:
        producer.send_async(topic.id, b"hello")          # fire and forget (failures: flush raises)
        producer.send_async("events", b"by name")        # names are resolved (and cached) by liblnc
        producer.send(topic.id, b"acked")                 # waits for the ack
    with StandaloneConsumer("127.0.0.1:1992", StandaloneConfig("app", topic_id=topic.id)) as c:
        for record in c.records(timeout=1.0):
            print(record.offset, record.value)

asyncio: :mod:`lnc.aio`. Tests: :class:`MockBroker`.
"""

from . import _ffi
from .client import FetchResult, LanceClient, consumer_id
from .config import (
    ClientConfig,
    ClusterStatus,
    ProducerConfig,
    RetentionInfo,
    SeekPosition,
    StandaloneConfig,
    TlsContextError,
    TopicInfo,
)
from .consumer import FileOffsetStore, MemoryOffsetStore, OffsetStore, StandaloneConsumer
from . import errors
from .errors import *  # noqa: F401,F403  (every exception class; the list is errors.__all__)
from .events import Event
from .mock import MockBroker, MockStats
from .group import GroupConsumer, GroupEvent, GroupEventKind, GroupTopic
from .producer import DeliveryReport, Producer, ProducerMetrics
from .records import PollResult, RecordType, TlvRecord, decode_records, encode_records


def version() -> str:
    """liblnc's version string (e.g. ``"0.1.0"``)."""
    return (_ffi.lib.lnc_version_str() or b"").decode()


#: The LANCE server's default port.
DEFAULT_PORT = 1992

__version__ = "0.1.0"
library_path = str(_ffi.library_path)

__all__ = [
    "LanceClient",
    "ClientConfig",
    "FetchResult",
    "consumer_id",
    "Producer",
    "ProducerConfig",
    "DeliveryReport",
    "ProducerMetrics",
    "StandaloneConsumer",
    "StandaloneConfig",
    "PollResult",
    "SeekPosition",
    "TopicInfo",
    "RetentionInfo",
    "ClusterStatus",
    "TlvRecord",
    "RecordType",
    "encode_records",
    "decode_records",
    "OffsetStore",
    "FileOffsetStore",
    "MemoryOffsetStore",
    "MockBroker",
    "MockStats",
    "Event",
    "TlsContextError",
    "DEFAULT_PORT",
    "version",
    "library_path",
    "GroupConsumer",
    "GroupEvent",
    "GroupEventKind",
    "GroupTopic",
]
__all__ += errors.__all__
