/* TLS round trip through the C ABI: stunnel4 (client certificates demanded) in front of a
 * plaintext mock, then the handshake failures (wrong CA, wrong server name, missing client
 * certificate), each with LNC_ERR_TLS and its own message. Run by tls_test.sh, which starts
 * `lnc tls-fixture` and passes: STUNNEL_ADDR CA CERT KEY OTHER_CA. */
#define _POSIX_C_SOURCE 200809L
#include "lnc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int passed, failed;
#define CHECK(cond)                                                            \
  do {                                                                         \
    if (cond) {                                                                \
      passed++;                                                                \
    } else {                                                                   \
      failed++;                                                                \
      fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond); \
    }                                                                          \
  } while (0)

static const char *addr, *ca, *cert, *key, *other_ca;

static lnc_conf_t *tls_conf(const char *ca_file, const char *cert_file, const char *key_file, const char *name) {
  lnc_conf_t *c = lnc_conf_new();
  char errbuf[256];
  const char *kv[][2] = {
      {"bootstrap.servers", addr}, {"security.protocol", "tls"}, {"tls.ca.location", ca_file},
      {"tls.certificate.location", cert_file}, {"tls.key.location", key_file}, {"tls.server.name", name},
      {"request.timeout.ms", "10000"},
  };
  for (size_t i = 0; i < sizeof kv / sizeof kv[0]; i++) {
    if (kv[i][1] == NULL) continue;
    if (lnc_conf_set(c, kv[i][0], kv[i][1], errbuf, sizeof errbuf) != LNC_ERR_OK) {
      fprintf(stderr, "conf %s: %s\n", kv[i][0], errbuf);
      exit(2);
    }
  }
  return c;
}

static size_t acked, failed_reports;
static void on_delivery(const lnc_delivery_report_t *r, void *opaque) {
  (void)opaque;
  if (r->err == LNC_ERR_OK) acked++;
  else failed_reports++;
}

static void round_trip(void) {
  lnc_admin_t *a = NULL;
  lnc_error_t *err = NULL;
  CHECK(lnc_admin_new(tls_conf(ca, cert, key, NULL), &a, &err) == LNC_ERR_OK);
  lnc_topic_t t;
  memset(&t, 0, sizeof t);
  lnc_err_t rc = lnc_admin_ensure_topic(a, "c-tls", 10000, &t, &err);
  if (rc != LNC_ERR_OK) {
    fprintf(stderr, "ensure_topic: %s\n", lnc_error_message(err));
    lnc_error_free(err);
    failed++;
    lnc_admin_free(a);
    return;
  }
  uint64_t rtt = 0;
  CHECK(lnc_admin_ping(a, 10000, &rtt, NULL) == LNC_ERR_OK && rtt > 0);
  lnc_producer_t *p = NULL;
  CHECK(lnc_producer_new(tls_conf(ca, cert, key, NULL), on_delivery, NULL, &p, NULL) == LNC_ERR_OK);
  enum { N = 500 };
  for (int i = 0; i < N; i++) {
    char v[64];
    int n = snprintf(v, sizeof v, "c tls record %d", i);
    CHECK(lnc_producer_produce(p, t.id, (const uint8_t *)v, (size_t)n, NULL, NULL) == LNC_ERR_OK);
  }
  size_t remaining = 1;
  CHECK(lnc_producer_flush(p, 30000, &remaining, NULL) == LNC_ERR_OK && remaining == 0);
  CHECK(acked == N && failed_reports == 0);
  lnc_producer_free(p);

  lnc_conf_t *cc = tls_conf(ca, cert, key, NULL);
  CHECK(lnc_conf_set(cc, "topic.id", "0", NULL, 0) == LNC_ERR_OK);
  CHECK(lnc_conf_set(cc, "topic", "c-tls", NULL, 0) == LNC_ERR_OK);
  CHECK(lnc_conf_set(cc, "start.offset", "beginning", NULL, 0) == LNC_ERR_OK);
  lnc_consumer_t *c = NULL;
  CHECK(lnc_consumer_new(cc, -1, &c, NULL) == LNC_ERR_OK);
  size_t total = 0;
  int idle = 0, in_order = 1;
  while (c && total < N && idle < 20) {
    lnc_records_t *recs = NULL;
    if (lnc_consumer_poll(c, 500, &recs, NULL) != LNC_ERR_OK) break;
    size_t n = lnc_records_count(recs);
    const lnc_record_view_t *v = lnc_records_views(recs);
    for (size_t i = 0; i < n; i++) {
      char want[64];
      int len = snprintf(want, sizeof want, "c tls record %zu", total + i);
      if (v[i].data_len != (size_t)len || memcmp(v[i].data, want, (size_t)len) != 0) in_order = 0;
    }
    total += n;
    idle = n == 0 ? idle + 1 : 0;
    lnc_records_free(recs);
  }
  CHECK(total == N);
  CHECK(in_order);
  lnc_consumer_free(c);
  lnc_admin_free(a);
}

static void expect_tls_failure(lnc_conf_t *conf, const char *needle) {
  lnc_admin_t *a = NULL;
  lnc_error_t *err = NULL;
  CHECK(lnc_admin_new(conf, &a, &err) == LNC_ERR_OK);
  lnc_topic_t *topics = NULL;
  size_t count = 0;
  lnc_err_t rc = lnc_admin_list_topics(a, 10000, &topics, &count, &err);
  CHECK(rc == LNC_ERR_TLS);
  if (err) {
    const char *msg = lnc_error_message(err);
    printf("expected failure: %s\n", msg);
    CHECK(strstr(msg, needle) != NULL);
    CHECK(!lnc_error_retryable(err));
    lnc_error_free(err);
  } else {
    failed++;
  }
  lnc_topics_free(topics, count);
  lnc_admin_free(a);
}

int main(int argc, char **argv) {
  if (argc != 6) {
    fprintf(stderr, "usage: %s STUNNEL_ADDR CA CERT KEY OTHER_CA\n", argv[0]);
    return 2;
  }
  addr = argv[1], ca = argv[2], cert = argv[3], key = argv[4], other_ca = argv[5];
  CHECK(strcmp(lnc_err_name(LNC_ERR_TLS), "TLS") == 0);
  round_trip();
  expect_tls_failure(tls_conf(other_ca, cert, key, NULL), "unknown issuer");
  expect_tls_failure(tls_conf(ca, cert, key, "wrong.example"), "server name mismatch");
  expect_tls_failure(tls_conf(ca, NULL, NULL, NULL), "client certificate");
  printf("tls: %d checks passed, %d failed\n", passed, failed);
  return failed == 0 && passed > 0 ? 0 : 1;
}
