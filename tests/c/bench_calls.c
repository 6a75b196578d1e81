/* Per-call cost of the C ABI (a benchmark command, never a test): prints figures, asserts nothing.
 *
 *   lnc_c_bench_calls [records] [threads]
 *
 * 1. produce throughput: `threads` threads each call lnc_producer_produce with 100-byte records
 *    against the embedded mock (ack delay 0), then flush; records/s of the produce loop.
 * 2. bare call cost: lnc_producer_produce on a closed producer returns CLOSED after the handle
 *    gate and the engine's closed check only (plus building the CLOSED error).
 * 3. the cheapest exported call, lnc_producer_eventfd: handle check, panic guard, gate, one read —
 *    best of 50 batches, the figure to compare for the fixed cost of the gate.
 * Run it before and after a change to the ffi layer on an otherwise idle machine; take the best
 * of several runs. */
#define _POSIX_C_SOURCE 200809L
#include "lnc.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

typedef struct {
  lnc_producer_t *p;
  uint32_t topic;
  size_t n;
  size_t failed;
} job_t;

static void *produce_loop(void *arg) {
  job_t *j = (job_t *)arg;
  uint8_t value[100];
  memset(value, 'v', sizeof value);
  for (size_t i = 0; i < j->n; i++) {
    if (lnc_producer_produce(j->p, j->topic, value, sizeof value, NULL, NULL) != LNC_ERR_OK) j->failed++;
    /* No callback: poll discards served reports so the report queue stays small. */
    if ((i & 0x3fff) == 0) lnc_producer_poll(j->p, 0, NULL);
  }
  return NULL;
}

int main(int argc, char **argv) {
  size_t records = argc > 1 ? strtoull(argv[1], NULL, 10) : 2000000;
  int threads = argc > 2 ? atoi(argv[2]) : 1;
  if (threads < 1 || threads > 16) threads = 1;
  const char *keys[] = {"ack.delay.ms"};
  const char *values[] = {"0"};
  lnc_mock_t *m = NULL;
  char errbuf[256];
  if (lnc_mock_new(keys, values, 1, &m, errbuf, sizeof errbuf) != LNC_ERR_OK) {
    fprintf(stderr, "mock: %s\n", errbuf);
    return 2;
  }
  uint32_t topic = 0;
  lnc_mock_create_topic(m, "bench", &topic, NULL);
  char addr[64];
  lnc_mock_address(m, addr, sizeof addr);
  lnc_conf_t *c = lnc_conf_new();
  lnc_conf_set(c, "bootstrap.servers", addr, NULL, 0);
  lnc_conf_set(c, "batch.size", "1048576", NULL, 0);
  lnc_conf_set(c, "max.in.flight", "4", NULL, 0);
  lnc_producer_t *p = NULL;
  if (lnc_producer_new(c, NULL, NULL, &p, NULL) != LNC_ERR_OK) return 2;

  job_t jobs[16];
  pthread_t th[16];
  double t0 = now_s();
  for (int i = 0; i < threads; i++) {
    jobs[i] = (job_t){p, topic, records / (size_t)threads, 0};
    pthread_create(&th[i], NULL, produce_loop, &jobs[i]);
  }
  size_t failed = 0;
  for (int i = 0; i < threads; i++) {
    pthread_join(th[i], NULL);
    failed += jobs[i].failed;
  }
  double t1 = now_s();
  size_t remaining = 0;
  lnc_producer_flush(p, 60000, &remaining, NULL);
  double t2 = now_s();
  printf("produce: %zu records x 100 B, %d thread(s): %.2f M calls/s (loop %.3f s), %.2f M records/s incl. flush, "
         "failed %zu, unflushed %zu\n",
         records, threads, (double)records / (t1 - t0) / 1e6, t1 - t0, (double)records / (t2 - t0) / 1e6, failed,
         remaining);

  lnc_producer_close(p, 5000, NULL);
  const size_t bare = 20000000;
  uint8_t v = 'x';
  size_t closed = 0;
  double b0 = now_s();
  for (size_t i = 0; i < bare; i++) closed += lnc_producer_produce(p, topic, &v, 1, NULL, NULL) == LNC_ERR_CLOSED;
  double b1 = now_s();
  printf("bare call (produce on a closed producer): %.1f ns/call (%zu CLOSED)\n", (b1 - b0) * 1e9 / (double)bare, closed);
  /* The cheapest exported call (handle check + gate + one field read): the best of 50 batches of
   * 1 M calls, so that other load on the machine mostly drops out. */
  double best = 1e9;
  long sink = 0;
  for (int b = 0; b < 50; b++) {
    double e0 = now_s();
    for (int i = 0; i < 1000000; i++) sink += lnc_producer_eventfd(p);
    double ns = (now_s() - e0) * 1e3;
    if (ns < best) best = ns;
  }
  printf("cheapest call (lnc_producer_eventfd): %.2f ns/call, best of 50 x 1 M (%ld)\n", best, sink & 1);
  lnc_producer_free(p);
  lnc_mock_free(m);
  return 0;
}
