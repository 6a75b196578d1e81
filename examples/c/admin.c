/* Topic administration: create, list, set retention, cluster status, ping, delete.
 * Usage: lnc_example_admin [host:port | mock] */
#include "lnc.h"

#include <stdio.h>
#include <string.h>

static int check(lnc_err_t rc, lnc_error_t *err, const char *what) {
  if (rc == LNC_ERR_OK) return 0;
  fprintf(stderr, "%s failed: %s: %s\n", what, lnc_err_name(rc), err ? lnc_error_message(err) : "");
  lnc_error_free(err);
  return 1;
}

int main(int argc, char **argv) {
  const char *server = argc > 1 ? argv[1] : "mock";
  lnc_mock_t *mock = NULL;
  char addr[128];
  char errbuf[256];
  if (strcmp(server, "mock") == 0) {
    if (lnc_mock_new(NULL, NULL, 0, &mock, errbuf, sizeof errbuf) != LNC_ERR_OK) return 1;
    lnc_mock_address(mock, addr, sizeof addr);
    server = addr;
  }
  lnc_conf_t *conf = lnc_conf_new();
  lnc_conf_set(conf, "bootstrap.servers", server, errbuf, sizeof errbuf);
  lnc_admin_t *a = NULL;
  lnc_error_t *err = NULL;
  if (check(lnc_admin_new(conf, &a, &err), err, "admin")) return 1;

  lnc_topic_t t;
  if (check(lnc_admin_ensure_topic(a, "example-admin", 5000, &t, &err), err, "ensure_topic")) return 1;
  printf("topic %u '%s' created at %llu\n", t.id, t.name, (unsigned long long)t.created_at);
  /* One hour, unlimited size. 0 would delete every closed segment: liblnc refuses it. */
  if (check(lnc_admin_set_retention(a, t.id, 3600, LNC_RETENTION_UNLIMITED, 5000, &err), err, "set_retention")) return 1;

  lnc_topic_t *topics = NULL;
  size_t n = 0;
  if (check(lnc_admin_list_topics(a, 5000, &topics, &n, &err), err, "list_topics")) return 1;
  for (size_t i = 0; i < n; i++) printf("  %u %s\n", topics[i].id, topics[i].name);
  lnc_topics_free(topics, n);

  lnc_cluster_status_t cs;
  if (check(lnc_admin_cluster_status(a, 5000, &cs, &err), err, "cluster_status")) return 1;
  printf("%s, %u node(s), leader %d\n", cs.is_standalone ? "standalone" : "cluster", cs.node_count, cs.leader_id);
  uint64_t rtt = 0;
  if (check(lnc_admin_ping(a, 5000, &rtt, &err), err, "ping")) return 1;
  printf("ping %llu us\n", (unsigned long long)rtt);

  lnc_err_t rc = lnc_admin_create_topic(a, "example-admin", 5000, NULL, &err);
  printf("creating it again: %s (%s)\n", lnc_err_name(rc), lnc_error_message(err));
  lnc_error_free(err);
  err = NULL;
  if (check(lnc_admin_delete_topic(a, t.id, 5000, &err), err, "delete_topic")) return 1;
  lnc_admin_free(a);
  lnc_mock_free(mock);
  return rc == LNC_ERR_TOPIC_EXISTS ? 0 : 1;
}
