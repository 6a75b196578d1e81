"""Configuration objects with the seed client's names and ``with_*`` builders.

Every setting ends up as one of liblnc's string keys (``lnc_conf_set``); values are validated by
liblnc when they are set, so a bad value raises ``InvalidConfigValueError`` at the builder call,
and ``with_option(key, value)`` reaches any key liblnc knows (see the README key table).
"""

from __future__ import annotations

import enum
import ssl
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, Mapping, Optional, Tuple, TypeVar, Union

from ._tls import CaFile, TlsContextError, context_options
from ._util import conf_value, get_default, validate_option
from .errors import UnknownConfigKeyError

__all__ = [
    "SeekPosition",
    "TopicInfo",
    "RetentionInfo",
    "ClusterStatus",
    "ClientConfig",
    "ProducerConfig",
    "StandaloneConfig",
    "SeekTarget",
    "TlsContextError",
]

Self = TypeVar("Self", bound="_Options")

#: with_ssl() without a context (the file-based form), told apart from the seed's with_ssl(None).
_NO_CONTEXT: Any = object()

_TLS_KEYS = (
    "security.protocol",
    "tls.ca.location",
    "tls.certificate.location",
    "tls.key.location",
    "tls.server.name",
    "tls.verify",
    "tls.insecure.acknowledged",
)

#: The keys every handle takes (liblnc's "all" scope in the README's table): what a helper handle
#: (a consumer's name lookup, a group consumer's admin) copies from its owner's configuration.
CONNECTION_KEYS = frozenset(
    (
        "client.id",
        "checksum",
        "connect.timeout.ms",
        "request.timeout.ms",
        "keepalive.interval.ms",
        "reconnect.backoff.ms",
        "reconnect.backoff.max.ms",
        "reconnect.jitter",
        "auth.token",
        "max.frame.bytes",
        "redirect.max",
    )
    + _TLS_KEYS
)


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


def _field(key: str, doc: str) -> Any:
    """A ``dict`` item seen as an attribute (``topic.id`` is ``topic["id"]``)."""

    def get(self: Dict[str, Any]) -> Any:
        return self[key]

    def set_(self: Dict[str, Any], value: Any) -> None:
        self[key] = value

    return property(get, set_, doc=doc)


class RetentionInfo(Dict[str, Any]):
    """Retention policy of a topic (``None`` means unlimited). A ``dict``
    (``{"max_age_secs": ..., "max_bytes": ...}``) whose items are also attributes."""

    def __init__(self, max_age_secs: Optional[int] = None, max_bytes: Optional[int] = None) -> None:
        super().__init__(max_age_secs=max_age_secs, max_bytes=max_bytes)

    max_age_secs = _field("max_age_secs", "Age limit in seconds (None = unlimited).")
    max_bytes = _field("max_bytes", "Size limit in bytes (None = unlimited).")

    def __repr__(self) -> str:
        return f"RetentionInfo(max_age_secs={self.max_age_secs!r}, max_bytes={self.max_bytes!r})"


class TopicInfo(Dict[str, Any]):
    """Topic metadata. As the seed client documents (``{"id": 1, "name": ...}``), it is a real
    ``dict`` (``topic["id"]``, ``topic.get("id")``, ``dict(topic)``, ``json.dumps(topic)``), and
    its items are also attributes (``topic.id``, ``topic.name``) like the seed's ``TopicInfo``."""

    def __init__(
        self,
        id: int,
        name: str,
        created_at: int = 0,
        topic_epoch: int = 1,
        retention: Optional[RetentionInfo] = None,
    ) -> None:
        super().__init__(id=id, name=name, created_at=created_at, topic_epoch=topic_epoch, retention=retention)

    id = _field("id", "Numeric topic id (u32) used on the wire.")
    name = _field("name", "Topic name.")
    created_at = _field("created_at", "Creation time, Unix seconds.")
    topic_epoch = _field("topic_epoch", "Topic epoch (1 on the deployed server).")
    retention = _field("retention", "RetentionInfo when the server reported one, else None.")

    def __repr__(self) -> str:
        return (
            f"TopicInfo(id={self.id!r}, name={self.name!r}, created_at={self.created_at!r}, "
            f"topic_epoch={self.topic_epoch!r}, retention={self.retention!r})"
        )


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


class _Options:
    """A validated mapping of liblnc configuration keys."""

    def __init__(self) -> None:
        self.options: Dict[str, str] = {}
        self.ssl_context: Optional[ssl.SSLContext] = None
        self._ca_file: Optional[CaFile] = None  # the context's CAs, alive as long as these options

    def with_option(self: Self, key: str, value: Any) -> Self:
        """Sets any liblnc configuration key (validated now; raises ConfigError subclasses)."""
        validate_option(key, value)
        self.options[key] = conf_value(value)
        return self

    def with_options(self: Self, options: Mapping[str, Any]) -> Self:
        for k, v in options.items():
            self.with_option(k, v)
        return self

    def _with_keywords(self, keywords: Mapping[str, Any]) -> None:
        """Extra constructor keywords are liblnc keys spelt with ``_`` (``buffer_memory=`` is
        ``buffer.memory``); anything else is a TypeError naming the keyword, never ignored."""
        for k, v in keywords.items():
            try:
                validate_option(k.replace("_", "."), v)
            except UnknownConfigKeyError:
                raise TypeError(
                    f"{type(self).__name__}() got an unexpected keyword argument {k!r} "
                    f"(neither a seed option nor a liblnc key {k.replace('_', '.')!r})"
                ) from None
            self.with_option(k.replace("_", "."), v)

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
        ctx: Optional[ssl.SSLContext] = _NO_CONTEXT,
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

        ``ctx``: an ``ssl.SSLContext`` as in the seed client (``None``, as there, means plaintext
        and clears any earlier ``with_ssl``); its CA certificates, verification
        mode and versions are mapped to liblnc's keys, and a setting that cannot be honoured
        exactly raises ``TlsContextError`` (see ``lnc._tls``). A client certificate loaded into a
        context cannot be read back: give it as ``cert_file``/``key_file`` too.
        ``ca_file``: PEM file or directory of the CAs to trust (default: the platform's roots).
        ``cert_file`` + ``key_file``: client certificate and key for mutual TLS.
        ``server_name``: the name to verify and send as SNI (needed when connecting by IP to a
        certificate that names a host). ``verify=False`` requires ``insecure_acknowledged=True``.
        """
        if ctx is None:
            # The seed's with_ssl(None): no context, plaintext. Anything else with it is a mistake.
            if (ca_file, cert_file, key_file, server_name) != (None, None, None, None) or not verify:
                raise ValueError("with_ssl(None) means plaintext (as in the seed); it takes no other TLS argument")
            for key in _TLS_KEYS:
                self.options.pop(key, None)
            self.ssl_context = None
            self._ca_file = None
            return self
        if ctx is _NO_CONTEXT:
            ctx = None
        if (cert_file is None) != (key_file is None):
            raise ValueError("with_ssl: a client certificate needs both cert_file and key_file")
        keys: Dict[str, Any] = {"security.protocol": "tls"}
        ca: Optional[CaFile] = None
        if ctx is not None:
            if ca_file is not None or not verify:
                raise ValueError("with_ssl: give the trusted CAs and verification either in ctx or as ca_file/verify, not both")
            keys, ca = context_options(ctx)
        for key, value in (
            ("tls.ca.location", ca_file),
            ("tls.certificate.location", cert_file),
            ("tls.key.location", key_file),
            ("tls.server.name", server_name),
        ):
            if value is not None:
                keys[key] = str(value)
        if not verify:
            keys["tls.insecure.acknowledged"] = bool(insecure_acknowledged)
            keys["tls.verify"] = False
        for key in _TLS_KEYS:  # a second with_ssl replaces the first one entirely
            self.options.pop(key, None)
        self.with_options(keys)
        self.ssl_context = ctx
        self._ca_file = ca
        return self

    @property
    def connect_timeout_s(self) -> float:
        return int(self.get("connect.timeout.ms")) / 1000

    @property
    def request_timeout_s(self) -> float:
        return int(self.get("request.timeout.ms")) / 1000

    @property
    def keepalive_interval_s(self) -> float:
        return int(self.get("keepalive.interval.ms")) / 1000

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
        ssl_context: Optional[ssl.SSLContext] = None,
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
        if ssl_context is not None:
            self.with_ssl(ssl_context)
        self._with_keywords(options)

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
        ssl_context: Optional[ssl.SSLContext] = None,
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
        if ssl_context is not None:
            self.with_ssl(ssl_context)
        self._with_keywords(options)

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
        if "poll_interval_ms" in kwargs:
            # The seed's idle sleep between empty fetches is liblnc's largest fetch backoff.
            self.with_option("fetch.max.wait.ms", max(1, int(kwargs.pop("poll_interval_ms"))))
        ssl_context = kwargs.pop("ssl_context", None)
        if ssl_context is not None:
            self.with_ssl(ssl_context)
        self._with_keywords(kwargs)

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

    @property
    def start_offset(self) -> Optional[int]:
        """The start position as a byte offset when it is one: ``n`` for ``SeekPosition.offset(n)``,
        0 for ``BEGINNING``; None for ``END`` and for the default (the committed offset), which
        are known only once the consumer asks (the seed returned a 2**63-1 stand-in for END)."""
        pos = self.start_position
        if pos is SeekPosition.BEGINNING:
            return 0
        if isinstance(pos, tuple):
            return int(pos[1])
        if isinstance(pos, int) and not isinstance(pos, bool):
            return pos
        return None

    @property
    def poll_interval_ms(self) -> int:
        """The longest idle wait between empty fetches (``fetch.max.wait.ms``)."""
        return int(self.get("fetch.max.wait.ms"))
