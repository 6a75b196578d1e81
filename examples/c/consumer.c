/* Consume a topic from the beginning and print the records.
 * Usage: lnc_example_consumer [host:port | mock]   ("mock" starts a mock broker with 100 records) */
#include "lnc.h"

#include <stdio.h>
#include <string.h>

int main(int argc, char **argv) {
  const char *server = argc > 1 ? argv[1] : "mock";
  lnc_mock_t *mock = NULL;
  char addr[128];
  char errbuf[256];
  lnc_error_t *err = NULL;
  size_t expected = 0;
  if (strcmp(server, "mock") == 0) {
    if (lnc_mock_new(NULL, NULL, 0, &mock, errbuf, sizeof errbuf) != LNC_ERR_OK) return 1;
    lnc_mock_address(mock, addr, sizeof addr);
    server = addr;
    /* Fill a topic so there is something to read. */
    uint32_t id = 0;
    lnc_mock_create_topic(mock, "example-events", &id, NULL);
    lnc_conf_t *pc = lnc_conf_new();
    lnc_conf_set(pc, "bootstrap.servers", server, NULL, 0);
    lnc_producer_t *p = NULL;
    lnc_producer_new(pc, NULL, NULL, &p, NULL);
    for (int i = 0; i < 100; i++) {
      char v[32];
      int n = snprintf(v, sizeof v, "hello %d", i);
      lnc_producer_produce(p, id, (const uint8_t *)v, (size_t)n, NULL, NULL);
    }
    lnc_producer_flush(p, 10000, NULL, NULL);
    lnc_producer_free(p);
    expected = 100;
  }

  lnc_conf_t *conf = lnc_conf_new();
  if (lnc_conf_set(conf, "bootstrap.servers", server, errbuf, sizeof errbuf) != LNC_ERR_OK ||
      lnc_conf_set(conf, "topic", "example-events", errbuf, sizeof errbuf) != LNC_ERR_OK ||
      lnc_conf_set(conf, "start.offset", "beginning", errbuf, sizeof errbuf) != LNC_ERR_OK) {
    fprintf(stderr, "conf: %s\n", errbuf);
    return 1;
  }
  lnc_consumer_t *c = NULL;
  if (lnc_consumer_new(conf, -1, &c, &err) != LNC_ERR_OK) {
    fprintf(stderr, "consumer: %s\n", lnc_error_message(err));
    lnc_conf_free(conf);
    return 1;
  }
  size_t total = 0;
  int idle = 0;
  while (idle < 3) {
    lnc_records_t *recs = NULL;
    if (lnc_consumer_poll(c, 500, &recs, &err) != LNC_ERR_OK) {
      fprintf(stderr, "poll: %s (%s)\n", lnc_error_message(err), lnc_err_name(lnc_error_code(err)));
      lnc_error_free(err);
      break;
    }
    size_t n = lnc_records_count(recs);
    const lnc_record_view_t *v = lnc_records_views(recs);
    for (size_t i = 0; i < n; i++) {
      printf("offset %llu type 0x%02x: %.*s\n", (unsigned long long)v[i].offset, v[i].record_type,
             (int)v[i].data_len, (const char *)v[i].data);
    }
    total += n;
    idle = n == 0 ? idle + 1 : 0;
    lnc_records_free(recs);
  }
  uint64_t pos = 0;
  lnc_consumer_position(c, &pos);
  printf("consumed %zu records, position %llu\n", total, (unsigned long long)pos);
  lnc_consumer_free(c);
  lnc_mock_free(mock);
  return expected == 0 || total == expected ? 0 : 1;
}
