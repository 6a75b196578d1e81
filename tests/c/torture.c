/* Concurrency torture test of the liblnc C ABI (issue 14), against the embedded mock broker with
 * fault injection. It races the public calls of one handle from several threads and checks the
 * promises of design.md §10:
 *   - exactly one delivery report per record whose produce call returned OK, none for a record
 *     whose call failed (counted by opaque: no missing, no duplicate, no stray report);
 *   - every call returns within its own timeout plus a slack (a hang detector, not a performance
 *     assertion: the slack is seconds);
 *   - close(500 ms) returns within 1 s whatever the other threads do, and close (or free) wakes
 *     every thread waiting inside the handle;
 *   - free is safe while other threads are inside calls on the handle;
 *   - nothing leaks and no memory error (the ASan+UBSan and valgrind variants run this binary).
 *
 *   lnc_c_torture [scale] [case-substring]
 *
 * `scale` (default 1, or LNC_TORTURE_SCALE) multiplies run counts and race windows: 1 is about a
 * minute on two cores; the sanitizer and valgrind variants use less. LNC_TORTURE_SLACK_MS (default
 * 2000) is the hang slack for every call, LNC_TORTURE_CLOSE_SLACK_MS (default 500) the slack of
 * close(500 ms) — only the slow-motion valgrind run raises them. Exit status 0 only when every case
 * passed; each failure prints its case and figures. */
#define _POSIX_C_SOURCE 200809L
#include "lnc.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* ------------------------------------------------------------------------------------ basics */

static double scale = 1.0;
static double slack_ms = 2000;       /* hang detector slack for any call */
static double close_slack_ms = 500;  /* close(500) must return within 500 + this */
static const char *only;             /* run only cases whose name contains this */
static atomic_int failures;
static atomic_int case_failures;
static const char *current_case = "";

static double now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static void sleep_ms(double ms) {
  if (ms <= 0) return;
  struct timespec ts = {(time_t)(ms / 1000), (long)((ms - (double)(time_t)(ms / 1000) * 1000) * 1e6)};
  nanosleep(&ts, NULL);
}

/* Failures are counted always but printed only for the first few of each case, so a broken engine
 * does not drown the figures. */
static void fail(const char *fmt, ...) {
  atomic_fetch_add(&failures, 1);
  if (atomic_fetch_add(&case_failures, 1) >= 12) return;
  va_list ap;
  va_start(ap, fmt);
  fprintf(stderr, "FAIL [%s] ", current_case);
  vfprintf(stderr, fmt, ap);
  fputc('\n', stderr);
  va_end(ap);
}

static int runs(int n) {
  int r = (int)(n * scale + 0.5);
  return r < 1 ? 1 : r;
}

static uint64_t rnd(uint64_t *s) { /* xorshift64* */
  uint64_t x = *s;
  x ^= x >> 12;
  x ^= x << 25;
  x ^= x >> 27;
  *s = x;
  return x * 2685821657736338717ULL;
}

/* Hang watchdog: a case that runs far past its limit is stuck (a call that never returns); print
 * which and exit instead of leaving ctest to kill us without a word. */
static atomic_llong watchdog_deadline; /* ms since boot, 0 = off */
static void *watchdog(void *arg) {
  (void)arg;
  for (;;) {
    sleep_ms(250);
    long long d = atomic_load(&watchdog_deadline);
    if (d != 0 && now_ms() > (double)d) {
      fprintf(stderr, "FAIL [%s] HANG: the case is still running past its limit; exiting\n", current_case);
      _exit(3);
    }
  }
  return NULL;
}

static int begin_case(const char *name, double limit_s) {
  if (only && !strstr(name, only)) return 0;
  current_case = name;
  atomic_store(&case_failures, 0);
  atomic_store(&watchdog_deadline, (long long)(now_ms() + limit_s * 1000 * (slack_ms / 2000 > 1 ? slack_ms / 2000 : 1)));
  printf("---- %s\n", name);
  fflush(stdout);
  return 1;
}

static void end_case(void) {
  atomic_store(&watchdog_deadline, 0);
  printf("     %s: %s\n", current_case, atomic_load(&case_failures) ? "FAILED" : "ok");
  fflush(stdout);
}

/* An error code no call may return here: a bug in argument handling, a panic, or a re-entrancy
 * refusal outside any callback. */
static int bad_rc(lnc_err_t rc) {
  return rc == LNC_ERR_INVALID_ARG || rc == LNC_ERR_PANIC || rc == LNC_ERR_IN_CALLBACK;
}

/* ------------------------------------------------------------------------------------ mock */

static lnc_mock_t *mock_new(const char *ack_delay_ms) {
  const char *keys[] = {"ack.delay.ms"};
  const char *values[] = {ack_delay_ms};
  lnc_mock_t *m = NULL;
  char errbuf[256];
  if (lnc_mock_new(keys, values, 1, &m, errbuf, sizeof errbuf) != LNC_ERR_OK) {
    fprintf(stderr, "mock: %s\n", errbuf);
    exit(2);
  }
  return m;
}

static uint32_t mock_topic(lnc_mock_t *m, const char *name) {
  uint32_t id = 0;
  if (lnc_mock_create_topic(m, name, &id, NULL) != LNC_ERR_OK) {
    fprintf(stderr, "cannot create topic %s\n", name);
    exit(2);
  }
  return id;
}

static void set(lnc_conf_t *c, const char *k, const char *v) {
  char errbuf[256];
  if (lnc_conf_set(c, k, v, errbuf, sizeof errbuf) != LNC_ERR_OK) {
    fprintf(stderr, "conf %s=%s: %s\n", k, v, errbuf);
    exit(2);
  }
}

static lnc_conf_t *conf_for(lnc_mock_t *m) {
  char addr[64];
  lnc_mock_address(m, addr, sizeof addr);
  lnc_conf_t *c = lnc_conf_new();
  set(c, "bootstrap.servers", addr);
  set(c, "reconnect.backoff.ms", "5");
  set(c, "reconnect.backoff.max.ms", "50");
  const char *level = getenv("LNC_TORTURE_LOG_LEVEL"); /* e.g. debug, to see a failing run's engine */
  if (level) set(c, "log.level", level);
  return c;
}

typedef struct {
  lnc_mock_t *m;
  atomic_int stop;
  uint64_t rng;
  int drop_acks; /* lose acks too (needs a short request.timeout.ms on the client) */
} faults_t;

/* Disconnects, FORWARD_FAILED answers (data stored, no ack), lost acks and changing ack delays
 * every few milliseconds while the race runs. */
static void *fault_thread(void *arg) {
  faults_t *f = (faults_t *)arg;
  while (!atomic_load(&f->stop)) {
    sleep_ms(2 + (double)(rnd(&f->rng) % 12));
    switch (rnd(&f->rng) % 6) {
      case 0: lnc_mock_disconnect_all(f->m); break;
      case 1: lnc_mock_fail_next_ingests(f->m, 1, "FORWARD_FAILED: Forward operation timed out", 1); break;
      case 2:
        if (f->drop_acks) lnc_mock_drop_next_acks(f->m, 1);
        break;
      default: lnc_mock_set_ack_delay_ms(f->m, rnd(&f->rng) % 4); break;
    }
  }
  lnc_mock_fail_next_ingests(f->m, 0, "FORWARD_FAILED: Forward operation timed out", 0);
  lnc_mock_drop_next_acks(f->m, 0);
  return NULL;
}

/* ------------------------------------------------------------------------------------ ledger */

/* Every record gets a unique opaque: (thread + 1) << 24 | sequence. The producing thread marks
 * what its call returned; reports (from the callback or poll_reports, on any thread) count
 * atomically per opaque. At the end every accepted record must have exactly one report. */
#define MAXT 16
#define SEQ_CAP (1u << 20)
enum { S_NONE = 0, S_OK = 1, S_REFUSED = 2, S_SYNC = 3 };

typedef struct {
  uint8_t *state[MAXT];
  atomic_uchar *reports[MAXT];
  uint32_t next[MAXT]; /* owner thread only */
  atomic_size_t stray;
  atomic_size_t reports_total;
} ledger_t;

typedef struct {
  size_t accepted, refused, sync, missing, duplicate, refused_reported, sync_reported, stray;
} tally_t;

static ledger_t *ledger_new(void) {
  ledger_t *L = calloc(1, sizeof *L);
  for (int t = 0; t < MAXT; t++) {
    L->state[t] = calloc(SEQ_CAP, 1);
    L->reports[t] = calloc(SEQ_CAP, sizeof(atomic_uchar));
  }
  return L;
}

static void ledger_free(ledger_t *L) {
  for (int t = 0; t < MAXT; t++) {
    free(L->state[t]);
    free((void *)L->reports[t]);
  }
  free(L);
}

static void ledger_reset(ledger_t *L) {
  for (int t = 0; t < MAXT; t++) {
    memset(L->state[t], 0, L->next[t]);
    for (uint32_t i = 0; i < L->next[t]; i++) atomic_store(&L->reports[t][i], 0);
    L->next[t] = 0;
  }
  atomic_store(&L->stray, 0);
  atomic_store(&L->reports_total, 0);
}

/* Reserves k opaques for thread t; UINT32_MAX when its space is used up (the thread then stops
 * producing). */
static uint32_t ledger_take(ledger_t *L, int t, uint32_t k) {
  if (L->next[t] + k > SEQ_CAP) return UINT32_MAX;
  uint32_t s = L->next[t];
  L->next[t] += k;
  return s;
}

static void *opaque_of(int t, uint32_t seq) { return (void *)(uintptr_t)(((uint64_t)(t + 1) << 24) | seq); }

static void ledger_mark(ledger_t *L, int t, uint32_t seq, uint32_t k, int state) {
  for (uint32_t i = 0; i < k; i++) L->state[t][seq + i] = (uint8_t)state;
}

static void ledger_report(ledger_t *L, void *opaque) {
  uint64_t o = (uint64_t)(uintptr_t)opaque;
  int64_t t = (int64_t)(o >> 24) - 1;
  uint32_t seq = (uint32_t)(o & 0xffffff);
  atomic_fetch_add(&L->reports_total, 1);
  if (t < 0 || t >= MAXT || seq >= SEQ_CAP) {
    atomic_fetch_add(&L->stray, 1);
    return;
  }
  atomic_fetch_add(&L->reports[t][seq], 1);
}

static tally_t ledger_tally(ledger_t *L) {
  tally_t r;
  memset(&r, 0, sizeof r);
  for (int t = 0; t < MAXT; t++) {
    for (uint32_t i = 0; i < L->next[t]; i++) {
      unsigned n = atomic_load(&L->reports[t][i]);
      switch (L->state[t][i]) {
        case S_OK:
          r.accepted++;
          if (n == 0) r.missing++;
          if (n > 1) r.duplicate++;
          break;
        case S_SYNC:
          r.sync++;
          if (n) r.sync_reported++;
          break;
        default:
          r.refused++;
          if (n) r.refused_reported++;
      }
    }
    /* a report for an opaque that was never used */
    for (uint32_t i = L->next[t]; i < L->next[t] + 64 && i < SEQ_CAP; i++)
      if (atomic_load(&L->reports[t][i])) r.stray++;
  }
  r.stray += atomic_load(&L->stray);
  return r;
}

static int tally_bad(const tally_t *t) {
  return t->missing || t->duplicate || t->refused_reported || t->sync_reported || t->stray;
}

static void tally_fail(const char *what, const tally_t *t) {
  fail("%s: accepted %zu: %zu without a report, %zu with more than one; %zu refused records reported, %zu send_sync "
       "reports leaked to the callback/poll_reports, %zu stray reports",
       what, t->accepted, t->missing, t->duplicate, t->refused_reported, t->sync_reported, t->stray);
}

static void on_delivery(const lnc_delivery_report_t *r, void *opaque) { ledger_report((ledger_t *)opaque, r->opaque); }

/* Takes every waiting report with poll_reports (timeout 0) into the ledger. */
static size_t drain_reports(lnc_producer_t *p, ledger_t *L) {
  lnc_report_t reps[256];
  size_t n = 0, total = 0;
  do {
    n = 0;
    if (lnc_producer_poll_reports(p, 0, reps, 256, &n) != LNC_ERR_OK) break;
    for (size_t i = 0; i < n; i++) {
      ledger_report(L, reps[i].opaque);
      lnc_error_free(reps[i].error);
    }
    total += n;
  } while (n > 0);
  return total;
}

/* ------------------------------------------------------------------------------------ producer ops */

enum {
  P_PRODUCE, /* lnc_producer_produce / _send / _send_record in turn */
  P_SEND_BATCH,
  P_SEND_SYNC,
  P_POLL,
  P_POLL_REPORTS,
  P_FLUSH,
  P_PURGE,
  P_METRICS, /* lnc_producer_metrics + lnc_producer_eventfd */
  P_CLOSE,
  P_NOPS
};
static const char *p_names[] = {"produce", "send_batch", "send_sync", "poll", "poll_reports", "flush", "purge", "metrics", "close"};

typedef struct {
  lnc_producer_t *p;
  uint32_t topic;
  ledger_t *L;
  double send_timeout_ms; /* send.timeout.ms: how long a send may block on a full buffer */
  atomic_int stop;
  atomic_llong closed_at; /* when the main thread's close returned (ms), 0 = not yet */
  atomic_int saw_freeing;
} pctx_t;

typedef struct {
  pctx_t *c;
  int tid;
  int op;
  int long_wait; /* sometimes wait 3 s instead of a few ms: close must wake it */
  uint64_t rng;
  pthread_t th;
  atomic_int stopped;
} pworker_t;

/* Checks one finished call: within its budget plus the slack, and not still blocked long after
 * the main thread's close returned (close wakes every waiter; a call started after close has
 * nothing left to wait for). */
static void check_call(const char *what, double t0, double budget_ms, lnc_err_t rc, atomic_llong *closed_at) {
  double t1 = now_ms();
  if (t1 - t0 > budget_ms + slack_ms) fail("%s took %.0f ms (its timeout %.0f ms + slack %.0f)", what, t1 - t0, budget_ms, slack_ms);
  long long ca = closed_at ? atomic_load(closed_at) : 0;
  if (ca && t1 > (double)ca + slack_ms)
    fail("%s returned %.0f ms after close had returned (started %.0f ms %s it)", what, t1 - (double)ca,
         t0 < (double)ca ? (double)ca - t0 : t0 - (double)ca, t0 < (double)ca ? "before" : "after");
  if (bad_rc(rc)) fail("%s returned %s", what, lnc_err_name(rc));
}

static lnc_err_t p_op(pworker_t *w, int op, int timeout_ms) {
  pctx_t *c = w->c;
  uint8_t value[64];
  memset(value, 'a' + op, sizeof value);
  size_t vlen = 1 + rnd(&w->rng) % sizeof value;
  lnc_err_t rc = LNC_ERR_OK;
  double t0 = now_ms(), budget = timeout_ms;
  switch (op) {
    case P_PRODUCE: {
      uint32_t s = ledger_take(c->L, w->tid, 1);
      if (s == UINT32_MAX) return LNC_ERR_OK;
      void *opq = opaque_of(w->tid, s);
      switch (rnd(&w->rng) % 4) {
        case 0: rc = lnc_producer_produce(c->p, c->topic, value, vlen, opq, NULL); break;
        case 3: {
          lnc_message_t m;
          memset(&m, 0, sizeof m);
          m.value = value;
          m.value_len = vlen;
          m.opaque = opq;
          lnc_send_options_t o = {NULL, -1, NULL}; /* the configuration's space wait */
          rc = lnc_producer_send_with_options(c->p, c->topic, &m, 1, &o, NULL, NULL);
          break;
        }
        case 1: {
          lnc_message_t m;
          memset(&m, 0, sizeof m);
          m.key = (const uint8_t *)"k";
          m.key_len = 1;
          m.value = value;
          m.value_len = vlen;
          m.opaque = opq;
          rc = lnc_producer_send(c->p, c->topic, &m, NULL);
          break;
        }
        default:
          rc = lnc_producer_send_record(c->p, c->topic, LNC_RECORD_JSON, 0, NULL, 0, (const uint8_t *)"{}", 2, 0, opq, NULL);
      }
      ledger_mark(c->L, w->tid, s, 1, rc == LNC_ERR_OK ? S_OK : S_REFUSED);
      budget = c->send_timeout_ms;
      break;
    }
    case P_SEND_BATCH: {
      uint32_t k = 1 + (uint32_t)(rnd(&w->rng) % 8);
      uint32_t s = ledger_take(c->L, w->tid, k);
      if (s == UINT32_MAX) return LNC_ERR_OK;
      lnc_message_t msgs[8];
      memset(msgs, 0, sizeof msgs);
      for (uint32_t i = 0; i < k; i++) {
        msgs[i].value = value;
        msgs[i].value_len = vlen;
        msgs[i].opaque = opaque_of(w->tid, s + i);
      }
      if (rnd(&w->rng) % 2) {
        rc = lnc_producer_send_batch(c->p, c->topic, msgs, k, NULL);
      } else {
        lnc_send_options_t o = {NULL, (int32_t)(rnd(&w->rng) % 3) - 1, NULL}; /* config, never, 1 ms */
        rc = lnc_producer_send_with_options(c->p, c->topic, msgs, k, &o, NULL, NULL);
      }
      ledger_mark(c->L, w->tid, s, k, rc == LNC_ERR_OK ? S_OK : S_REFUSED);
      budget = c->send_timeout_ms;
      break;
    }
    case P_SEND_SYNC: {
      /* Its report belongs to this call: none may reach the callback or poll_reports. */
      uint32_t s = ledger_take(c->L, w->tid, 1);
      if (s == UINT32_MAX) return LNC_ERR_OK;
      lnc_message_t m;
      memset(&m, 0, sizeof m);
      m.value = value;
      m.value_len = vlen;
      m.opaque = opaque_of(w->tid, s);
      uint64_t batch = 0;
      ledger_mark(c->L, w->tid, s, 1, S_SYNC);
      rc = lnc_producer_send_sync(c->p, c->topic, &m, NULL, timeout_ms, &batch, NULL);
      budget = c->send_timeout_ms + timeout_ms;
      break;
    }
    case P_POLL: {
      size_t served = 0;
      rc = lnc_producer_poll(c->p, timeout_ms, &served);
      break;
    }
    case P_POLL_REPORTS: {
      lnc_report_t reps[64];
      size_t n = 0;
      rc = lnc_producer_poll_reports(c->p, timeout_ms, reps, 1 + rnd(&w->rng) % 64, &n);
      for (size_t i = 0; i < n; i++) {
        ledger_report(c->L, reps[i].opaque);
        lnc_error_free(reps[i].error);
      }
      break;
    }
    case P_FLUSH: {
      size_t remaining = 0;
      rc = lnc_producer_flush(c->p, timeout_ms, &remaining, NULL);
      break;
    }
    case P_PURGE: {
      size_t purged = 0;
      rc = lnc_producer_purge(c->p, &purged);
      budget = 0;
      break;
    }
    case P_METRICS: {
      lnc_producer_metrics_t met;
      rc = lnc_producer_metrics(c->p, &met);
      /* -1 is right once free has begun (then metrics says CLOSED too, for good) */
      if (lnc_producer_eventfd(c->p) < 0 && lnc_producer_metrics(c->p, &met) == LNC_ERR_OK)
        fail("eventfd < 0 on a producer that is not being freed");
      char *json = NULL; /* statistics race everything too: a document, or CLOSED once free began */
      lnc_err_t src = lnc_producer_statistics(c->p, &json);
      if (src == LNC_ERR_OK ? json == NULL || strstr(json, "\"kind\":\"producer\"") == NULL : src != LNC_ERR_CLOSED)
        fail("lnc_producer_statistics returned %d", (int)src);
      lnc_string_free(json);
      budget = 0;
      break;
    }
    case P_CLOSE:
      rc = lnc_producer_close(c->p, timeout_ms, NULL);
      break;
  }
  check_call(p_names[op], t0, budget, rc, &c->closed_at);
  return rc;
}

static int pick_timeout(pworker_t *w) {
  if (w->long_wait && rnd(&w->rng) % 8 == 0) return 3000;
  return (int)(rnd(&w->rng) % 30);
}

static void *p_loop(void *arg) {
  pworker_t *w = (pworker_t *)arg;
  while (!atomic_load(&w->c->stop)) p_op(w, w->op, pick_timeout(w));
  return NULL;
}

static lnc_producer_t *producer_new(lnc_conf_t *conf, ledger_t *L, int with_callback) {
  lnc_producer_t *p = NULL;
  lnc_error_t *err = NULL;
  if (lnc_producer_new(conf, with_callback ? on_delivery : NULL, L, &p, &err) != LNC_ERR_OK) {
    fprintf(stderr, "producer: %s\n", lnc_error_message(err));
    exit(2);
  }
  return p;
}

/* Closes with close(500) and checks it returns within 500 ms + the close slack. */
static lnc_err_t timed_close(lnc_producer_t *p, atomic_llong *closed_at) {
  double t0 = now_ms();
  lnc_err_t rc = lnc_producer_close(p, 500, NULL);
  double dt = now_ms() - t0;
  if (closed_at) atomic_store(closed_at, (long long)now_ms());
  if (dt > 500 + close_slack_ms) fail("close(500) took %.0f ms while other threads were inside the producer", dt);
  if (rc != LNC_ERR_OK) fail("close(500) returned %s", lnc_err_name(rc));
  return rc;
}

/* ---------------------------------------------------------------- case: issue repro 1 */

typedef struct {
  pctx_t *c;
  int tid;
  size_t ok;
} repro1_t;

static void *repro1_producer(void *arg) {
  repro1_t *r = (repro1_t *)arg;
  pctx_t *c = r->c;
  uint8_t value[100];
  memset(value, 'x', sizeof value);
  for (;;) {
    uint32_t s = ledger_take(c->L, r->tid, 1);
    if (s == UINT32_MAX) break;
    double t0 = now_ms();
    lnc_err_t rc = lnc_producer_produce(c->p, c->topic, value, sizeof value, opaque_of(r->tid, s), NULL);
    ledger_mark(c->L, r->tid, s, 1, rc == LNC_ERR_OK ? S_OK : S_REFUSED);
    check_call("produce", t0, c->send_timeout_ms, rc, &c->closed_at);
    if (rc == LNC_ERR_OK) r->ok++;
    if (rc == LNC_ERR_CLOSED) break;
  }
  return NULL;
}

/* Issue 14, reproduction 1: four threads produce in a loop (buffer.memory=4096, blocking,
 * linger.ms=0, batch.size=1024) while the main thread closes with a 0..2 ms timeout. Every record
 * whose produce returned OK must get exactly one report (taken with poll_reports after close). */
static void case_repro_produce_vs_close(void) {
  if (!begin_case("repro1_produce_vs_close", 240)) return;
  lnc_mock_t *m = mock_new("1");
  uint32_t topic = mock_topic(m, "repro1");
  ledger_t *L = ledger_new();
  int n_runs = runs(300);
  size_t accepted = 0, missing = 0, dup = 0, other = 0, runs_affected = 0;
  double worst_close = 0;
  for (int run = 0; run < n_runs; run++) {
    ledger_reset(L);
    lnc_conf_t *conf = conf_for(m);
    set(conf, "buffer.memory", "4096");
    set(conf, "send.block", "true");
    set(conf, "linger.ms", "0");
    set(conf, "batch.size", "1024");
    pctx_t c;
    memset(&c, 0, sizeof c);
    c.p = producer_new(conf, L, 0);
    c.topic = topic;
    c.L = L;
    c.send_timeout_ms = 60000; /* send.timeout.ms default; close must wake a blocked send long before */
    repro1_t r[4];
    pthread_t th[4];
    for (int i = 0; i < 4; i++) {
      r[i] = (repro1_t){&c, i, 0};
      pthread_create(&th[i], NULL, repro1_producer, &r[i]);
    }
    sleep_ms((double)(run % 4));
    double t0 = now_ms();
    int timeout = run % 3;
    lnc_err_t rc = lnc_producer_close(c.p, timeout, NULL);
    double dt = now_ms() - t0;
    atomic_store(&c.closed_at, (long long)now_ms());
    if (dt > worst_close) worst_close = dt;
    if (dt > timeout + close_slack_ms) fail("run %d: close(%d) took %.0f ms", run, timeout, dt);
    if (rc != LNC_ERR_OK) fail("run %d: close returned %s", run, lnc_err_name(rc));
    for (int i = 0; i < 4; i++) pthread_join(th[i], NULL);
    drain_reports(c.p, L);
    tally_t t = ledger_tally(L);
    accepted += t.accepted;
    missing += t.missing;
    dup += t.duplicate;
    other += t.refused_reported + t.sync_reported + t.stray;
    if (tally_bad(&t)) runs_affected++;
    lnc_err_t frc = lnc_producer_free(c.p);
    if (frc != LNC_ERR_OK) fail("free returned %s", lnc_err_name(frc));
  }
  printf("     %d runs: %zu sends returned OK; %zu of them without a report, %zu with more than one, %zu other bad "
         "reports; %zu runs affected; slowest close %.1f ms\n",
         n_runs, accepted, missing, dup, other, runs_affected, worst_close);
  if (missing || dup || other)
    fail("%zu of %zu accepted records without exactly one report (%zu missing, %zu duplicated, %zu stray/refused), "
         "%zu of %d runs affected",
         missing + dup, accepted, missing, dup, other, runs_affected, n_runs);
  ledger_free(L);
  lnc_mock_free(m);
  end_case();
}

/* ---------------------------------------------------------------- case: issue repro 2 + waiters */

typedef struct {
  lnc_producer_t *p;
  ledger_t *L;
  int op;
  uint32_t topic;
  atomic_int entered;
  double t_end;
  lnc_err_t rc;
  pthread_t th;
} waiter_t;

/* One long blocking call (30 s) that only close or free may cut short. */
static void *p_waiter(void *arg) {
  waiter_t *w = (waiter_t *)arg;
  uint8_t v[128];
  memset(v, 'w', sizeof v);
  atomic_store(&w->entered, 1);
  switch (w->op) {
    case P_POLL: w->rc = lnc_producer_poll(w->p, 30000, NULL); break;
    case P_FLUSH: w->rc = lnc_producer_flush(w->p, 30000, NULL, NULL); break;
    case P_POLL_REPORTS: {
      lnc_report_t reps[16];
      size_t n = 0;
      w->rc = lnc_producer_poll_reports(w->p, 30000, reps, 16, &n);
      for (size_t i = 0; i < n; i++) {
        ledger_report(w->L, reps[i].opaque);
        lnc_error_free(reps[i].error);
      }
      break;
    }
    case P_SEND_SYNC: {
      lnc_message_t m;
      memset(&m, 0, sizeof m);
      m.value = v;
      m.value_len = sizeof v;
      w->rc = lnc_producer_send_sync(w->p, w->topic, &m, NULL, 30000, NULL, NULL);
      break;
    }
    case P_PRODUCE: {
      /* Fills the 4 KiB buffer until a send blocks (send.timeout.ms 30 s). Ledger slot MAXT-1 is
       * this waiter's alone. */
      for (int i = 0; i < 1000; i++) {
        uint32_t s = ledger_take(w->L, MAXT - 1, 1);
        w->rc = lnc_producer_produce(w->p, w->topic, v, sizeof v, opaque_of(MAXT - 1, s), NULL);
        ledger_mark(w->L, MAXT - 1, s, 1, w->rc == LNC_ERR_OK ? S_OK : S_REFUSED);
        if (w->rc != LNC_ERR_OK) break;
      }
      break;
    }
  }
  w->t_end = now_ms();
  return NULL;
}

/* Issue 14, reproduction 2: one thread in lnc_producer_poll(p, 30000) on a producer with a delivery
 * callback; lnc_producer_close(p, 500, NULL) from another thread must return within 1 s, and the
 * poller must come back promptly too. */
static void case_repro_poll_vs_close(void) {
  if (!begin_case("repro2_poll_vs_close", 200)) return;
  lnc_mock_t *m = mock_new("1");
  uint32_t topic = mock_topic(m, "repro2");
  ledger_t *L = ledger_new();
  for (int run = 0; run < 3; run++) {
    ledger_reset(L);
    lnc_producer_t *p = producer_new(conf_for(m), L, 1);
    if (run > 0) {
      /* runs 1 and 2: also a record in flight whose ack takes 2 s (close reports it) */
      lnc_mock_set_ack_delay_ms(m, 2000);
      uint32_t s = ledger_take(L, 0, 1);
      lnc_err_t prc = lnc_producer_produce(p, topic, (const uint8_t *)"x", 1, opaque_of(0, s), NULL);
      ledger_mark(L, 0, s, 1, prc == LNC_ERR_OK ? S_OK : S_REFUSED);
    }
    waiter_t w;
    memset(&w, 0, sizeof w);
    w.p = p;
    w.L = L;
    w.op = P_POLL;
    pthread_create(&w.th, NULL, p_waiter, &w);
    while (!atomic_load(&w.entered)) sleep_ms(1);
    sleep_ms(100); /* the poller is inside poll now */
    double t0 = now_ms();
    lnc_err_t rc = lnc_producer_close(p, 500, NULL);
    double t1 = now_ms();
    pthread_join(w.th, NULL);
    printf("     run %d: close(500) returned %s after %.0f ms; the poller returned %s %+.0f ms from close's return\n", run,
           lnc_err_name(rc), t1 - t0, lnc_err_name(w.rc), w.t_end - t1);
    if (t1 - t0 > 500 + close_slack_ms) fail("close(500) took %.0f ms while a thread waited in poll(30000)", t1 - t0);
    if (w.t_end - t1 > slack_ms) fail("poll(30000) returned %.0f ms after close returned (close must wake it)", w.t_end - t1);
    if (bad_rc(w.rc)) fail("poll returned %s", lnc_err_name(w.rc));
    lnc_producer_free(p);
    lnc_mock_set_ack_delay_ms(m, 1);
    tally_t t = ledger_tally(L);
    if (tally_bad(&t)) tally_fail("after close", &t);
  }
  ledger_free(L);
  lnc_mock_free(m);
  end_case();
}

/* Every blocking producer call at once (poll, poll_reports, flush, send_sync, a send blocked on
 * a full buffer) with records in flight; then close(500) — or free — from the main thread. Close
 * returns within 1 s and every waiter returns promptly; free returns once they all have. */
static void p_waiters_run(lnc_mock_t *m, uint32_t topic, int use_free) {
  ledger_t *L = ledger_new();
  lnc_mock_set_ack_delay_ms(m, 1000);
  lnc_conf_t *conf = conf_for(m);
  set(conf, "buffer.memory", "4096");
  set(conf, "linger.ms", "0");
  set(conf, "send.timeout.ms", "30000");
  lnc_producer_t *p = producer_new(conf, L, 1);
  const int ops[] = {P_POLL, P_POLL_REPORTS, P_FLUSH, P_SEND_SYNC, P_PRODUCE, P_POLL, P_FLUSH};
  const int nw = (int)(sizeof ops / sizeof ops[0]);
  waiter_t w[7];
  memset(w, 0, sizeof w);
  uint8_t v[16] = {0};
  uint32_t s0 = ledger_take(L, MAXT - 2, 1); /* one record in flight for flush */
  lnc_err_t prc = lnc_producer_produce(p, topic, v, sizeof v, opaque_of(MAXT - 2, s0), NULL);
  ledger_mark(L, MAXT - 2, s0, 1, prc == LNC_ERR_OK ? S_OK : S_REFUSED);
  for (int i = 0; i < nw; i++) {
    w[i].p = p;
    w[i].L = L;
    w[i].op = ops[i];
    w[i].topic = topic;
    pthread_create(&w[i].th, NULL, p_waiter, &w[i]);
  }
  for (int i = 0; i < nw; i++)
    while (!atomic_load(&w[i].entered)) sleep_ms(1);
  sleep_ms(150); /* every waiter is inside its call now (acks take 1 s) */
  double t0 = now_ms();
  lnc_err_t rc = use_free ? lnc_producer_free(p) : lnc_producer_close(p, 500, NULL);
  double t1 = now_ms();
  if (use_free) {
    /* free flushes for up to 5 s first (acks come after 1 s here) */
    if (t1 - t0 > 5000 + slack_ms) fail("free took %.0f ms with 7 threads inside the producer", t1 - t0);
  } else if (t1 - t0 > 500 + close_slack_ms) {
    fail("close(500) took %.0f ms with 7 threads inside the producer", t1 - t0);
  }
  if (rc != LNC_ERR_OK) fail("%s returned %s", use_free ? "free" : "close", lnc_err_name(rc));
  for (int i = 0; i < nw; i++) {
    pthread_join(w[i].th, NULL);
    if (w[i].t_end - t1 > slack_ms)
      fail("%s(30 s) returned %.0f ms after %s returned (it must wake every waiter)", p_names[w[i].op], w[i].t_end - t1,
           use_free ? "free" : "close");
    if (bad_rc(w[i].rc)) fail("%s returned %s", p_names[w[i].op], lnc_err_name(w[i].rc));
  }
  if (!use_free) {
    drain_reports(p, L);
    lnc_producer_free(p);
  }
  /* free (or close) served every report to the callback */
  tally_t t = ledger_tally(L);
  if (tally_bad(&t)) tally_fail(use_free ? "after free" : "after close", &t);
  lnc_mock_set_ack_delay_ms(m, 1);
  ledger_free(L);
}

static void case_close_and_free_wake_waiters(void) {
  if (!begin_case("producer_close_and_free_wake_waiters", 200)) return;
  lnc_mock_t *m = mock_new("1");
  uint32_t topic = mock_topic(m, "waiters");
  for (int run = 0; run < 2; run++) {
    p_waiters_run(m, topic, 0);
    p_waiters_run(m, topic, 1);
  }
  lnc_mock_free(m);
  end_case();
}

/* ---------------------------------------------------------------- case: every pair of producer calls */

static void case_producer_pairs(void) {
  if (!begin_case("producer_pairs", 900)) return;
  lnc_mock_t *m = mock_new("1");
  uint32_t topic = mock_topic(m, "pairs");
  ledger_t *L = ledger_new();
  uint64_t seed = 0x9e3779b97f4a7c15ULL;
  double window = 250 * scale < 20 ? 20 : 250 * scale;
  size_t accepted = 0, bad_pairs = 0;
  for (int a = 0; a < P_NOPS; a++) {
    for (int b = a; b < P_NOPS; b++) {
      ledger_reset(L);
      lnc_conf_t *conf = conf_for(m);
      const char *linger[] = {"0", "1", "5"};
      set(conf, "linger.ms", linger[rnd(&seed) % 3]);
      set(conf, "batch.size", rnd(&seed) % 2 ? "1024" : "16384");
      set(conf, "buffer.memory", "65536");
      set(conf, "send.timeout.ms", "200");
      set(conf, "request.timeout.ms", "1000");
      set(conf, "delivery.timeout.ms", "10000");
      pctx_t c;
      memset(&c, 0, sizeof c);
      c.p = producer_new(conf, L, 1);
      c.topic = topic;
      c.L = L;
      c.send_timeout_ms = 200;
      /* a, b, and a background producer so that reports flow whatever a and b are */
      pworker_t w[3];
      memset(w, 0, sizeof w);
      int ops[3] = {a, b, P_PRODUCE};
      for (int i = 0; i < 3; i++) {
        w[i].c = &c;
        w[i].tid = i;
        w[i].op = ops[i];
        w[i].long_wait = i < 2;
        w[i].rng = rnd(&seed) | 1;
        pthread_create(&w[i].th, NULL, p_loop, &w[i]);
      }
      faults_t f;
      memset(&f, 0, sizeof f);
      f.m = m;
      f.rng = rnd(&seed) | 1;
      f.drop_acks = 1;
      pthread_t ft;
      pthread_create(&ft, NULL, fault_thread, &f);
      sleep_ms(window);
      int before = atomic_load(&case_failures);
      timed_close(c.p, &c.closed_at);
      atomic_store(&c.stop, 1);
      for (int i = 0; i < 3; i++) pthread_join(w[i].th, NULL);
      atomic_store(&f.stop, 1);
      pthread_join(ft, NULL);
      lnc_mock_set_ack_delay_ms(m, 1);
      drain_reports(c.p, L);
      tally_t t = ledger_tally(L);
      accepted += t.accepted;
      if (tally_bad(&t)) {
        char what[96];
        snprintf(what, sizeof what, "%s x %s", p_names[a], p_names[b]);
        tally_fail(what, &t);
      }
      double t0 = now_ms();
      lnc_err_t frc = lnc_producer_free(c.p);
      if (frc != LNC_ERR_OK) fail("free after close returned %s", lnc_err_name(frc));
      if (now_ms() - t0 > slack_ms) fail("free after close took %.0f ms", now_ms() - t0);
      if (atomic_load(&case_failures) != before) {
        bad_pairs++;
        fprintf(stderr, "     ^ pair %s x %s\n", p_names[a], p_names[b]);
      }
    }
  }
  printf("     %d pairs x %.0f ms under faults: %zu records accepted; %zu pairs with a failure\n", P_NOPS * (P_NOPS + 1) / 2,
         window, accepted, bad_pairs);
  ledger_free(L);
  lnc_mock_free(m);
  end_case();
}

/* ---------------------------------------------------------------- case: free racing every producer call */

/* Calls that start while free runs must get CLOSED — but only if free has not deallocated yet,
 * which a caller can never know (starting a call concurrently with free is the caller's bug). To
 * race free against non-blocking calls without that bug, a "pin" keeps free from finishing: a
 * delivery callback, running inside lnc_producer_poll on another thread, holds the call open until
 * every looping thread has seen CLOSED and stopped. Loopers use only calls that do not serve
 * callbacks (a serving call could wait for the pinned callback). The serving calls (poll, flush,
 * close) race free as waiters already inside when free starts. */
typedef struct {
  ledger_t *L;
  lnc_producer_t *p;
  atomic_int armed;   /* the next report pins */
  atomic_int pinned;  /* the pin is inside the callback */
  atomic_int release; /* every looper has stopped */
} pin_t;

static void on_delivery_pin(const lnc_delivery_report_t *r, void *opaque) {
  pin_t *pin = (pin_t *)opaque;
  ledger_report(pin->L, r->opaque);
  if (atomic_exchange(&pin->armed, 0)) {
    atomic_store(&pin->pinned, 1);
    double t0 = now_ms();
    while (!atomic_load(&pin->release)) {
      if (now_ms() - t0 > 10000 + slack_ms) {
        /* A looper never saw CLOSED: returning would let free deallocate under it. */
        fprintf(stderr, "FAIL [%s] a looping call never returned CLOSED while free ran; aborting\n", current_case);
        _exit(4);
      }
      sleep_ms(1);
    }
  }
}

typedef struct {
  pctx_t *c;
  pworker_t w;
  atomic_int *free_called;
  atomic_int *pinned; /* poll_reports waits for it: it would take the reports the pin needs */
} looper_t;

static void *p_free_looper(void *arg) {
  looper_t *l = (looper_t *)arg;
  if (l->w.op == P_POLL_REPORTS)
    while (!atomic_load(l->pinned)) sleep_ms(1);
  for (;;) {
    lnc_err_t rc = p_op(&l->w, l->w.op, (int)(rnd(&l->w.rng) % 20));
    if (rc == LNC_ERR_CLOSED && atomic_load(l->free_called)) {
      atomic_fetch_add(&l->c->saw_freeing, 1);
      break;
    }
  }
  atomic_store(&l->w.stopped, 1);
  return NULL;
}

/* Polls until a report pins the callback (a poll may end without one under valgrind's
 * scheduling). Once pinned it never calls again: free follows. */
static void *p_pin_thread(void *arg) {
  pin_t *pin = (pin_t *)arg;
  double t0 = now_ms();
  while (!atomic_load(&pin->pinned) && now_ms() - t0 < 5000 + slack_ms) lnc_producer_poll(pin->p, 100, NULL);
  return NULL;
}

typedef struct {
  lnc_producer_t *p;
  lnc_err_t rc;
  double end;
} pfreer_t;

static void *p_freer(void *arg) {
  pfreer_t *a = (pfreer_t *)arg;
  a->rc = lnc_producer_free(a->p);
  a->end = now_ms();
  return NULL;
}

static void case_producer_free_races(void) {
  if (!begin_case("producer_free_races", 400)) return;
  lnc_mock_t *m = mock_new("1");
  uint32_t topic = mock_topic(m, "free-races");
  ledger_t *L = ledger_new();
  uint64_t seed = 0x2545f4914f6cdd1dULL;
  int n = runs(6);
  for (int run = 0; run < n; run++) {
    ledger_reset(L);
    lnc_mock_set_ack_delay_ms(m, 20);
    lnc_conf_t *conf = conf_for(m);
    set(conf, "linger.ms", "1");
    set(conf, "buffer.memory", "16384");
    set(conf, "send.timeout.ms", "200");
    set(conf, "request.timeout.ms", "1000");
    pin_t pin;
    memset(&pin, 0, sizeof pin);
    pin.L = L;
    lnc_producer_t *p = NULL;
    if (lnc_producer_new(conf, on_delivery_pin, &pin, &p, NULL) != LNC_ERR_OK) exit(2);
    pctx_t c;
    memset(&c, 0, sizeof c);
    c.p = p;
    c.topic = topic;
    c.L = L;
    c.send_timeout_ms = 200;
    atomic_int free_called = 0;
    /* loopers: every call that does not serve callbacks, one thread each */
    const int lops[] = {P_PRODUCE, P_SEND_BATCH, P_SEND_SYNC, P_POLL_REPORTS, P_PURGE, P_METRICS};
    const int nl = (int)(sizeof lops / sizeof lops[0]);
    looper_t l[6];
    memset(l, 0, sizeof l);
    for (int i = 0; i < nl; i++) {
      l[i].c = &c;
      l[i].w.c = &c;
      l[i].w.tid = i;
      l[i].w.op = lops[i];
      l[i].w.rng = rnd(&seed) | 1;
      l[i].free_called = &free_called;
      l[i].pinned = &pin.pinned;
      pthread_create(&l[i].w.th, NULL, p_free_looper, &l[i]);
    }
    /* the pin: poll serves the next report into the pinning callback */
    atomic_store(&pin.armed, 1);
    pthread_t pt;
    pin.p = p;
    pthread_create(&pt, NULL, p_pin_thread, &pin);
    double t0 = now_ms();
    while (!atomic_load(&pin.pinned) && now_ms() - t0 < 5000 + slack_ms) sleep_ms(1);
    if (!atomic_load(&pin.pinned)) {
      fprintf(stderr, "FAIL [%s] no report reached the pinning callback within 5 s + slack; aborting\n", current_case);
      _exit(4);
    }
    /* waiters: calls that serve callbacks, already inside when free starts */
    waiter_t w[3];
    memset(w, 0, sizeof w);
    const int wops[] = {P_POLL, P_FLUSH, P_POLL};
    for (int i = 0; i < 3; i++) {
      w[i].p = p;
      w[i].L = L;
      w[i].op = wops[i];
      w[i].topic = topic;
      pthread_create(&w[i].th, NULL, p_waiter, &w[i]);
    }
    for (int i = 0; i < 3; i++)
      while (!atomic_load(&w[i].entered)) sleep_ms(1);
    sleep_ms(30 + (double)(rnd(&seed) % 30));
    atomic_store(&free_called, 1);
    /* free in its own thread: it cannot finish before the pin is released below */
    double f0 = now_ms();
    pfreer_t fa = {p, LNC_ERR_OK, 0};
    pthread_t freer;
    pthread_create(&freer, NULL, p_freer, &fa);
    for (int i = 0; i < nl; i++) {
      double s0 = now_ms();
      while (!atomic_load(&l[i].w.stopped) && now_ms() - s0 < 10000 + slack_ms) sleep_ms(1);
      if (!atomic_load(&l[i].w.stopped)) {
        fprintf(stderr, "FAIL [%s] looper %s did not stop (never saw CLOSED); aborting\n", current_case, p_names[lops[i]]);
        _exit(4);
      }
    }
    atomic_store(&pin.release, 1);
    pthread_join(freer, NULL);
    pthread_join(pt, NULL);
    for (int i = 0; i < nl; i++) pthread_join(l[i].w.th, NULL);
    for (int i = 0; i < 3; i++) {
      pthread_join(w[i].th, NULL);
      /* (free returning before the waiter's call left the gate is not observable from here:
       * timestamps taken after two calls return on different threads can come in either order;
       * that ordering is the gate's unit test and the ASan/valgrind runs. This is the hang check.) */
      if (w[i].t_end - fa.end > slack_ms) fail("%s returned %.0f ms after free returned", p_names[w[i].op], w[i].t_end - fa.end);
      if (bad_rc(w[i].rc)) fail("%s returned %s", p_names[w[i].op], lnc_err_name(w[i].rc));
    }
    if (fa.rc != LNC_ERR_OK) fail("free returned %s", lnc_err_name(fa.rc));
    if (fa.end - f0 > 5000 + slack_ms) fail("free took %.0f ms", fa.end - f0);
    tally_t t = ledger_tally(L);
    if (tally_bad(&t)) tally_fail("records reported by the time free returned", &t);
    if (run == 0)
      printf("     run 0: %zu records accepted, %d loopers stopped on CLOSED, free took %.0f ms\n", t.accepted,
             atomic_load(&c.saw_freeing), fa.end - f0);
  }
  lnc_mock_set_ack_delay_ms(m, 1);
  ledger_free(L);
  lnc_mock_free(m);
  end_case();
}


/* ---------------------------------------------------------------- consumer */

enum { C_POLL, C_POLL_CB, C_SEEK, C_COMMIT, C_LAG, C_POSITION, C_CLOSE, C_NOPS };
static const char *c_names[] = {"poll", "poll_cb", "seek", "commit", "lag", "position", "close"};

#define TOPIC_RECORDS 3000

typedef struct {
  lnc_consumer_t *c;
  double request_timeout_ms;
  atomic_int stop;
  atomic_llong closed_at;
  atomic_size_t records;
  atomic_size_t malformed;
  /* the pin of the free race (see the producer's) */
  atomic_int pin_armed, pinned, pin_release;
} cctx_t;

typedef struct {
  cctx_t *c;
  int op;
  int long_wait;
  uint64_t rng;
  pthread_t th;
  atomic_int stopped;
  atomic_int *free_called;
} cworker_t;

/* Records were produced as "r%07u": anything else is a decoding or lifetime bug. */
static void check_record(cctx_t *c, const lnc_record_view_t *r) {
  atomic_fetch_add(&c->records, 1);
  if (r->data_len != 8 || r->data == NULL || r->data[0] != 'r') atomic_fetch_add(&c->malformed, 1);
}

static void on_record(const lnc_record_view_t *r, void *opaque) {
  cctx_t *c = (cctx_t *)opaque;
  check_record(c, r);
  if (atomic_exchange(&c->pin_armed, 0)) {
    atomic_store(&c->pinned, 1);
    double t0 = now_ms();
    while (!atomic_load(&c->pin_release)) {
      if (now_ms() - t0 > 10000 + slack_ms) {
        fprintf(stderr, "FAIL [%s] a looping consumer call never returned CLOSED while free ran; aborting\n", current_case);
        _exit(4);
      }
      sleep_ms(1);
    }
  }
}

static lnc_err_t c_op(cworker_t *w, int op, int timeout_ms) {
  cctx_t *c = w->c;
  lnc_err_t rc = LNC_ERR_OK;
  lnc_error_t *err = NULL;
  double t0 = now_ms(), budget = timeout_ms;
  switch (op) {
    case C_POLL: {
      if (rnd(&w->rng) % 2) {
        /* into this thread's own buffer (a record larger than it stays queued: MSG_TOO_LARGE) */
        uint8_t buf[4096];
        lnc_record_view_t v[32];
        size_t n = 0;
        rc = lnc_consumer_poll_into(c->c, timeout_ms, buf, sizeof buf, v, 32, &n, &err);
        if (rc == LNC_ERR_MSG_TOO_LARGE) rc = LNC_ERR_OK;
        for (size_t i = 0; i < n; i++) check_record(c, &v[i]);
        break;
      }
      lnc_records_t *recs = NULL;
      rc = lnc_consumer_poll(c->c, timeout_ms, &recs, &err);
      size_t n = lnc_records_count(recs);
      const lnc_record_view_t *v = lnc_records_views(recs);
      for (size_t i = 0; i < n; i++) check_record(c, &v[i]);
      lnc_records_free(recs);
      break;
    }
    case C_POLL_CB: {
      size_t count = 0;
      rc = lnc_consumer_poll_cb(c->c, timeout_ms, rnd(&w->rng) % 50, on_record, c, &count, &err);
      break;
    }
    case C_SEEK: {
      uint64_t pos = 0;
      int whence = (int)(rnd(&w->rng) % 3);
      uint64_t off = 0;
      if (whence == LNC_SEEK_OFFSET) lnc_consumer_position(c->c, &off); /* a record boundary */
      rc = lnc_consumer_seek(c->c, whence, off, -1, &pos, &err);
      budget = c->request_timeout_ms;
      break;
    }
    case C_COMMIT: {
      uint64_t o = 0;
      rc = lnc_consumer_commit(c->c, -1, &o, &err);
      budget = c->request_timeout_ms;
      break;
    }
    case C_LAG: {
      uint64_t lag = 0;
      rc = lnc_consumer_lag(c->c, -1, &lag, &err);
      budget = c->request_timeout_ms;
      break;
    }
    case C_POSITION: {
      uint64_t pos = 0;
      rc = lnc_consumer_position(c->c, &pos);
      lnc_consumer_topic_id(c->c);
      lnc_consumer_eventfd(c->c);
      lnc_consumer_metrics_t met;
      lnc_err_t mrc = lnc_consumer_metrics(c->c, &met);
      if (mrc != LNC_ERR_OK && mrc != LNC_ERR_CLOSED) fail("lnc_consumer_metrics returned %d", (int)mrc);
      char *json = NULL; /* a document, or CLOSED once free began */
      lnc_err_t src = lnc_consumer_statistics(c->c, &json);
      if (src == LNC_ERR_OK ? json == NULL || strstr(json, "\"kind\":\"consumer\"") == NULL : src != LNC_ERR_CLOSED)
        fail("lnc_consumer_statistics returned %d", (int)src);
      lnc_string_free(json);
      budget = 0;
      break;
    }
    case C_CLOSE:
      rc = lnc_consumer_close(c->c, timeout_ms);
      /* a close that gives up waiting for the fetch thread says TIMED_OUT */
      break;
  }
  lnc_error_free(err);
  check_call(c_names[op], t0, budget, rc, &c->closed_at);
  return rc;
}

static void *c_loop(void *arg) {
  cworker_t *w = (cworker_t *)arg;
  while (!atomic_load(&w->c->stop)) {
    int t = w->long_wait && rnd(&w->rng) % 8 == 0 ? 3000 : (int)(rnd(&w->rng) % 30);
    c_op(w, w->op, t);
  }
  return NULL;
}

static lnc_consumer_t *consumer_new(lnc_mock_t *m, uint32_t topic, uint64_t *seed) {
  lnc_conf_t *conf = conf_for(m);
  char tid[16];
  snprintf(tid, sizeof tid, "%u", topic);
  set(conf, "topic.id", tid);
  set(conf, "start.offset", "beginning");
  set(conf, "request.timeout.ms", "1000");
  set(conf, "auto.commit.interval.ms", "5");
  const char *fetch[] = {"64", "1000", "65536"};
  set(conf, "fetch.max.bytes", fetch[rnd(seed) % 3]);
  set(conf, "max.poll.records", rnd(seed) % 2 ? "7" : "500");
  lnc_consumer_t *c = NULL;
  lnc_error_t *err = NULL;
  if (lnc_consumer_new(conf, -1, &c, &err) != LNC_ERR_OK) {
    fprintf(stderr, "consumer: %s\n", lnc_error_message(err));
    exit(2);
  }
  return c;
}

static uint32_t filled_topic(lnc_mock_t *m, const char *name) {
  uint32_t topic = mock_topic(m, name);
  lnc_producer_t *p = NULL;
  if (lnc_producer_new(conf_for(m), NULL, NULL, &p, NULL) != LNC_ERR_OK) exit(2);
  char v[16];
  for (unsigned i = 0; i < TOPIC_RECORDS; i++) {
    snprintf(v, sizeof v, "r%07u", i);
    lnc_producer_produce(p, topic, (const uint8_t *)v, 8, NULL, NULL);
  }
  size_t remaining = 1;
  lnc_producer_flush(p, 30000, &remaining, NULL);
  lnc_producer_free(p);
  if (remaining) {
    fprintf(stderr, "could not fill topic %s\n", name);
    exit(2);
  }
  return topic;
}

/* Issue 14, reproduction 2 for the consumer: a thread in lnc_consumer_poll(c, 30000) at the end of
 * the topic; close(500) from another thread returns within 1 s and the poller returns CLOSED
 * promptly. Then the same with free instead of close. */
typedef struct {
  lnc_consumer_t *c;
  atomic_int entered;
  lnc_err_t rc;
  double t_end;
} cpoller_t;

static void *c_poller(void *arg) {
  cpoller_t *w = (cpoller_t *)arg;
  lnc_records_t *recs = NULL;
  atomic_store(&w->entered, 1);
  w->rc = lnc_consumer_poll(w->c, 30000, &recs, NULL);
  lnc_records_free(recs);
  w->t_end = now_ms();
  return NULL;
}

static void case_consumer_close_and_free_wake_poll(void) {
  if (!begin_case("consumer_close_and_free_wake_poll", 200)) return;
  lnc_mock_t *m = mock_new("1");
  uint32_t topic = mock_topic(m, "c-wake");
  for (int use_free = 0; use_free < 2; use_free++) {
    lnc_conf_t *conf = conf_for(m);
    char tid[16];
    snprintf(tid, sizeof tid, "%u", topic);
    set(conf, "topic.id", tid);
    set(conf, "start.offset", "end");
    lnc_consumer_t *c = NULL;
    if (lnc_consumer_new(conf, -1, &c, NULL) != LNC_ERR_OK) exit(2);
    cpoller_t w[2];
    pthread_t th[2];
    memset(w, 0, sizeof w);
    for (int i = 0; i < 2; i++) {
      w[i].c = c;
      pthread_create(&th[i], NULL, c_poller, &w[i]);
    }
    for (int i = 0; i < 2; i++)
      while (!atomic_load(&w[i].entered)) sleep_ms(1);
    sleep_ms(100);
    double t0 = now_ms();
    lnc_err_t rc = use_free ? lnc_consumer_free(c) : lnc_consumer_close(c, 500);
    double t1 = now_ms();
    const char *what = use_free ? "free" : "close(500)";
    printf("     %s with 2 threads in poll(30000): %s after %.0f ms\n", what, lnc_err_name(rc), t1 - t0);
    if (t1 - t0 > 500 + close_slack_ms) fail("%s took %.0f ms with threads in poll(30000)", what, t1 - t0);
    if (rc != LNC_ERR_OK) fail("%s returned %s", what, lnc_err_name(rc));
    for (int i = 0; i < 2; i++) {
      pthread_join(th[i], NULL);
      if (w[i].t_end - t1 > slack_ms) fail("poll(30000) returned %.0f ms after %s returned", w[i].t_end - t1, what);
      if (w[i].rc != LNC_ERR_CLOSED && w[i].rc != LNC_ERR_OK) fail("poll returned %s", lnc_err_name(w[i].rc));
    }
    if (!use_free) lnc_consumer_free(c);
  }
  lnc_mock_free(m);
  end_case();
}

static void case_consumer_pairs(void) {
  if (!begin_case("consumer_pairs", 600)) return;
  lnc_mock_t *m = mock_new("1");
  uint32_t topic = filled_topic(m, "c-pairs");
  uint64_t seed = 0xd1b54a32d192ed03ULL;
  double window = 300 * scale < 20 ? 20 : 300 * scale;
  size_t records = 0, malformed = 0, bad_pairs = 0;
  for (int a = 0; a < C_NOPS; a++) {
    for (int b = a; b < C_NOPS; b++) {
      cctx_t c;
      memset(&c, 0, sizeof c);
      c.c = consumer_new(m, topic, &seed);
      c.request_timeout_ms = 1000;
      cworker_t w[3];
      memset(w, 0, sizeof w);
      int ops[3] = {a, b, C_POLL};
      for (int i = 0; i < 3; i++) {
        w[i].c = &c;
        w[i].op = ops[i];
        w[i].long_wait = 1;
        w[i].rng = rnd(&seed) | 1;
        pthread_create(&w[i].th, NULL, c_loop, &w[i]);
      }
      /* consumer faults: cut connections, CatchingUp answers, failed fetches */
      int before = atomic_load(&case_failures);
      double end = now_ms() + window;
      while (now_ms() < end) {
        sleep_ms(3 + (double)(rnd(&seed) % 10));
        switch (rnd(&seed) % 4) {
          case 0: lnc_mock_disconnect_all(m); break;
          case 1: lnc_mock_force_catching_up(m, 1); break;
          case 2: lnc_mock_fail_next_requests(m, 1, "Server error: torture"); break;
          default: break;
        }
      }
      double t0 = now_ms();
      lnc_err_t rc = lnc_consumer_close(c.c, 500);
      double dt = now_ms() - t0;
      atomic_store(&c.closed_at, (long long)now_ms());
      if (dt > 500 + close_slack_ms) fail("close(500) took %.0f ms while other threads were inside the consumer", dt);
      if (bad_rc(rc)) fail("close returned %s", lnc_err_name(rc));
      atomic_store(&c.stop, 1);
      for (int i = 0; i < 3; i++) pthread_join(w[i].th, NULL);
      lnc_mock_force_catching_up(m, 0);
      lnc_mock_fail_next_requests(m, 0, "Server error: torture");
      double f0 = now_ms();
      lnc_err_t frc = lnc_consumer_free(c.c);
      if (frc != LNC_ERR_OK) fail("free after close returned %s", lnc_err_name(frc));
      if (now_ms() - f0 > 5000 + slack_ms) fail("free after close took %.0f ms", now_ms() - f0);
      records += atomic_load(&c.records);
      malformed += atomic_load(&c.malformed);
      if (atomic_load(&c.malformed)) fail("%zu malformed records", atomic_load(&c.malformed));
      if (atomic_load(&case_failures) != before) {
        bad_pairs++;
        fprintf(stderr, "     ^ pair %s x %s\n", c_names[a], c_names[b]);
      }
    }
  }
  printf("     %d pairs x %.0f ms under faults: %zu records handed out, %zu malformed; %zu pairs with a failure\n",
         C_NOPS * (C_NOPS + 1) / 2, window, records, malformed, bad_pairs);
  lnc_mock_free(m);
  end_case();
}

static void *c_free_looper(void *arg) {
  cworker_t *w = (cworker_t *)arg;
  for (;;) {
    lnc_err_t rc = c_op(w, w->op, (int)(rnd(&w->rng) % 20));
    if (rc == LNC_ERR_CLOSED && atomic_load(w->free_called)) break;
    /* a close by the close looper makes every later call CLOSED too; keep going until free */
  }
  atomic_store(&w->stopped, 1);
  return NULL;
}

static void *c_pin_thread(void *arg) {
  cctx_t *c = (cctx_t *)arg;
  size_t count = 0;
  lnc_consumer_poll_cb(c->c, 30000, 1, on_record, c, &count, NULL);
  return NULL;
}

struct cfreer_arg_t {
  lnc_consumer_t *c;
  lnc_err_t rc;
  double end;
};
static void *c_freer(void *arg) {
  struct cfreer_arg_t *a = (struct cfreer_arg_t *)arg;
  a->rc = lnc_consumer_free(a->c);
  a->end = now_ms();
  return NULL;
}

/* free racing every consumer call: loopers of every call (close included) stop on CLOSED after
 * free started, held off by a pin in a poll_cb record callback (see the producer case). */
static void case_consumer_free_races(void) {
  if (!begin_case("consumer_free_races", 400)) return;
  lnc_mock_t *m = mock_new("1");
  uint32_t topic = filled_topic(m, "c-free");
  uint64_t seed = 0x94d049bb133111ebULL;
  int n = runs(20);
  for (int run = 0; run < n; run++) {
    cctx_t c;
    memset(&c, 0, sizeof c);
    c.c = consumer_new(m, topic, &seed);
    c.request_timeout_ms = 1000;
    atomic_store(&c.pin_armed, 1);
    pthread_t pt;
    pthread_create(&pt, NULL, c_pin_thread, &c);
    double t0 = now_ms();
    while (!atomic_load(&c.pinned) && now_ms() - t0 < 5000 + slack_ms) sleep_ms(1);
    if (!atomic_load(&c.pinned)) {
      fprintf(stderr, "FAIL [%s] no record reached the pinning callback within 5 s + slack; aborting\n", current_case);
      _exit(4);
    }
    atomic_int free_called = 0;
    cworker_t w[C_NOPS];
    memset(w, 0, sizeof w);
    for (int i = 0; i < C_NOPS; i++) {
      w[i].c = &c;
      w[i].op = i;
      w[i].rng = rnd(&seed) | 1;
      w[i].free_called = &free_called;
      pthread_create(&w[i].th, NULL, c_free_looper, &w[i]);
    }
    sleep_ms(20 + (double)(rnd(&seed) % 40));
    atomic_store(&free_called, 1);
    struct cfreer_arg_t fa = {c.c, LNC_ERR_OK, 0};
    double f0 = now_ms();
    pthread_t freer;
    pthread_create(&freer, NULL, c_freer, &fa);
    for (int i = 0; i < C_NOPS; i++) {
      double s0 = now_ms();
      while (!atomic_load(&w[i].stopped) && now_ms() - s0 < 10000 + slack_ms) sleep_ms(1);
      if (!atomic_load(&w[i].stopped)) {
        fprintf(stderr, "FAIL [%s] looper %s did not stop (never saw CLOSED); aborting\n", current_case, c_names[i]);
        _exit(4);
      }
    }
    atomic_store(&c.pin_release, 1);
    pthread_join(freer, NULL);
    pthread_join(pt, NULL);
    for (int i = 0; i < C_NOPS; i++) pthread_join(w[i].th, NULL);
    if (fa.rc != LNC_ERR_OK) fail("free returned %s", lnc_err_name(fa.rc));
    if (fa.end - f0 > 5000 + slack_ms) fail("free took %.0f ms", fa.end - f0);
    if (atomic_load(&c.malformed)) fail("%zu malformed records", atomic_load(&c.malformed));
  }
  lnc_mock_free(m);
  end_case();
}

/* A user offset store whose save callback tries commit and free on its own consumer: both must be
 * refused (IN_CALLBACK; CLOSED once free has begun) — before the gate this freed the handle under
 * the running commit, or deadlocked on the commit lock. Runs during close, commit and
 * auto-commit, racing pollers. */
typedef struct {
  _Atomic(lnc_consumer_t *) self;
  atomic_size_t saves, refused, wrong;
} store_t;

static int store_load(uint32_t topic, uint64_t *offset, void *opaque) {
  (void)topic;
  (void)offset;
  (void)opaque;
  return 0;
}

static int store_save(uint32_t topic, uint64_t offset, void *opaque) {
  (void)topic;
  (void)offset;
  store_t *s = (store_t *)opaque;
  atomic_fetch_add(&s->saves, 1);
  lnc_consumer_t *c = atomic_load(&s->self);
  if (c) {
    lnc_err_t a = lnc_consumer_commit(c, -1, NULL, NULL);
    lnc_err_t b = lnc_consumer_free(c);
    lnc_err_t d = lnc_consumer_close(c, 0);
    if ((a == LNC_ERR_IN_CALLBACK || a == LNC_ERR_CLOSED) && b == LNC_ERR_IN_CALLBACK && d == LNC_ERR_IN_CALLBACK)
      atomic_fetch_add(&s->refused, 1);
    else
      atomic_fetch_add(&s->wrong, 1);
  }
  return 0;
}

static void case_consumer_store_reentry(void) {
  if (!begin_case("consumer_store_callback_reentry", 120)) return;
  lnc_mock_t *m = mock_new("1");
  uint32_t topic = filled_topic(m, "c-store");
  uint64_t seed = 0x5851f42d4c957f2dULL;
  int n = runs(5);
  size_t saves = 0;
  for (int run = 0; run < n; run++) {
    store_t st;
    memset(&st, 0, sizeof st);
    lnc_conf_t *conf = conf_for(m);
    char tid[16];
    snprintf(tid, sizeof tid, "%u", topic);
    set(conf, "topic.id", tid);
    set(conf, "auto.commit.interval.ms", "1");
    lnc_consumer_t *c = NULL;
    if (lnc_consumer_new_with_store(conf, store_load, store_save, &st, -1, &c, NULL) != LNC_ERR_OK) exit(2);
    atomic_store(&st.self, c);
    cctx_t cc;
    memset(&cc, 0, sizeof cc);
    cc.c = c;
    cc.request_timeout_ms = 30000;
    cworker_t w[3];
    memset(w, 0, sizeof w);
    int ops[3] = {C_POLL, C_POLL_CB, C_COMMIT};
    for (int i = 0; i < 3; i++) {
      w[i].c = &cc;
      w[i].op = ops[i];
      w[i].rng = rnd(&seed) | 1;
      pthread_create(&w[i].th, NULL, c_loop, &w[i]);
    }
    sleep_ms(50);
    atomic_store(&cc.stop, 1);
    for (int i = 0; i < 3; i++) pthread_join(w[i].th, NULL);
    lnc_err_t rc = lnc_consumer_free(c); /* closes: a final save runs inside free */
    if (rc != LNC_ERR_OK) fail("free returned %s", lnc_err_name(rc));
    if (atomic_load(&st.wrong)) fail("%zu re-entrant calls from the save callback were not refused", atomic_load(&st.wrong));
    if (atomic_load(&st.saves) == 0) fail("the save callback never ran");
    saves += atomic_load(&st.saves);
  }
  printf("     %zu saves, each trying commit/free/close on its own consumer: all refused\n", saves);
  lnc_mock_free(m);
  end_case();
}

/* ---------------------------------------------------------------- events (#17) */

/* One handle kind behind a small table, so one case covers producer, consumer and admin. */
typedef struct {
  const char *name;
  void *(*make)(lnc_mock_t *m, uint32_t topic, const char *stats_ms);
  lnc_err_t (*poll_events)(void *h, int timeout_ms, lnc_event_t *out, size_t max, size_t *count);
  lnc_err_t (*close)(void *h, int timeout_ms); /* NULL: the kind has no close */
  lnc_err_t (*destroy)(void *h);
} ev_kind_t;

static void *ev_make_producer(lnc_mock_t *m, uint32_t topic, const char *stats_ms) {
  (void)topic;
  lnc_conf_t *conf = conf_for(m);
  set(conf, "statistics.interval.ms", stats_ms);
  lnc_producer_t *p = NULL;
  if (lnc_producer_new(conf, NULL, NULL, &p, NULL) != LNC_ERR_OK) exit(2);
  return p;
}
static lnc_err_t ev_poll_producer(void *h, int t, lnc_event_t *o, size_t max, size_t *n) {
  return lnc_producer_poll_events((lnc_producer_t *)h, t, o, max, n);
}
static lnc_err_t ev_close_producer(void *h, int t) { return lnc_producer_close((lnc_producer_t *)h, t, NULL); }
static lnc_err_t ev_free_producer(void *h) { return lnc_producer_free((lnc_producer_t *)h); }

static void *ev_make_consumer(lnc_mock_t *m, uint32_t topic, const char *stats_ms) {
  lnc_conf_t *conf = conf_for(m);
  char tid[16];
  snprintf(tid, sizeof tid, "%u", topic);
  set(conf, "topic.id", tid);
  set(conf, "statistics.interval.ms", stats_ms);
  lnc_consumer_t *c = NULL;
  if (lnc_consumer_new(conf, -1, &c, NULL) != LNC_ERR_OK) exit(2);
  return c;
}
static lnc_err_t ev_poll_consumer(void *h, int t, lnc_event_t *o, size_t max, size_t *n) {
  return lnc_consumer_poll_events((lnc_consumer_t *)h, t, o, max, n);
}
static lnc_err_t ev_close_consumer(void *h, int t) { return lnc_consumer_close((lnc_consumer_t *)h, t); }
static lnc_err_t ev_free_consumer(void *h) { return lnc_consumer_free((lnc_consumer_t *)h); }

static void *ev_make_admin(lnc_mock_t *m, uint32_t topic, const char *stats_ms) {
  (void)topic;
  lnc_conf_t *conf = conf_for(m);
  set(conf, "statistics.interval.ms", stats_ms);
  lnc_admin_t *a = NULL;
  if (lnc_admin_new(conf, &a, NULL) != LNC_ERR_OK) exit(2);
  return a;
}
static lnc_err_t ev_poll_admin(void *h, int t, lnc_event_t *o, size_t max, size_t *n) {
  return lnc_admin_poll_events((lnc_admin_t *)h, t, o, max, n);
}
static lnc_err_t ev_free_admin(void *h) {
  lnc_admin_free((lnc_admin_t *)h);
  return LNC_ERR_OK;
}

static const ev_kind_t ev_kinds[] = {
    {"producer", ev_make_producer, ev_poll_producer, ev_close_producer, ev_free_producer},
    {"consumer", ev_make_consumer, ev_poll_consumer, ev_close_consumer, ev_free_consumer},
    {"admin", ev_make_admin, ev_poll_admin, NULL, ev_free_admin},
};

typedef struct {
  const ev_kind_t *k;
  void *h;
  pthread_t th;
  uint64_t rng;
  int timeout_ms; /* < 0: random 0..19 */
  atomic_int entered, stop;
  size_t events;
  double t_end;
  lnc_err_t rc;
} ev_worker_t;

/* Polls events until told to stop (loopers) or once (timeout_ms >= 0: a waiter). Every call must
 * return within its timeout plus slack and with OK or CLOSED. */
static void *ev_worker(void *arg) {
  ev_worker_t *w = (ev_worker_t *)arg;
  do {
    int t = w->timeout_ms >= 0 ? w->timeout_ms : (int)(rnd(&w->rng) % 20);
    lnc_event_t evs[8];
    size_t n = 0;
    atomic_store(&w->entered, 1);
    double t0 = now_ms();
    lnc_err_t rc = w->k->poll_events(w->h, t, evs, 8, &n);
    double took = now_ms() - t0;
    if (rc != LNC_ERR_OK && rc != LNC_ERR_CLOSED) fail("%s poll_events returned %s", w->k->name, lnc_err_name(rc));
    if (w->timeout_ms < 0 && took > t + slack_ms) fail("%s poll_events(%d) took %.0f ms", w->k->name, t, took);
    for (size_t i = 0; i < (rc == LNC_ERR_OK ? n : 0); i++) {
      if (evs[i].message == NULL || evs[i].server == NULL) fail("%s event without strings", w->k->name);
      lnc_event_free(&evs[i]);
    }
    w->events += rc == LNC_ERR_OK ? n : 0;
    w->rc = rc;
  } while (w->timeout_ms < 0 && !atomic_load(&w->stop));
  w->t_end = now_ms();
  return NULL;
}

static void case_events_poll_races(void) {
  if (!begin_case("events_poll_vs_close_and_free", 300)) return;
  lnc_mock_t *m = mock_new("1");
  uint32_t topic = mock_topic(m, "ev-races");
  uint64_t seed = 0x9e3779b97f4a7c15ULL;
  int n = runs(4);
  size_t total = 0;
  for (int run = 0; run < n; run++) {
    for (size_t k = 0; k < sizeof ev_kinds / sizeof ev_kinds[0]; k++) {
      const ev_kind_t *kind = &ev_kinds[k];
      /* Loopers race close (statistics every ms keep events coming), then waiters blocked in a
       * long poll race free, which must wake them. */
      void *h = kind->make(m, topic, run % 4 < 2 ? "1" : "0");
      ev_worker_t w[6];
      memset(w, 0, sizeof w);
      for (int i = 0; i < 6; i++) {
        w[i].k = kind;
        w[i].h = h;
        w[i].rng = rnd(&seed) | 1;
        w[i].timeout_ms = i < 4 ? -1 : 30000;
      }
      for (int i = 0; i < 4; i++) pthread_create(&w[i].th, NULL, ev_worker, &w[i]);
      sleep_ms(20 + (double)(rnd(&seed) % 30));
      /* Even runs close first (loopers race close); odd runs and admin race free directly. */
      int use_close = kind->close != NULL && run % 2 == 0;
      if (use_close) {
        double c0 = now_ms();
        lnc_err_t rc = kind->close(h, 500);
        if (rc != LNC_ERR_OK && rc != LNC_ERR_TIMED_OUT) fail("%s close returned %s", kind->name, lnc_err_name(rc));
        if (now_ms() - c0 > 500 + close_slack_ms) fail("%s close(500) took %.0f ms", kind->name, now_ms() - c0);
        sleep_ms(10); /* polls after close drain and return */
      }
      for (int i = 0; i < 4; i++) atomic_store(&w[i].stop, 1);
      for (int i = 0; i < 4; i++) pthread_join(w[i].th, NULL);
      if (!use_close) {
        /* No close: the waiters are inside when free starts, and free must wake them. */
        for (int i = 4; i < 6; i++) pthread_create(&w[i].th, NULL, ev_worker, &w[i]);
        for (int i = 4; i < 6; i++)
          while (!atomic_load(&w[i].entered)) sleep_ms(1);
        sleep_ms(30);
      }
      double f0 = now_ms();
      lnc_err_t rc = kind->destroy(h);
      double f1 = now_ms();
      if (rc != LNC_ERR_OK) fail("%s free returned %s", kind->name, lnc_err_name(rc));
      if (f1 - f0 > 5000 + slack_ms) fail("%s free took %.0f ms", kind->name, f1 - f0);
      if (!use_close) {
        for (int i = 4; i < 6; i++) {
          pthread_join(w[i].th, NULL);
          if (w[i].t_end - f1 > slack_ms) fail("%s poll_events returned %.0f ms after free", kind->name, w[i].t_end - f1);
        }
      }
      for (int i = 0; i < 6; i++) total += w[i].events;
    }
  }
  printf("     %zu events taken by pollers racing close and free\n", total);
  lnc_mock_free(m);
  end_case();
}

/* ---------------------------------------------------------------- main */

int main(int argc, char **argv) {
  const char *env = getenv("LNC_TORTURE_SCALE");
  if (env) scale = atof(env);
  if (argc > 1) scale = atof(argv[1]);
  if (argc > 2) only = argv[2];
  if (!(scale > 0)) scale = 1;
  if ((env = getenv("LNC_TORTURE_SLACK_MS"))) slack_ms = atof(env);
  if ((env = getenv("LNC_TORTURE_CLOSE_SLACK_MS"))) close_slack_ms = atof(env);
  printf("torture: scale %.3g, call slack %.0f ms, close slack %.0f ms\n", scale, slack_ms, close_slack_ms);
  pthread_t wd;
  pthread_create(&wd, NULL, watchdog, NULL);
  pthread_detach(wd);
  double t0 = now_ms();
  case_repro_produce_vs_close();
  case_repro_poll_vs_close();
  case_close_and_free_wake_waiters();
  case_producer_pairs();
  case_producer_free_races();
  case_consumer_close_and_free_wake_poll();
  case_consumer_pairs();
  case_consumer_free_races();
  case_consumer_store_reentry();
  case_events_poll_races();
  int f = atomic_load(&failures);
  printf("torture: %s (%d failure%s) in %.1f s\n", f ? "FAILED" : "passed", f, f == 1 ? "" : "s", (now_ms() - t0) / 1000);
  return f ? 1 : 0;
}
