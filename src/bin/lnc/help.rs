//! `--help` texts, one per command and subcommand.

pub const TOP: &str = "\
lnc — command-line client for the LANCE streaming server (LWP), built on liblnc

usage: lnc <command> [options]

commands:
  quickstart   start an embedded mock (or use -b), produce, consume back, verify, print throughput
  produce      produce lines / files from stdin to a topic
  consume      print records of a topic (format string or JSON lines)
  topics       list | create | delete | get | retention
  ping         keepalive round trips and their p50/p99
  status       cluster status
  stats        live view: connection state, keepalive RTT and jitter, lag per topic of a consumer name
  mock         run the embedded mock broker standalone (prints its address first)
  bench        liblnc throughput figures: bench produce | bench consume (--tls: TLS vs plaintext)
  tls-fixture  throwaway certificates + TLS mock + stunnel, for TLS tests in other languages
  help         `lnc help <command>` is `lnc <command> --help`
  version      print the version

common options:
  -b, --bootstrap HOST:PORT[,…]   servers (default 127.0.0.1:1992); same as -X bootstrap.servers=…
  -X, --config KEY=VALUE          any liblnc configuration key (repeatable); `lnc config-table` lists them
  -h, --help                      help for any command or subcommand

exit codes: 0 ok, 1 runtime failure, 2 usage error
";

pub const QUICKSTART: &str = "\
usage: lnc quickstart [-b HOST:PORT] [-n COUNT] [-s SIZE] [-X KEY=VALUE]… [--keep] [-q]

Without -b: starts the embedded mock broker in this process (ack delay 5 ms, like the deployed
server's fsync window). With -b: uses that server. Then creates a uniquely named topic, produces
COUNT records of SIZE bytes with a progress bar, consumes them back and verifies every record
(content, order, count: exactly once), and prints produce/consume throughput and ack latency.
The last line is `verified N/N records: OK` (or FAILED, with exit code 1).

options:
  -b, --bootstrap HOST:PORT   use a running server instead of the embedded mock
  -n, --count COUNT           records (default 1000000; accepts 1M, 20k)
  -s, --size SIZE             value bytes per record (default 100, at least 16)
      --ack-delay-ms N        embedded mock's ack delay (default 5)
  -X, --config KEY=VALUE      liblnc configuration for producer and consumer (repeatable)
      --keep                  do not delete the topic at the end (with -b)
  -q, --quiet                 no progress bar
";

pub const PRODUCE: &str = "\
usage: lnc produce -t TOPIC [-b HOST:PORT] [-k KEY] [--type TYPE] [-z lz4] [-X KEY=VALUE]…
                   [-f FILE]… [--delimiter C] [--create]

Reads records from stdin, one per line (or per --delimiter), or one record per -f FILE; sends
them, flushes, and prints sent/acked/failed to stderr. Exit code 1 if any record failed.

options:
  -t, --topic TOPIC       topic name (looked up with ListTopics) or id:N
      --create            create the topic if it does not exist
  -b, --bootstrap H:P     servers (default 127.0.0.1:1992)
  -k, --key KEY           key for every record (raw + key = kv)
      --type TYPE         raw (default) | json | msgpack | protobuf | avro | kv | ts | kts | tombstone | user:0xNN
                          (kv/kts need -k; ts/kts are stamped with the current time)
  -z, --compression C     none | lz4 (liblnc's 0x0100 envelope; only liblnc reads it)
  -f, --file FILE         send the whole file as one record (repeatable); stdin is not read
  -D, --delimiter C       record delimiter on stdin (default \\n; escapes \\t \\0 \\xNN)
  -X, --config KEY=VALUE  producer configuration (repeatable), e.g. -X linger.ms=0
  -q, --quiet             no summary line
      --stats SECONDS     a one-line statistics summary to stderr every SECONDS (acked, rate,
                          in flight, buffered, ack p50/p99/max, connection state and RTT)
";

pub const CONSUME: &str = "\
usage: lnc consume -t TOPIC [-b HOST:PORT] [-o beginning|end|stored|N] [-c COUNT] [-e]
                   [-f FORMAT | --json] [--group-name NAME --offset-dir DIR] [-X KEY=VALUE]…
       lnc consume --group NAME (-t TOPIC[,TOPIC…] | --topic-prefix P) [-c COUNT] [-f FORMAT | --json]

Prints the records of a topic to stdout. Runs until Ctrl-C unless -c or -e is given.

options:
  -t, --topic TOPIC       topic name or id:N
  -b, --bootstrap H:P     servers (default 127.0.0.1:1992)
  -o, --offset POS        beginning (default), end, stored (default with --group-name), or a byte offset
                          (a record boundary, e.g. an %o printed earlier)
  -c, --count N           exit after N records
  -e, --exit              exit when the end of the topic is reached
  -f, --format FORMAT     output format (default '%v\\n'):
                          %k key  %v value  %o offset  %T timestamp ns (-1 if none)  %t topic name
                          %i topic id  %y type  %K key length  %S value length  %% percent
                          escapes: \\n \\t \\r \\0 \\\\ \\xNN
      --json              one JSON object per line: topic, topic_id, offset, type, key, value,
                          timestamp_ns (key/value as UTF-8, or base64 with *_encoding = \"base64\")
      --group-name NAME   consumer name: offsets are stored in --offset-dir (the official Rust
      --offset-dir DIR    client's lock-file format) and committed on exit
  -X, --config KEY=VALUE  consumer configuration (repeatable), e.g. -X fetch.max.bytes=65536
      --stats SECONDS     a one-line statistics summary to stderr every SECONDS (records, rate,
                          position, lag, fetches, fetch p50/p99, connection state and RTT)
      --group NAME        consume as a member of consumer group NAME (docs/groups.md): -t takes a
                          comma-separated list of names, or use --topic-prefix PREFIX; offsets live
                          in the group topic lnc-group-NAME; -o beginning|end applies to topics the
                          group never committed; group.* keys via -X
      --topic-prefix P    with --group: share every topic whose name starts with P
";

pub const STATS: &str = "\
usage: lnc stats [-b HOST:PORT] [-t TOPIC]… [--consumer NAME --offset-dir DIR] [-i SECONDS]
                 [-c COUNT] [--json] [-X KEY=VALUE]…

A live view of one server, refreshed every SECONDS (default 1) until Ctrl-C or COUNT refreshes:
  - connection: connected or unreachable (with the reason), keepalive round trip with its jitter
    (RFC 3550), min and max, and how many connections the view had to make;
  - the node: id, mode, leader, healthy nodes (GetClusterStatus);
  - per topic: the end offset (a Fetch at the end), and with --consumer the offset that consumer
    committed and the lag in bytes (end − committed).

What the protocol can and cannot show: LWP servers keep no consumer positions a client can read
(Subscribe/CommitOffset state is node-local memory, lost on restart, and reading it would
register a subscription), so the committed offsets come from the consumer's file offset store
(DIR/NAME/, the format `lnc consume --group-name NAME --offset-dir DIR` and liblnc consumers with
offset.store=file write). The view must run where that directory is readable, and the lag it
shows is at most auto.commit.interval.ms behind the consumer's own position. A running liblnc
consumer's exact position and lag are in its statistics (`lnc consume --stats`, statistics_json).
Without --consumer: the topics given with -t, with their ends only.

options:
  -t, --topic TOPIC       topic name or id:N (repeatable; default with --consumer: every topic the
                          consumer has committed offsets for)
  -G, --consumer NAME     consumer name whose committed offsets to read (with --offset-dir)
      --offset-dir DIR    the consumer's offset.dir
  -i, --interval SECONDS  refresh period (default 1; fractions allowed)
  -c, --count N           exit after N refreshes (default: until Ctrl-C)
      --json              one JSON object per refresh
";

pub const TOPICS: &str = "\
usage: lnc topics <list|create|delete|get|retention> [options]

subcommands:
  list                                     every topic
  create NAME [--retention-age S] [--retention-bytes B]
  delete TOPIC                             TOPIC: id, id:N or a name
  get TOPIC
  retention TOPIC [--age S] [--bytes B]    omitted, 0 or `unlimited` = no limit

common options: -b HOST:PORT, -X KEY=VALUE, --json (machine-readable output)
`lnc topics <subcommand> --help` for details.
";

pub const TOPICS_LIST: &str = "\
usage: lnc topics list [-b HOST:PORT] [--json] [-X KEY=VALUE]…

Lists every topic: id, name, creation time. --json prints the server's topic objects as a JSON array.
";

pub const TOPICS_CREATE: &str = "\
usage: lnc topics create NAME [--retention-age SECONDS] [--retention-bytes BYTES] [-b HOST:PORT] [--json]

Creates a topic. NAME: 1–255 characters from [A-Za-z0-9-]. With a retention option the topic is
created with CreateTopicWithRetention; an omitted limit (or `unlimited`) means no limit.
--if-not-exists returns the existing topic instead of failing.
";

pub const TOPICS_DELETE: &str = "\
usage: lnc topics delete TOPIC [-b HOST:PORT] [--json]

Deletes a topic and all its data. TOPIC: a numeric id, id:N, or a name.
";

pub const TOPICS_GET: &str = "\
usage: lnc topics get TOPIC [-b HOST:PORT] [--json]

Shows one topic. TOPIC: a numeric id, id:N, or a name.
";

pub const TOPICS_RETENTION: &str = "\
usage: lnc topics retention TOPIC [--age SECONDS] [--bytes BYTES] [-b HOST:PORT] [--json]

Sets a topic's retention. An omitted limit (or `unlimited`) means no limit, sent the way the server
understands it (age 18446744073, bytes u64::MAX). 0 is refused: on the server it deletes every closed
segment. The server applies retention every 60 s to closed segments only; offsets then shift down.
";

pub const PING: &str = "\
usage: lnc ping [-b HOST:PORT] [-c COUNT] [-i INTERVAL_MS] [-X KEY=VALUE]…

Sends COUNT keepalives (default 5) on one connection and prints each round-trip time, then
min/p50/p99/max.
";

pub const STATUS: &str = "\
usage: lnc status [-b HOST:PORT] [--json] [-X KEY=VALUE]…

Prints the server's cluster status (GetClusterStatus): mode, node, leader, term, quorum, peers.
";

pub const MOCK: &str = "\
usage: lnc mock [--host HOST] [--port P] [--ack-delay-ms N] [--tls-cert F --tls-key F [--tls-client-ca F]] [-X KEY=VALUE]…

Runs the embedded mock broker (an in-memory LWP server behaving like the deployed LANCE server)
until Ctrl-C or SIGTERM. The first line on stdout is its address (host:port), so scripts can do
  addr=$(lnc mock --port 0 | head -n1)   # or read the first line of a background process

options:
      --host HOST         listen address (default 127.0.0.1)
      --port P            port (default 1992; 0 = ephemeral)
      --ack-delay-ms N    durability delay before Acks (default 5, like the server's fsync window)
      --tls-cert F        listen with TLS: server certificate chain (PEM); needs --tls-key and a
                          liblnc built with the cargo feature `tls`
      --tls-key F         the server certificate's private key (PEM)
      --tls-client-ca F   demand a client certificate signed by a CA in F (mutual TLS)
  -X, --config KEY=VALUE  mock settings, with or without a `mock.` prefix: ack.delay.ms, checksum,
                          max.payload.bytes, auth.token, write.only, fetch.rate.limit.bytes,
                          segment.bytes, host, port, tls.cert, tls.key, tls.client.ca
";

pub const BENCH: &str = "\
usage: lnc bench <produce|consume> [-b HOST:PORT] [-n COUNT] [-s SIZE] [--connections N] [--tls] [-X KEY=VALUE]…

Throughput figures: records/s, MB/s, ack latency p50/p99 (produce), peak RSS. Without -b it
runs against the embedded mock twice in one run: ack delay 0 ms and 5 ms. Then, in the same run,
liblnc side by side with the official crates.io lnc-client as ratios (the interop member's
`compare` binary, found next to lnc or built once from the checkout; same producer settings).

options:
  -n, --count COUNT       records (default 1000000)
  -s, --size SIZE         value bytes (default 100)
      --connections N     producer connections (N topics, records spread round-robin; default 1)
  -b, --bootstrap H:P     benchmark a running server instead
  -X, --config KEY=VALUE  liblnc configuration (repeatable)
      --no-compare        skip the side-by-side run (just print its command)
";

pub const BENCH_PRODUCE: &str = "\
usage: lnc bench produce [-b HOST:PORT] [-n COUNT] [-s SIZE] [--connections N] [--tls] [-X KEY=VALUE]…

Times COUNT sends through flush (every record acknowledged). See `lnc bench --help`.

  --tls   in one run: the plaintext mock, the mock's TLS listener (rustls) and stunnel4 in front
          of the plaintext mock, all with client certificates, then the TLS/plaintext ratios.
          Needs a lnc built with the cargo feature `tls`, and the openssl and stunnel4 tools
          (throwaway certificates; the stunnel row is skipped without stunnel).
";

pub const BENCH_CONSUME: &str = "\
usage: lnc bench consume [-b HOST:PORT] [-n COUNT] [-s SIZE] [-X KEY=VALUE]…

Produces COUNT records (untimed), then times consuming them all from the beginning.
See `lnc bench --help`.
";

pub const TLS_FIXTURE: &str = "\
usage: lnc tls-fixture [--dir DIR]

Test fixture for TLS: makes a throwaway CA, a server certificate (localhost, 127.0.0.1) and a
client certificate with the openssl tool (in a new directory under DIR or the temp directory),
starts the embedded mock in plaintext and with TLS demanding client certificates, and stunnel4
(demanding client certificates too) in front of the plaintext mock. Prints one JSON line:
  {\"stunnel\": H:P, \"tls_mock\": H:P, \"plain\": H:P, \"ca\": F, \"cert\": F, \"key\": F, \"other_ca\": F, \"server_name\": \"localhost\"}
then runs until stdin closes or Ctrl-C/SIGTERM, and deletes the files. Needs a lnc built with the
cargo feature `tls`. Used by the C, Python, Go and Node TLS tests.
";

pub const CONFIG_TABLE: &str =
    "usage: lnc config-table\n\nPrints the configuration key table (markdown) that the README embeds.\n";
pub const ERROR_TABLE: &str =
    "usage: lnc error-table\n\nPrints the error code table (markdown) that the README embeds.\n";

/// Help for `lnc help <command…>`.
pub fn for_command(path: &[String]) -> Option<&'static str> {
    let p: Vec<&str> = path.iter().map(String::as_str).collect();
    Some(match p.as_slice() {
        [] => TOP,
        ["quickstart"] => QUICKSTART,
        ["produce"] => PRODUCE,
        ["consume"] => CONSUME,
        ["topics"] => TOPICS,
        ["topics", "list"] => TOPICS_LIST,
        ["topics", "create"] => TOPICS_CREATE,
        ["topics", "delete"] => TOPICS_DELETE,
        ["topics", "get"] => TOPICS_GET,
        ["topics", "retention"] => TOPICS_RETENTION,
        ["ping"] => PING,
        ["status"] => STATUS,
        ["stats"] => STATS,
        ["mock"] => MOCK,
        ["bench"] => BENCH,
        ["bench", "produce"] => BENCH_PRODUCE,
        ["bench", "consume"] => BENCH_CONSUME,
        ["config-table"] => CONFIG_TABLE,
        ["tls-fixture"] => TLS_FIXTURE,
        ["error-table"] => ERROR_TABLE,
        _ => return None,
    })
}
