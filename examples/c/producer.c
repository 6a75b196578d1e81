/* Produce 10,000 records and wait for every delivery report.
 * Usage: lnc_example_producer [host:port | mock]   ("mock" starts the embedded mock broker) */
#include "lnc.h"

#include <stdio.h>
#include <string.h>

static void on_delivery(const lnc_delivery_report_t *r, void *opaque) {
  size_t *failed = (size_t *)opaque;
  if (r->err != LNC_ERR_OK) {
    (*failed)++;
    fprintf(stderr, "record %p failed: %s\n", r->opaque, lnc_error_message(r->error));
  }
}

int main(int argc, char **argv) {
  const char *server = argc > 1 ? argv[1] : "mock";
  lnc_mock_t *mock = NULL;
  char addr[128];
  char errbuf[256];
  if (strcmp(server, "mock") == 0) {
    if (lnc_mock_new(NULL, NULL, 0, &mock, errbuf, sizeof errbuf) != LNC_ERR_OK) {
      fprintf(stderr, "mock: %s\n", errbuf);
      return 1;
    }
    lnc_mock_address(mock, addr, sizeof addr);
    server = addr;
  }

  /* The topic: create it or find it. */
  lnc_conf_t *conf = lnc_conf_new();
  lnc_conf_set(conf, "bootstrap.servers", server, errbuf, sizeof errbuf);
  lnc_admin_t *admin = NULL;
  lnc_error_t *err = NULL;
  lnc_topic_t topic;
  if (lnc_admin_new(lnc_conf_dup(conf), &admin, &err) != LNC_ERR_OK ||
      lnc_admin_ensure_topic(admin, "example-events", 10000, &topic, &err) != LNC_ERR_OK) {
    fprintf(stderr, "admin: %s\n", lnc_error_message(err));
    return 1;
  }
  lnc_admin_free(admin);

  /* Producer tuning is plain key/value configuration. */
  if (lnc_conf_set(conf, "linger.ms", "5", errbuf, sizeof errbuf) != LNC_ERR_OK) {
    fprintf(stderr, "conf: %s\n", errbuf);
    return 1;
  }
  size_t failed = 0;
  lnc_producer_t *producer = NULL;
  if (lnc_producer_new(conf, on_delivery, &failed, &producer, &err) != LNC_ERR_OK) {
    fprintf(stderr, "producer: %s\n", lnc_error_message(err));
    return 1;
  }
  char value[64];
  for (int i = 0; i < 10000; i++) {
    int len = snprintf(value, sizeof value, "{\"event\":\"click\",\"n\":%d}", i);
    lnc_message_t msg = {0};
    msg.record_type = LNC_RECORD_JSON;
    msg.value = (const uint8_t *)value;
    msg.value_len = (size_t)len;
    msg.opaque = (void *)(uintptr_t)(i + 1);
    if (lnc_producer_send(producer, topic.id, &msg, &err) != LNC_ERR_OK) {
      fprintf(stderr, "send: %s\n", lnc_error_message(err));
      return 1;
    }
    lnc_producer_poll(producer, 0, NULL); /* serve reports as they come */
  }
  size_t remaining = 0;
  lnc_producer_flush(producer, 30000, &remaining, NULL);
  lnc_producer_metrics_t m;
  lnc_producer_metrics(producer, &m);
  printf("produced %llu records to topic %u (%s): %zu failed, %zu unsettled, ack p50 %llu us\n",
         (unsigned long long)m.records_acked, topic.id, topic.name, failed, remaining,
         (unsigned long long)m.ack_latency_p50_us);
  lnc_producer_free(producer);
  lnc_mock_free(mock);
  return failed == 0 && remaining == 0 ? 0 : 1;
}
