// Type definitions for the liblnc Node.js binding (hand-written; checked by `tsc --noEmit` on
// examples/typed.ts).

/// <reference types="node" />
import { EventEmitter } from 'node:events';

/** A configuration value; arrays are joined with ',' (bootstrap.servers). */
export type ConfigValue = string | number | boolean | bigint | ReadonlyArray<string>;

/**
 * liblnc configuration: dotted keys as in liblnc's key table ('bootstrap.servers', 'linger.ms',
 * …) or their camelCase spellings ('bootstrapServers', 'lingerMs'). liblnc validates every key
 * and value (ConfigError with code UNKNOWN_KEY / INVALID_VALUE).
 */
export interface Config {
  'bootstrap.servers'?: string | ReadonlyArray<string>;
  'client.id'?: string;
  checksum?: 'crc32' | 'crc32c';
  'connect.timeout.ms'?: number;
  'request.timeout.ms'?: number;
  'keepalive.interval.ms'?: number;
  'reconnect.backoff.ms'?: number;
  'reconnect.backoff.max.ms'?: number;
  'reconnect.jitter'?: number;
  'auth.token'?: string;
  'max.frame.bytes'?: number;
  'redirect.max'?: number;
  /** 'tls' encrypts every connection (needs a liblnc built with the cargo feature tls). */
  'security.protocol'?: 'plaintext' | 'tls';
  /** PEM file or directory of the CAs to trust; default: the platform's roots. */
  'tls.ca.location'?: string;
  /** Client certificate chain (PEM) for mutual TLS, with tls.key.location. */
  'tls.certificate.location'?: string;
  /** The client certificate's private key (PEM). */
  'tls.key.location'?: string;
  /** Name verified and sent as SNI (default: the host dialed); set it when dialing an IP. */
  'tls.server.name'?: string;
  /** false is refused unless tls.insecure.acknowledged is true; then warns at every connect. */
  'tls.verify'?: boolean;
  'tls.insecure.acknowledged'?: boolean;
  /** Least severe level logged (to `logger` if set, else stderr); default 'warn'. */
  'log.level'?: 'debug' | 'info' | 'warn' | 'error' | 'off';
  /**
   * Receives liblnc's log lines (at or above log.level) instead of stderr. Called on the JS
   * thread: liblnc's threads queue lines without waiting (a full queue of 4096 drops lines).
   * Lines never contain the token. An exception it throws is rethrown as uncaughtException.
   */
  logger?: Logger;
  /** Emit a 'statistics' event this often (0 = never, the default). */
  'statistics.interval.ms'?: number;
  /** Events liblnc queues before a listener takes them; past it: one 'eventsDropped' event. */
  'events.queue.max'?: number;
  /** Connection failures in a row that open the circuit (0 = no breaker; default 5). */
  'circuit.breaker.failures'?: number;
  /** How long the circuit stays open before one trial connection (default 5000). */
  'circuit.breaker.reset.ms'?: number;
  [key: string]: ConfigValue | Logger | undefined;
}

export type LogLevel = 'error' | 'warn' | 'info' | 'debug';
export type Logger = (level: LogLevel, line: string) => void;

/** Event names (liblnc's kinds in camelCase); see ClientEvents. */
export type ClientEventKind =
  | 'connecting' | 'connected' | 'disconnected' | 'reconnectScheduled' | 'leaderChanged' | 'authFailed' | 'fatal'
  | 'circuitOpen' | 'circuitHalfOpen' | 'circuitClosed' | 'statistics' | 'eventsDropped';

/**
 * One connection, circuit or statistics event (lnc_event_t). Emitted on the JS thread, in
 * order, both as 'event' and under its own `kind`. liblnc queues events (events.queue.max) from
 * the handle's creation until the first listener of any of them is added; from then on they are
 * taken as the handle's eventfd signals them. Listening never keeps the process alive.
 */
export interface ClientEvent {
  kind: ClientEventKind;
  /** The error behind it ('AUTH_FAILED', 'NOT_LEADER', 'TRANSPORT', …) or null. */
  code: string | null;
  /** host:port concerned ('' when none). */
  server: string;
  /** 0 = unknown (LWP's handshake does not name the node). */
  nodeId: number;
  /** reconnectScheduled: failures in a row; eventsDropped: how many events were dropped. */
  attempt: number;
  /** reconnectScheduled: delay before the next attempt; circuitOpen: until the half-open trial. */
  delayMs: number;
  /** The reason as a sentence (statistics: the JSON text). */
  message: string;
  /** statistics: the parsed document. */
  statistics?: Statistics;
}

/**
 * The statistics document, schema version 1 (`version: 1`; docs/statistics.md): `kind` 'producer' or
 * 'consumer', counters in snake_case (records_acked, records_failed, …), latency quantiles,
 * the circuit state and the connections.
 */
export interface Statistics {
  version: number;
  kind: 'producer' | 'consumer';
  circuit?: 'closed' | 'open' | 'half_open';
  [field: string]: unknown;
}

/**
 * The events of Producer, Consumer and Admin. A listener's exception is rethrown as an
 * uncaughtException after the batch is emitted (never inside liblnc's delivery path).
 */
export interface ClientEvents {
  /** Every event below, as a ClientEvent. */
  event: [event: ClientEvent];
  connecting: [event: ClientEvent];
  connected: [event: ClientEvent];
  disconnected: [event: ClientEvent];
  reconnectScheduled: [event: ClientEvent];
  leaderChanged: [event: ClientEvent];
  authFailed: [event: ClientEvent];
  fatal: [event: ClientEvent];
  circuitOpen: [event: ClientEvent];
  circuitHalfOpen: [event: ClientEvent];
  circuitClosed: [event: ClientEvent];
  /** The parsed document, every statistics.interval.ms. */
  statistics: [document: Statistics];
  eventsDropped: [event: ClientEvent];
}

export interface ProducerConfig extends Config {
  'batch.size'?: number;
  'linger.ms'?: number;
  'max.in.flight'?: number;
  'delivery.timeout.ms'?: number;
  'buffer.memory'?: number;
  /** How long send()/sendBatch() wait for space (on the thread pool); produce() never waits. */
  'send.block'?: boolean;
  'send.timeout.ms'?: number;
  /** Sending to an unknown topic name creates it (default true); false: UnknownTopicError. */
  'topic.auto.create'?: boolean;
  retries?: number;
  'retry.backoff.ms'?: number;
  compression?: 'none' | 'lz4';
  'compression.min.bytes'?: number;
  connections?: number;
}

export interface ConsumerConfig extends Config {
  topic?: string;
  'topic.id'?: number;
  'consumer.name'?: string;
  'offset.dir'?: string;
  'offset.store'?: 'auto' | 'file' | 'memory' | 'none';
  /** 'stored' (default), 'beginning', 'end', or a byte offset. */
  'start.offset'?: 'stored' | 'beginning' | 'end' | number | string;
  'offset.reset'?: 'earliest' | 'latest' | 'error';
  'fetch.max.bytes'?: number;
  'fetch.min.wait.ms'?: number;
  'fetch.max.wait.ms'?: number;
  'fetch.pipeline'?: 1 | 2;
  'queued.max.bytes'?: number;
  'max.poll.records'?: number;
  'enable.auto.commit'?: boolean;
  'auto.commit.interval.ms'?: number;
  'catching.up.retries'?: number;
  'expand.envelopes'?: boolean;
  'consume.raw'?: boolean;
}

/** Record type numbers (LNC_RECORD_*). */
export declare const RecordType: {
  readonly raw: 1;
  readonly json: 2;
  readonly msgpack: 3;
  readonly protobuf: 4;
  readonly avro: 5;
  readonly keyValue: 16;
  readonly timestamped: 17;
  readonly keyTimestamped: 18;
  readonly extended: 255;
};

export type RecordTypeName = keyof typeof RecordType | 'tombstone';

/** Bytes accepted as a key or value: Buffer / typed array / DataView / ArrayBuffer (no copy) or a string (UTF-8). */
export type Bytes = string | NodeJS.ArrayBufferView | ArrayBuffer;

export interface RecordOptions<O = unknown> {
  /** Record type name or number (default raw; a key makes it key-value, a timestamp timestamped). */
  type?: RecordTypeName | number;
  /** Extended type when type is 'extended'. */
  extType?: number;
  key?: Bytes | null;
  /** bigint = ns since the epoch, number = ms since the epoch, or a Date. */
  timestamp?: bigint | number | Date;
  /** Any value; comes back in the 'delivery' event of a produce()d record. */
  opaque?: O;
}

/** How long send()/sendBatch() may wait for buffer space, and how to stop waiting. */
export interface WaitOptions {
  /** Milliseconds (0 = not at all); default: liblnc's send.block / send.timeout.ms. */
  timeoutMs?: number;
  /** Ends the wait: the call rejects with an AbortError (cause: liblnc's CANCELLED error). */
  signal?: AbortSignal;
}

export interface DeliveryReport<O = unknown> {
  topicId: number;
  /** The topic name when the record was produced by name. */
  topic: string | undefined;
  /** Batch id of the acknowledged (or last) attempt; 0n if never sent. */
  batchId: bigint;
  opaque: O | undefined;
  /** null when acknowledged (written and fsynced by the server). */
  error: LncError | null;
}

export interface ProducerMetrics {
  recordsSent: number;
  recordsAcked: number;
  recordsFailed: number;
  bytesSent: number;
  bytesAcked: number;
  batchesSent: number;
  batchesAcked: number;
  batchesFailed: number;
  batchesRetried: number;
  recordsRetried: number;
  possibleDuplicates: number;
  connects: number;
  disconnects: number;
  serverErrors: number;
  batchesCompressed: number;
  inFlightBatches: number;
  bufferedBytes: number;
  outstandingRecords: number;
  ackLatencyP50Us: number;
  ackLatencyP99Us: number;
  /** Batch size limit in force now: batch.size, up to batch.size.max while the in-flight window is full. */
  batchSizeCurrent: number;
}

/** One record of sendBatch(): a value, or a value with its options. */
export type BatchRecord = Bytes | null | (Omit<RecordOptions, 'opaque'> & { value: Bytes | null | undefined });

/** sendBatch() rejects with the first record's error, carrying every record's report. */
export interface BatchError extends LncError {
  reports: DeliveryReport[];
}

export interface ProducerEvents extends ClientEvents {
  /** Every record's outcome (`report.error` set on failure; failures are never emitted as 'error'). */
  delivery: [report: DeliveryReport];
  drain: [];
  close: [];
}

export declare class Producer extends EventEmitter {
  constructor(config?: ProducerConfig);
  /** Records accepted and not yet reported. */
  readonly outstanding: number;
  readonly closed: boolean;
  /** Fire-and-forget; throws if the record was not accepted (QueueFullError: wait for 'drain'). */
  produce(topic: string | number, value: Bytes | null | undefined, options?: RecordOptions): void;
  /** Resolves on the record's delivery report; rejects with its final error. */
  send(topic: string | number, value: Bytes | null | undefined, options?: Omit<RecordOptions, 'opaque'> & WaitOptions): Promise<DeliveryReport>;
  /**
   * Appends the records atomically (all accepted or none: then it rejects at once and nothing is
   * sent). Resolves with the reports in order; rejects with a BatchError if any record failed.
   */
  sendBatch(topic: string | number, records: ReadonlyArray<BatchRecord>, options?: WaitOptions): Promise<DeliveryReport[]>;
  /** Resolves a name through liblnc's cache (network on a miss; created with topic.auto.create). */
  topicId(name: string | number, options?: { timeoutMs?: number; signal?: AbortSignal }): Promise<number>;
  /**
   * Resolves when every record accepted so far has been reported; TimeoutError (with `remaining`)
   * otherwise; DeliveryError (DELIVERY_FAILED) when fire-and-forget records failed.
   */
  flush(timeoutMs?: number): Promise<void>;
  /** Flushes up to timeoutMs, fails the rest, stops; resolves after every report. Idempotent. */
  close(timeoutMs?: number): Promise<void>;
  /** Fails every unsent record with PURGED; returns how many. */
  purge(): number;
  metrics(): ProducerMetrics;
  /** The statistics document now (after close(): the final one). */
  statistics(): Statistics;

  on<K extends keyof ProducerEvents>(event: K, listener: (...args: ProducerEvents[K]) => void): this;
  once<K extends keyof ProducerEvents>(event: K, listener: (...args: ProducerEvents[K]) => void): this;
  off<K extends keyof ProducerEvents>(event: K, listener: (...args: ProducerEvents[K]) => void): this;
  emit<K extends keyof ProducerEvents>(event: K, ...args: ProducerEvents[K]): boolean;
}

export declare class ConsumerRecord {
  readonly topicId: number;
  /** Type byte (1 raw, 2 json, …, 255 extended; 0 for a raw-mode chunk). */
  readonly type: number;
  readonly extType: number | null;
  /** Byte offset in the topic log (records of one envelope share it); exact as a bigint. */
  readonly offset: bigint;
  readonly key: Buffer | null;
  /** Application payload (after any key/timestamp prefix). */
  readonly value: Buffer;
  /** ns since the epoch (timestamped types) or null. */
  readonly timestamp: bigint | null;
  readonly typeName: RecordTypeName | undefined;
  readonly isTombstone: boolean;
  text(): string;
  json<T = unknown>(): T;
}

/**
 * A user offset store. liblnc calls load when the consumer starts and save on commit(), on
 * auto-commit (inside poll) and on close(). Both run on the JS thread and may return a Promise.
 * An error thrown (or a rejection) fails the consumer call that needed the store, which then
 * rejects with that same error.
 */
export interface OffsetStore {
  /** The stored offset (a bigint, or a number below 2^53), or null/undefined when none is stored. */
  load(topicId: number): bigint | number | null | undefined | Promise<bigint | number | null | undefined>;
  save(topicId: number, offset: bigint): void | Promise<void>;
}

export interface ConsumerOptions {
  /** A store of your own instead of liblnc's file/memory stores (lnc_consumer_new_with_store). */
  offsetStore?: OffsetStore;
  /** Bounds the setup (topic lookup, offset load); default request.timeout.ms. */
  timeoutMs?: number;
}

/** liblnc's consumer counters (lnc_consumer_metrics_t). Offsets are exact bigints. */
export interface ConsumerMetrics {
  records: number;
  bytes: number;
  errors: number;
  fetches: number;
  emptyFetches: number;
  fetchBytes: number;
  catchingUp: number;
  position: bigint;
  /** null until a reply told the topic's end. */
  endOffset: bigint | null;
  endOffsetAgeMs: number | null;
  lag: bigint | null;
  queuedEvents: number;
  queuedBytes: number;
  reassemblyCarryBytes: number;
  fetchLatencyP50Us: number;
  fetchLatencyP99Us: number;
  fetchLatencyMaxUs: number;
  reconnects: number;
}

export declare class Consumer extends EventEmitter implements AsyncIterable<ConsumerRecord> {
  constructor(config: ConsumerConfig, options?: ConsumerOptions);
  static create(config: ConsumerConfig, options?: ConsumerOptions): Promise<Consumer>;
  readonly ready: Promise<Consumer>;
  readonly topicId: number;
  readonly closed: boolean;
  /** Next batch (up to max.poll.records); [] after timeoutMs (default 1000; < 0 = no limit) or close. */
  poll(timeoutMs?: number): Promise<ConsumerRecord[]>;
  [Symbol.asyncIterator](): AsyncIterator<ConsumerRecord>;
  /** Resolves with the new position. A number offset must be a safe integer (RangeError otherwise). */
  seek(position: 'beginning' | 'end' | number | bigint, options?: CallOptions): Promise<bigint>;
  /** Resolves with the committed offset. */
  commit(options?: CallOptions): Promise<bigint>;
  /** Bytes between the position and the topic's end. */
  lag(options?: CallOptions): Promise<bigint>;
  position(): bigint;
  /** The statistics document (StateError before ready; works after close()). */
  statistics(): Statistics;
  /** liblnc's counters (StateError before ready). */
  metrics(): ConsumerMetrics;
  close(timeoutMs?: number): Promise<void>;

  on<K extends keyof ClientEvents>(event: K, listener: (...args: ClientEvents[K]) => void): this;
  once<K extends keyof ClientEvents>(event: K, listener: (...args: ClientEvents[K]) => void): this;
  off<K extends keyof ClientEvents>(event: K, listener: (...args: ClientEvents[K]) => void): this;
  emit<K extends keyof ClientEvents>(event: K, ...args: ClientEvents[K]): boolean;
}

export interface GroupConfig extends ConsumerConfig {
  /** The group's name ([A-Za-z0-9-]); its state lives in the topic lnc-group-<group.id>. */
  'group.id': string;
  /** Topic names the group shares (or group.topic.prefix). */
  'group.topics'?: string | ReadonlyArray<string>;
  'group.topic.prefix'?: string;
  /** This member's id (default: generated). */
  'group.member.id'?: string;
  'group.session.timeout.ms'?: number;
  'group.heartbeat.interval.ms'?: number;
  'group.assignment.strategy'?: 'sticky' | 'range' | 'roundrobin';
  'group.commit.interval.ms'?: number;
}

export interface GroupConsumerEvents {
  /** Topic ids this member owns from now on (emitted by the poll() that saw the change). */
  assigned: [topicIds: number[]];
  /** Topic ids no longer owned; records of them already returned may reach their next owner again. */
  revoked: [topicIds: number[]];
}

/**
 * A member of a consumer group: the group's topics are shared among its live members, a dead
 * member's topics move to the others and resume at the group's newest commit (at-least-once;
 * docs/groups.md). Records carry their `topicId`.
 */
export declare class GroupConsumer extends EventEmitter implements AsyncIterable<ConsumerRecord> {
  constructor(config: GroupConfig);
  /** Joins (creating the group topic if needed) and resolves once joined. */
  static create(config: GroupConfig): Promise<GroupConsumer>;
  readonly ready: Promise<GroupConsumer>;
  /** This member's id (null until ready). */
  readonly memberId: string | null;
  readonly closed: boolean;
  /**
   * Records of the owned topics, waiting up to timeoutMs (default 1000; < 0 = until close);
   * [] on timeout or after close. Marks the records of earlier polls processed (committed).
   * Rejects with a topic's error (carrying `topicId`) after the records before it.
   */
  poll(timeoutMs?: number): Promise<ConsumerRecord[]>;
  [Symbol.asyncIterator](): AsyncIterator<ConsumerRecord>;
  /** Topic ids owned now ([] before ready; ClosedError after close). */
  assignment(): number[];
  /** Commits, writes a leave record (the others take over at once), stops. Idempotent. */
  close(timeoutMs?: number): Promise<void>;

  on<K extends keyof GroupConsumerEvents>(event: K, listener: (...args: GroupConsumerEvents[K]) => void): this;
  once<K extends keyof GroupConsumerEvents>(event: K, listener: (...args: GroupConsumerEvents[K]) => void): this;
  off<K extends keyof GroupConsumerEvents>(event: K, listener: (...args: GroupConsumerEvents[K]) => void): this;
  emit<K extends keyof GroupConsumerEvents>(event: K, ...args: GroupConsumerEvents[K]): boolean;
}

export interface Retention {
  /** Seconds; omitted / Infinity / 0 = unlimited. */
  maxAgeSecs?: number;
  /** Bytes; omitted / Infinity / 0 = unlimited. */
  maxBytes?: number;
}

export interface Topic {
  id: number;
  name: string;
  /** Unix seconds. */
  createdAt: number;
  topicEpoch: number;
  /** Set on CreateTopicWithRetention replies only; Infinity = unlimited. */
  retention: { maxAgeSecs: number; maxBytes: number } | null;
}

export interface ClusterStatus {
  currentTerm: number;
  healthyNodes: number;
  nodeCount: number;
  nodeId: number;
  leaderId: number;
  isLeader: boolean;
  quorumAvailable: boolean;
  isStandalone: boolean;
}

export interface FetchResult {
  catchingUp: boolean;
  nextOffset: bigint;
  endOffset: bigint;
  /** Raw log bytes. */
  data: Buffer;
}

export interface CallOptions {
  timeoutMs?: number;
}

export type ConsumerIdentity = { consumerId: bigint | number; consumerName?: never } | { consumerName: string; consumerId?: never };

export declare class Admin extends EventEmitter {
  constructor(config?: Config);
  on<K extends keyof ClientEvents>(event: K, listener: (...args: ClientEvents[K]) => void): this;
  once<K extends keyof ClientEvents>(event: K, listener: (...args: ClientEvents[K]) => void): this;
  off<K extends keyof ClientEvents>(event: K, listener: (...args: ClientEvents[K]) => void): this;
  emit<K extends keyof ClientEvents>(event: K, ...args: ClientEvents[K]): boolean;
  createTopic(name: string, options?: CallOptions & { retention?: Retention }): Promise<Topic>;
  ensureTopic(name: string, options?: CallOptions): Promise<Topic>;
  listTopics(options?: CallOptions): Promise<Topic[]>;
  findTopic(name: string, options?: CallOptions): Promise<Topic>;
  getTopic(topicId: number, options?: CallOptions): Promise<Topic>;
  deleteTopic(topic: number | string, options?: CallOptions): Promise<void>;
  setRetention(topicId: number, retention: Retention, options?: CallOptions): Promise<void>;
  clusterStatus(options?: CallOptions): Promise<ClusterStatus>;
  /** Round trip in milliseconds (a float). */
  ping(options?: CallOptions): Promise<number>;
  authenticate(token: string, options?: CallOptions): Promise<void>;
  fetch(topicId: number, offset: number | bigint, maxBytes?: number, options?: CallOptions): Promise<FetchResult>;
  subscribe(topicId: number, options: ConsumerIdentity & CallOptions & { startOffset?: number | bigint; maxBatchBytes?: number }): Promise<bigint>;
  unsubscribe(topicId: number, options: ConsumerIdentity & CallOptions): Promise<void>;
  commitOffset(topicId: number, offset: number | bigint, options: ConsumerIdentity & CallOptions): Promise<void>;
  /** Frees the native handle (calls already running finish first); later calls reject with ClosedError. */
  close(): Promise<void>;
}

export interface MockSettings {
  host?: string;
  port?: number;
  'ack.delay.ms'?: number;
  checksum?: 'crc32' | 'crc32c';
  'max.payload.bytes'?: number;
  'auth.token'?: string;
  'write.only'?: boolean;
  'fetch.rate.limit.bytes'?: number;
  'segment.bytes'?: number;
  /** Listen with TLS: server certificate chain and key (PEM files; liblnc built with tls). */
  'tls.cert'?: string;
  'tls.key'?: string;
  /** Demand client certificates signed by a CA in this PEM file (mutual TLS). */
  'tls.client.ca'?: string;
  [key: string]: ConfigValue | undefined;
}

export interface MockStats {
  connectionsAccepted: number;
  connectionsOpen: number;
  framesReceived: number;
  fatalCloses: number;
  ingestsReceived: number;
  ingestsStored: number;
  bytesStored: number;
  acksSent: number;
  acksDropped: number;
  errorsSent: number;
  keepalivesAnswered: number;
  controlRequests: number;
  fetchesServed: number;
}

/** liblnc's in-process LANCE mock broker with fault injection, for tests. */
export declare class MockBroker {
  constructor(settings?: MockSettings);
  /** 'host:port' for bootstrap.servers. */
  readonly address: string;
  readonly port: number;
  dropAfterFrames(n: number): void;
  dropAfterBytes(n: number): void;
  disconnectAll(): void;
  setAckDelayMs(ms: number): void;
  dropNextAcks(n: number): void;
  stallReading(stall?: boolean): void;
  forceCatchingUp(n: number): void;
  setFetchRateLimit(bytesPerSec: number): void;
  setWriteOnly(on?: boolean): void;
  truncateFront(topicId: number, n: number): void;
  failNextIngests(n: number, text: string, store?: boolean): void;
  failNextRequests(n: number, text: string): void;
  requireToken(token: string | null): void;
  createTopic(name: string): number;
  stats(): MockStats;
  topicSize(topicId: number): bigint;
  restart(): Promise<void>;
  stop(): Promise<void>;
  close(): Promise<void>;
}

export type ErrorCode =
  | 'INVALID_ARG' | 'UNKNOWN_KEY' | 'INVALID_VALUE' | 'TIMED_OUT' | 'QUEUE_FULL' | 'CLOSED' | 'PROTOCOL'
  | 'CORRUPT_RECORD' | 'PANIC' | 'TRANSPORT' | 'MSG_TOO_LARGE' | 'OFFSET_OUT_OF_RANGE' | 'PURGED'
  | 'UNKNOWN_OUTCOME' | 'IN_CALLBACK' | 'STATE' | 'IO' | 'TLS' | 'UNKNOWN_TOPIC' | 'NOT_LEADER' | 'FORWARD_FAILED'
  | 'RATE_LIMITED' | 'AUTH_REQUIRED' | 'AUTH_FAILED' | 'CATCHING_UP' | 'TOPIC_EXISTS' | 'INVALID_NAME'
  | 'SERVER_ERROR' | 'CANCELLED' | 'DELIVERY_FAILED' | 'UNKNOWN';

/** Base class of every liblnc error. */
export declare class LncError extends Error {
  readonly code: ErrorCode;
  /** The numeric lnc_err_t. */
  readonly errno: number;
  readonly retryable: boolean;
  readonly fatal: boolean;
  /** host:port of a NOT_LEADER redirect. */
  readonly leaderAddr: string | null;
  /** Server offset carried by the error (CatchingUp end, corrupt record start). */
  readonly serverOffset: bigint | null;
}
export declare class ConfigError extends LncError {}
export declare class InvalidArgumentError extends LncError {}
export declare class TimeoutError extends LncError {
  /** flush(): records still pending. */
  remaining?: number;
}
export declare class QueueFullError extends LncError {}
export declare class ClosedError extends LncError {}
export declare class ProtocolError extends LncError {}
export declare class CorruptRecordError extends ProtocolError {}
export declare class TransportError extends LncError {}
export declare class MessageTooLargeError extends LncError {}
export declare class OffsetOutOfRangeError extends LncError {}
/** PURGED / UNKNOWN_OUTCOME (and DELIVERY_FAILED: DeliveryFailedError). */
export declare class DeliveryError extends LncError {}
/** flush()/close(): fire-and-forget records failed since the last flush (the count and the first error). */
export declare class DeliveryFailedError extends DeliveryError {}
/** CANCELLED: the call's cancellation fired (an AbortSignal's AbortError carries it as `cause`). */
export declare class CancelledError extends LncError {}
export declare class StateError extends LncError {}
/** A panic caught inside liblnc (code 'PANIC'): a liblnc bug. */
export declare class InternalError extends LncError {}
export declare class IoError extends LncError {}
/** The TLS handshake failed (unknown CA, expired, name mismatch, client certificate refused). */
export declare class TlsError extends LncError {}
/** Server error categories (positive codes). */
export declare class ServerError extends LncError {}
export declare class UnknownTopicError extends ServerError {}
export declare class NotLeaderError extends ServerError {}
export declare class ForwardFailedError extends ServerError {}
export declare class RateLimitedError extends ServerError {}
/** AUTH_REQUIRED / AUTH_FAILED. */
export declare class AuthError extends ServerError {}
export declare class CatchingUpError extends ServerError {}
export declare class TopicExistsError extends ServerError {}
export declare class InvalidNameError extends ServerError {}
/** The circuit breaker is open (code 'CIRCUIT_OPEN', -21): the server has been unreachable; a non-blocking send fails fast. */
export declare class CircuitOpenError extends LncError {}

/** SipHash-1-3 consumer id of a name, as the official Rust client and liblnc's file store compute it. */
export declare function consumerId(name: string): bigint;
/** liblnc's version string. */
export declare function version(): string;
