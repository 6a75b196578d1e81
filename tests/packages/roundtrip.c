/* Package test (scripts/test-packages.sh): built against the installed C/C++ archive, through
 * find_package(lnc) or pkg-config. Produces N records to a fresh topic on the broker at argv[1]
 * (`lnc mock` from the archive), consumes them back from the beginning and checks every value
 * and the order. Exit 0 only if all N came back acknowledged, in order and intact. */
#include <lnc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define N 1000

static size_t acked, failed;

static void on_delivery(const lnc_delivery_report_t *r, void *opaque) {
  (void)opaque;
  if (r->err == LNC_ERR_OK) acked++; else failed++;
}

static int fail(const char *what, lnc_err_t rc, lnc_error_t *err) {
  fprintf(stderr, "c roundtrip: %s: %s (%s)\n", what, lnc_err_name(rc), err ? lnc_error_message(err) : "");
  lnc_error_free(err);
  return 1;
}

int main(int argc, char **argv) {
  if (argc != 3) {
    fprintf(stderr, "usage: %s HOST:PORT TOPIC\n", argv[0]);
    return 2;
  }
  char errbuf[256];
  lnc_error_t *err = NULL;
  lnc_conf_t *conf = lnc_conf_new();
  if (lnc_conf_set(conf, "bootstrap.servers", argv[1], errbuf, sizeof errbuf) != LNC_ERR_OK) {
    fprintf(stderr, "conf: %s\n", errbuf);
    return 1;
  }
  lnc_admin_t *admin = NULL;
  lnc_err_t rc = lnc_admin_new(lnc_conf_dup(conf), &admin, &err);
  if (rc != LNC_ERR_OK) return fail("lnc_admin_new", rc, err);
  lnc_topic_t topic;
  rc = lnc_admin_ensure_topic(admin, argv[2], 10000, &topic, &err);
  if (rc != LNC_ERR_OK) return fail("lnc_admin_ensure_topic", rc, err);
  lnc_admin_free(admin);

  lnc_producer_t *p = NULL;
  rc = lnc_producer_new(lnc_conf_dup(conf), on_delivery, NULL, &p, &err);
  if (rc != LNC_ERR_OK) return fail("lnc_producer_new", rc, err);
  char value[32];
  for (int i = 0; i < N; i++) {
    int len = snprintf(value, sizeof value, "c-%d", i);
    rc = lnc_producer_produce(p, topic.id, (const uint8_t *)value, (size_t)len, NULL, &err);
    if (rc != LNC_ERR_OK) return fail("lnc_producer_produce", rc, err);
  }
  size_t remaining = 0;
  rc = lnc_producer_flush(p, 30000, &remaining, NULL);
  lnc_producer_free(p);
  if (rc != LNC_ERR_OK || acked != N || failed != 0) {
    fprintf(stderr, "c roundtrip: flush %s, %zu acked, %zu failed, %zu remaining\n", lnc_err_name(rc), acked, failed, remaining);
    return 1;
  }

  char tid[16];
  snprintf(tid, sizeof tid, "%u", topic.id);
  if (lnc_conf_set(conf, "topic.id", tid, errbuf, sizeof errbuf) != LNC_ERR_OK ||
      lnc_conf_set(conf, "start.offset", "beginning", errbuf, sizeof errbuf) != LNC_ERR_OK) {
    fprintf(stderr, "conf: %s\n", errbuf);
    return 1;
  }
  lnc_consumer_t *c = NULL;
  rc = lnc_consumer_new(conf, -1, &c, &err);
  if (rc != LNC_ERR_OK) return fail("lnc_consumer_new", rc, err);
  int got = 0;
  for (int polls = 0; polls < 200 && got < N; polls++) {
    lnc_records_t *recs = NULL;
    rc = lnc_consumer_poll(c, 100, &recs, &err);
    if (rc != LNC_ERR_OK) return fail("lnc_consumer_poll", rc, err);
    const lnc_record_view_t *v = lnc_records_views(recs);
    for (size_t k = 0; k < lnc_records_count(recs); k++, got++) {
      int len = snprintf(value, sizeof value, "c-%d", got);
      if (got >= N || v[k].data_len != (size_t)len || memcmp(v[k].data, value, (size_t)len) != 0) {
        fprintf(stderr, "c roundtrip: record %d is not %s\n", got, value);
        return 1;
      }
    }
    lnc_records_free(recs);
  }
  lnc_consumer_free(c);
  printf("c (%s): liblnc %s, %d/%d records produced, acked and consumed in order\n", argv[2], lnc_version_str(), got, N);
  return got == N ? 0 : 1;
}
