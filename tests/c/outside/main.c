/* Built out of tree against an installed liblnc (CMake package or pkg-config): a produce/consume
 * round trip against the embedded mock proves the installed header and library work together. */
#include <lnc.h>
#include <stdio.h>
#include <string.h>

int main(void) {
  lnc_mock_t *mock = NULL;
  char addr[64], errbuf[256];
  if (lnc_mock_new(NULL, NULL, 0, &mock, errbuf, sizeof errbuf) != LNC_ERR_OK) return 1;
  lnc_mock_address(mock, addr, sizeof addr);
  uint32_t topic = 0;
  if (lnc_mock_create_topic(mock, "outside", &topic, NULL) != LNC_ERR_OK) return 1;
  lnc_conf_t *conf = lnc_conf_new();
  lnc_conf_set(conf, "bootstrap.servers", addr, errbuf, sizeof errbuf);
  lnc_producer_t *p = NULL;
  if (lnc_producer_new(lnc_conf_dup(conf), NULL, NULL, &p, NULL) != LNC_ERR_OK) return 1;
  for (int i = 0; i < 100; i++) lnc_producer_produce(p, topic, (const uint8_t *)"installed", 9, NULL, NULL);
  size_t remaining = 1;
  lnc_producer_flush(p, 10000, &remaining, NULL);
  lnc_producer_free(p);
  char tid[16];
  snprintf(tid, sizeof tid, "%u", topic);
  lnc_conf_set(conf, "topic.id", tid, errbuf, sizeof errbuf);
  lnc_consumer_t *c = NULL;
  if (lnc_consumer_new(conf, -1, &c, NULL) != LNC_ERR_OK) return 1;
  size_t got = 0;
  for (int tries = 0; tries < 50 && got < 100; tries++) {
    lnc_records_t *recs = NULL;
    if (lnc_consumer_poll(c, 200, &recs, NULL) != LNC_ERR_OK) break;
    got += lnc_records_count(recs);
    lnc_records_free(recs);
  }
  lnc_consumer_free(c);
  lnc_mock_free(mock);
  printf("outside project: liblnc %s, %zu/100 records round-tripped, %zu unsettled\n", lnc_version_str(), got, remaining);
  return got == 100 && remaining == 0 ? 0 : 1;
}
