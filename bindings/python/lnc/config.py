"""Configuration objects with the seed client's names and ``with_*`` builders.

Every setting ends up as one of liblnc's string keys (``lnc_conf_set``); values are validated by
liblnc when they are set, so a bad value raises ``InvalidConfigValueError`` at the builder call,
and ``with_option(key, value)`` reaches any key liblnc knows (see the README key table).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, Mapping, Optional, Tuple, TypeVar, Union

from ._util import conf_value, get_default, validate_option

__all__ = [
    "SeekPosition",
    "TopicInfo",
    "RetentionInfo",
    "ClusterStatus",
    "ClientConfig",
    "ProducerConfig",
    "StandaloneConfig",
    "SeekTarget",
]

Self = TypeVar("Self", bound="_Options")


class SeekPosition(enum.Enum):
    """Where to seek: ``SeekPosition.BEGINNING``, ``SeekPosition.END`` or ``SeekPosition.offset(n)``
    (which, as in the seed client, returns the tuple ``("offset", n)``)."""

    BEGINNING = "beginning"
    END = "end"

    @staticmethod
    def offset(value: int) -> Tuple[str, int]:
        """Seek to a byte offset (a record boundary, e.g. a record's ``offset``)."""
        return ("offset", int(value))


SeekTarget = Union[SeekPosition, Tuple[str, int], int]


def seek_target_to_start_offset(pos: SeekTarget) -> str:
    if isinstance(pos, SeekPosition):
        return pos.value
    if isinstance(pos, tuple) and len(pos) == 2 and pos[0] == "offset":
        return str(int(pos[1]))
    if isinstance(pos, int):
        return str(pos)
    raise ValueError(f"not a seek position: {pos!r}")


@dataclass
class RetentionInfo:
    """Retention policy of a topic (``None`` fields mean unlimited)."""

    max_age_secs: Optional[int] = None
    max_bytes: Optional[int] = None


@dataclass
class TopicInfo:
    """Topic metadata (mirrors the seed's ``TopicInfo``)."""

    id: int
    name: str
    created_at: int = 0
    topic_epoch: int = 1
    retention: Optional[RetentionInfo] = None

    def __getitem__(self, key: str) -> Any:  # the seed's consumer indexes topic["id"]
        return getattr(self, key)


@dataclass
class ClusterStatus:
    current_term: int
    healthy_nodes: int
    node_count: int
    node_id: int
    leader_id: Optional[int]
    is_leader: bool
    quorum_available: bool
    is_standalone: bool


def _secs_ms(seconds: float) -> int:
    if seconds is None or seconds < 0:
        raise ValueError("timeout must be >= 0 seconds")
    return max(1, int(seconds * 1000 + 0.5))


def _reject_ssl_context(ctx: Any) -> None:
    raise TypeError(
        f"an ssl_context ({type(ctx).__name__}) cannot be used: liblnc's TLS is rustls, which cannot take an "
        "ssl.SSLContext or read back the certificates loaded into one. Use the file-based form: "
        "with_ssl(ca_file='ca.pem', cert_file='client.pem', key_file='client.key', server_name='host')"
    )


class _Options:
    """A validated mapping of liblnc configuration keys."""

    def __init__(self) -> None:
        self.options: Dict[str, str] = {}

    def with_option(self: Self, key: str, value: Any) -> Self:
        """Sets any liblnc configuration key (validated now; raises ConfigError subclasses)."""
        validate_option(key, value)
        self.options[key] = conf_value(value)
        return self

    def with_options(self: Self, options: Mapping[str, Any]) -> Self:
        for k, v in options.items():
            self.with_option(k, v)
        return self

    def get(self, key: str) -> str:
        """The effective value of ``key``: explicit, else liblnc's default."""
        if key in self.options:
            return self.options[key]
        return get_default(key)

    def with_connect_timeout(self: Self, timeout_s: float) -> Self:
        return self.with_option("connect.timeout.ms", _secs_ms(timeout_s))

    def with_request_timeout(self: Self, timeout_s: float) -> Self:
        return self.with_option("request.timeout.ms", _secs_ms(timeout_s))

    def with_keepalive_interval(self: Self, interval_s: float) -> Self:
        return self.with_option("keepalive.interval.ms", int(interval_s * 1000))

    def with_auth_token(self: Self, token: str) -> Self:
        return self.with_option("auth.token", token)

    def with_client_id(self: Self, client_id: str) -> Self:
        return self.with_option("client.id", client_id)

    def with_ssl(
        self: Self,
        ssl_context: Any = None,
        *,
        ca_file: Optional[Union[str, Path]] = None,
        cert_file: Optional[Union[str, Path]] = None,
        key_file: Optional[Union[str, Path]] = None,
        server_name: Optional[str] = None,
        verify: bool = True,
        insecure_acknowledged: bool = False,
    ) -> Self:
        """Connects with TLS (``security.protocol=tls``; needs a liblnc built with the ``tls``
        feature, which the packaged library is).

        ``ca_file``: PEM file or directory of the CAs to trust (default: the platform's roots).
        ``cert_file`` + ``key_file``: client certificate and key for mutual TLS.
        ``server_name``: the name to verify and send as SNI (needed when connecting by IP to a
        certificate that names a host). ``verify=False`` requires ``insecure_acknowledged=True``.

        An ``ssl.SSLContext`` cannot be handed to liblnc (its TLS is rustls, not OpenSSL, and a
        context's loaded certificates cannot be read back), so passing one raises ``TypeError``
        instead of being silently ignored: use the file-based form.
        """
        if ssl_context is not None:
            _reject_ssl_context(ssl_context)
        if (cert_file is None) != (key_file is None):
            raise ValueError("with_ssl: a client certificate needs both cert_file and key_file")
        self.with_option("security.protocol", "tls")
        for key, value in (
            ("tls.ca.location", ca_file),
            ("tls.certificate.location", cert_file),
            ("tls.key.location", key_file),
            ("tls.server.name", server_name),
        ):
            if value is not None:
                self.with_option(key, str(value))
        if not verify:
            self.with_option("tls.insecure.acknowledged", bool(insecure_acknowledged))
            self.with_option("tls.verify", False)
        return self

    @property
    def connect_timeout_s(self) -> float:
        return int(self.get("connect.timeout.ms")) / 1000

    @property
    def request_timeout_s(self) -> float:
        return int(self.get("request.timeout.ms")) / 1000

    def __repr__(self) -> str:
        shown = {k: ("***" if k == "auth.token" else v) for k, v in self.options.items()}
        return f"{type(self).__name__}({shown})"


class ClientConfig(_Options):
    """Admin client configuration (seed: ``ClientConfig(host, port, ...)``).

    ``servers`` (a comma-separated ``host:port`` list) overrides host/port when given.
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 1992,
        connect_timeout_s: Optional[float] = None,
        request_timeout_s: Optional[float] = None,
        keepalive_interval_s: Optional[float] = None,
        *,
        servers: Optional[str] = None,
        **options: Any,
    ) -> None:
        super().__init__()
        self.host = host
        self.port = port
        self.servers = servers
        if connect_timeout_s is not None:
            self.with_connect_timeout(connect_timeout_s)
        if request_timeout_s is not None:
            self.with_request_timeout(request_timeout_s)
        if keepalive_interval_s is not None:
            self.with_keepalive_interval(keepalive_interval_s)
        ssl_context = options.pop("ssl_context", None)
        if ssl_context is not None:
            _reject_ssl_context(ssl_context)
        for k, v in options.items():
            self.with_option(k.replace("_", "."), v)

    @property
    def address(self) -> str:
        return self.servers or f"{self.host}:{self.port}"

    def with_host(self, host: str) -> "ClientConfig":
        self.host = host
        return self

    def with_port(self, port: int) -> "ClientConfig":
        self.port = port
        return self

    def with_servers(self, servers: str) -> "ClientConfig":
        self.servers = servers
        return self


class ProducerConfig(_Options):
    """Producer configuration (seed names; each maps to a liblnc key):

    ======================  =============================================
    builder                 liblnc key
    ======================  =============================================
    with_batch_size(n)      ``batch.size`` (bytes)
    with_linger_ms(ms)      ``linger.ms``
    with_compression(b)     ``compression`` (``True``/"lz4" or ``False``/"none")
    with_max_pending_acks   ``max.in.flight`` (unacknowledged batches)
    with_connect_timeout    ``connect.timeout.ms`` (argument in seconds)
    with_request_timeout    ``request.timeout.ms`` (argument in seconds)
    with_auto_reconnect(b)  liblnc always reconnects; ``False`` sets ``retries=0`` so a batch
                            lost with its connection fails instead of being resent
    with_send_timeout(s)    ``send.timeout.ms`` (how long send blocks on a full buffer)
    with_buffer_memory(n)   ``buffer.memory``
    with_delivery_timeout   ``delivery.timeout.ms`` (argument in seconds)
    with_option(k, v)       any key
    ======================  =============================================

    Compression writes liblnc's LZ4 envelope, which only liblnc readers understand (off by default).
    """

    def __init__(
        self,
        batch_size: Optional[int] = None,
        linger_ms: Optional[int] = None,
        compression: Optional[Union[bool, str]] = None,
        max_pending_acks: Optional[int] = None,
        connect_timeout_s: Optional[float] = None,
        request_timeout_s: Optional[float] = None,
        keepalive_interval_s: Optional[float] = None,
        auto_reconnect: bool = True,
        **options: Any,
    ) -> None:
        super().__init__()
        if batch_size is not None:
            self.with_batch_size(batch_size)
        if linger_ms is not None:
            self.with_linger_ms(linger_ms)
        if compression is not None:
            self.with_compression(compression)
        if max_pending_acks is not None:
            self.with_max_pending_acks(max_pending_acks)
        if connect_timeout_s is not None:
            self.with_connect_timeout(connect_timeout_s)
        if request_timeout_s is not None:
            self.with_request_timeout(request_timeout_s)
        if keepalive_interval_s is not None:
            self.with_keepalive_interval(keepalive_interval_s)
        self.with_auto_reconnect(auto_reconnect)
        ssl_context = options.pop("ssl_context", None)
        if ssl_context is not None:
            _reject_ssl_context(ssl_context)
        for k, v in options.items():
            self.with_option(k.replace("_", "."), v)

    def with_batch_size(self, size: int) -> "ProducerConfig":
        return self.with_option("batch.size", int(size))

    def with_linger_ms(self, ms: int) -> "ProducerConfig":
        return self.with_option("linger.ms", int(ms))

    def with_compression(self, enabled: Union[bool, str]) -> "ProducerConfig":
        if isinstance(enabled, str):
            return self.with_option("compression", enabled)
        return self.with_option("compression", "lz4" if enabled else "none")

    def with_max_pending_acks(self, n: int) -> "ProducerConfig":
        return self.with_option("max.in.flight", int(n))

    def with_max_in_flight(self, n: int) -> "ProducerConfig":
        return self.with_max_pending_acks(n)

    def with_auto_reconnect(self, enabled: bool) -> "ProducerConfig":
        self.auto_reconnect = bool(enabled)
        if enabled:
            self.options.pop("retries", None)
            return self
        return self.with_option("retries", 0)

    def with_send_timeout(self, timeout_s: float) -> "ProducerConfig":
        return self.with_option("send.timeout.ms", int(timeout_s * 1000))

    def with_send_block(self, block: bool) -> "ProducerConfig":
        return self.with_option("send.block", bool(block))

    def with_buffer_memory(self, n: int) -> "ProducerConfig":
        return self.with_option("buffer.memory", int(n))

    def with_delivery_timeout(self, timeout_s: float) -> "ProducerConfig":
        return self.with_option("delivery.timeout.ms", _secs_ms(timeout_s))

    def with_retries(self, n: int) -> "ProducerConfig":
        return self.with_option("retries", int(n))

    @property
    def batch_size(self) -> int:
        return int(self.get("batch.size"))

    @property
    def linger_ms(self) -> int:
        return int(self.get("linger.ms"))

    @property
    def compression(self) -> bool:
        return self.get("compression") == "lz4"

    @property
    def max_pending_acks(self) -> int:
        return int(self.get("max.in.flight"))


class StandaloneConfig(_Options):
    """Consumer configuration (seed: ``StandaloneConfig(consumer_name, topic_id=0, topic_name="")``).

    ======================================  ===============================================
    argument / builder                      liblnc key
    ======================================  ===============================================
    consumer_name                           ``consumer.name`` (offset store + consumer id)
    topic_id / topic_name                   ``topic.id`` (a name is resolved with ensure_topic,
                                            which creates it, as the seed client does)
    max_fetch_bytes / with_max_fetch_bytes  ``fetch.max.bytes``
    start_position / with_start_position    ``start.offset`` (default: the committed offset,
                                            else the beginning, as the seed's restore does)
    offset_dir / with_offset_dir            ``offset.dir`` (file store, Rust-client format)
    auto_commit_interval_s / with_manual_commit  ``auto.commit.interval.ms`` / ``enable.auto.commit``
    poll_timeout_s / with_poll_timeout      default timeout of ``poll()`` (Python side)
    with_max_poll_records(n)                ``max.poll.records``
    with_option(k, v)                       any key
    ======================================  ===============================================
    """

    def __init__(self, consumer_name: str = "", topic_id: int = 0, topic_name: str = "", **kwargs: Any) -> None:
        super().__init__()
        self.consumer_name = consumer_name
        self.topic_id = int(topic_id)
        self.topic_name: Optional[str] = topic_name or None
        self.start_position: Optional[SeekTarget] = None
        self.offset_dir: Optional[Path] = None
        self.poll_timeout_s: float = 0.1
        self.auto_commit_interval_s: Optional[float] = 5.0
        self.auto_reconnect = True
        if "max_fetch_bytes" in kwargs:
            self.with_max_fetch_bytes(kwargs.pop("max_fetch_bytes"))
        if "start_position" in kwargs:
            self.with_start_position(kwargs.pop("start_position"))
        if "start_offset" in kwargs:
            self.with_start_position(SeekPosition.offset(kwargs.pop("start_offset")))
        if kwargs.get("offset_dir") is not None:
            self.with_offset_dir(kwargs.pop("offset_dir"))
        kwargs.pop("offset_dir", None)
        if "auto_commit_interval_s" in kwargs:
            self.with_auto_commit_interval(kwargs.pop("auto_commit_interval_s"))
        if "connect_timeout_s" in kwargs:
            self.with_connect_timeout(kwargs.pop("connect_timeout_s"))
        if "request_timeout_s" in kwargs:
            self.with_request_timeout(kwargs.pop("request_timeout_s"))
        if "poll_timeout_s" in kwargs:
            self.with_poll_timeout(kwargs.pop("poll_timeout_s"))
        if "keepalive_interval_s" in kwargs:
            self.with_keepalive_interval(kwargs.pop("keepalive_interval_s"))
        if "auto_reconnect" in kwargs:
            self.with_auto_reconnect(kwargs.pop("auto_reconnect"))
        kwargs.pop("poll_interval_ms", None)  # seed-only knob: liblnc's fetch backoff replaces it
        if kwargs.get("ssl_context") is not None:
            _reject_ssl_context(kwargs["ssl_context"])
        kwargs.pop("ssl_context", None)
        for k, v in kwargs.items():
            self.with_option(k.replace("_", "."), v)

    @classmethod
    def with_topic_name(cls, consumer_name: str, topic_name: str, **kwargs: Any) -> "StandaloneConfig":
        """Config addressing the topic by name (resolved, and created if missing, at connect)."""
        return cls(consumer_name, topic_id=0, topic_name=topic_name, **kwargs)

    @classmethod
    def new_with_id(cls, consumer_name: str, topic_name: str, topic_id: int, **kwargs: Any) -> "StandaloneConfig":
        return cls(consumer_name, topic_id=topic_id, topic_name=topic_name, **kwargs)

    def with_max_fetch_bytes(self, n: int) -> "StandaloneConfig":
        return self.with_option("fetch.max.bytes", int(n))

    def with_start_position(self, pos: SeekTarget) -> "StandaloneConfig":
        value = seek_target_to_start_offset(pos)
        self.with_option("start.offset", value)
        self.start_position = pos
        return self

    def with_offset_dir(self, path: Union[str, Path]) -> "StandaloneConfig":
        self.offset_dir = Path(path)
        return self.with_option("offset.dir", str(self.offset_dir))

    def with_auto_commit_interval(self, interval_s: Optional[float]) -> "StandaloneConfig":
        self.auto_commit_interval_s = interval_s
        if interval_s is None:
            return self.with_option("enable.auto.commit", False)
        self.with_option("enable.auto.commit", True)
        return self.with_option("auto.commit.interval.ms", _secs_ms(interval_s))

    def with_manual_commit(self) -> "StandaloneConfig":
        return self.with_auto_commit_interval(None)

    def with_poll_timeout(self, timeout_s: float) -> "StandaloneConfig":
        self.poll_timeout_s = float(timeout_s)
        return self

    def with_auto_reconnect(self, enabled: bool) -> "StandaloneConfig":
        # liblnc's consumer always reconnects (the position is kept); accepted for compatibility.
        self.auto_reconnect = bool(enabled)
        return self

    def with_max_poll_records(self, n: int) -> "StandaloneConfig":
        return self.with_option("max.poll.records", int(n))

    def with_offset_reset(self, policy: str) -> "StandaloneConfig":
        """``earliest``, ``latest`` or ``error`` (what to do when the position is past the end)."""
        return self.with_option("offset.reset", policy)

    def with_raw(self, raw: bool = True) -> "StandaloneConfig":
        """Deliver fetched bytes undecoded (data written by non-TLV producers)."""
        return self.with_option("consume.raw", bool(raw))

    @property
    def max_fetch_bytes(self) -> int:
        return int(self.get("fetch.max.bytes"))
