/*
 * N-API addon for liblnc. Conversion only: every protocol decision is made by liblnc.
 *
 * - Blocking liblnc calls (flush, close, consumer create/poll/seek/commit/lag, admin calls,
 *   mock stop/restart) run as napi_async_work on the libuv thread pool and settle Promises.
 * - Event readiness (the producer's and consumer's eventfd) is watched by one small thread per
 *   handle doing poll(2); it wakes the JS thread through a napi_threadsafe_function. The JS side
 *   then drains in bulk (lnc_producer_poll_reports, one call per up to 4096 reports) and re-arms.
 *   The threadsafe function is unref'd unless JS asks for it (records outstanding, an iterator
 *   waiting), so a script can exit with a handle open.
 * - Hot path: producerProduce() is one synchronous call into lnc_producer_send_with_options that
 *   never waits (timeout 0); Buffer and typed-array values are passed without copying, strings
 *   are UTF-8-encoded once into a scratch buffer. Sends that may wait (a topic name not yet
 *   resolved by liblnc, buffer space) run as async work on copies (producerSendLater).
 * - User offset stores: liblnc's load/save callbacks run on the calling (pool) thread, which
 *   hands them to the JS thread through a threadsafe function and waits for the answer.
 *
 * JS thread only, unless noted: handle reference counts, the error factory, scratch buffers.
 */
#define NAPI_VERSION 8
#include <node_api.h>

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "lnc.h"

/* ------------------------------------------------------------------------------------------ */
/* Per-environment state                                                                       */

typedef struct {
  napi_ref error_factory; /* (code, name, message, retryable, fatal, leader, serverOffset) => Error */
  int exiting;            /* set by the env cleanup hook: leak handles instead of freeing them */
  char *scratch[2];       /* UTF-8 encodings of string key/value on the hot path */
  size_t scratch_cap[2];
} addon_env_t;

enum { K_PRODUCER = 1, K_CONSUMER, K_ADMIN, K_MOCK, K_GROUP };

struct watcher;

struct store;

struct logger;

typedef struct handle {
  int kind;
  void *ptr;
  int refs;     /* JS object (1) + pending async works */
  int works;    /* pending async works */
  int closed;   /* close() completed: freeing is quick */
  int disposed; /* dispose() called: free the native handle once no work uses it */
  addon_env_t *ae;
  struct watcher *w;
  struct store *store; /* consumer with a user offset store (freed after the consumer) */
  struct logger *log;  /* log callback bridge (released after the native handle is freed) */
} handle_t;

#define CHECK(call)                                                                                 \
  do {                                                                                              \
    if ((call) != napi_ok) {                                                                        \
      const napi_extended_error_info *info_ = NULL;                                                 \
      napi_get_last_error_info(env, &info_);                                                        \
      bool pending_ = false;                                                                        \
      napi_is_exception_pending(env, &pending_);                                                    \
      if (!pending_)                                                                                \
        napi_throw_error(env, NULL, info_ && info_->error_message ? info_->error_message : #call);   \
      return NULL;                                                                                  \
    }                                                                                               \
  } while (0)

static addon_env_t *get_ae(napi_env env) {
  void *d = NULL;
  napi_get_instance_data(env, &d);
  return (addon_env_t *)d;
}

/* ------------------------------------------------------------------------------------------ */
/* Errors                                                                                      */

static napi_value make_error_raw(napi_env env, int code, const char *message, int retryable, int fatal,
                                 const char *leader, int has_off, uint64_t off) {
  addon_env_t *ae = get_ae(env);
  napi_value argv[7], fn = NULL, result = NULL, undef;
  napi_get_undefined(env, &undef);
  napi_create_int32(env, code, &argv[0]);
  napi_create_string_utf8(env, lnc_err_name(code), NAPI_AUTO_LENGTH, &argv[1]);
  napi_create_string_utf8(env, message ? message : lnc_err_str(code), NAPI_AUTO_LENGTH, &argv[2]);
  napi_get_boolean(env, retryable != 0, &argv[3]);
  napi_get_boolean(env, fatal != 0, &argv[4]);
  if (leader)
    napi_create_string_utf8(env, leader, NAPI_AUTO_LENGTH, &argv[5]);
  else
    argv[5] = undef;
  if (has_off)
    napi_create_bigint_uint64(env, off, &argv[6]);
  else
    argv[6] = undef;
  if (ae && ae->error_factory) napi_get_reference_value(env, ae->error_factory, &fn);
  if (fn && napi_call_function(env, undef, fn, 7, argv, &result) == napi_ok) return result;
  napi_value msg;
  napi_create_string_utf8(env, message ? message : lnc_err_str(code), NAPI_AUTO_LENGTH, &msg);
  napi_create_error(env, argv[1], msg, &result);
  return result;
}

/* An Error for `code` with the details of `err` (which may be NULL). Does not free `err`. */
static napi_value make_error(napi_env env, int code, const lnc_error_t *err) {
  if (!err) return make_error_raw(env, code, NULL, 0, 0, NULL, 0, 0);
  uint64_t off = 0;
  int has_off = lnc_error_server_offset(err, &off);
  return make_error_raw(env, code, lnc_error_message(err), lnc_error_retryable(err), lnc_error_fatal(err),
                        lnc_error_leader(err), has_off, off);
}

static napi_value throw_lnc(napi_env env, int code, lnc_error_t *err) {
  napi_throw(env, make_error(env, code, err));
  lnc_error_free(err);
  return NULL;
}

/* ------------------------------------------------------------------------------------------ */
/* Argument helpers                                                                            */

static int get_u64(napi_env env, napi_value v, uint64_t *out) {
  napi_valuetype t;
  if (napi_typeof(env, v, &t) != napi_ok) return 0;
  if (t == napi_bigint) {
    bool lossless;
    return napi_get_value_bigint_uint64(env, v, out, &lossless) == napi_ok;
  }
  if (t == napi_number) {
    double d;
    napi_get_value_double(env, v, &d);
    if (d != d || d < 0) return 0;
    *out = d >= 18446744073709551615.0 ? UINT64_MAX : (uint64_t)d;
    return 1;
  }
  if (t == napi_undefined || t == napi_null) {
    *out = 0;
    return 1;
  }
  return 0;
}

static int get_i32(napi_env env, napi_value v, int32_t def) {
  int32_t x = def;
  napi_valuetype t;
  if (napi_typeof(env, v, &t) == napi_ok && t == napi_number) napi_get_value_int32(env, v, &x);
  return x;
}

/* A malloc'd UTF-8 copy of a JS string (NULL for undefined/null or on failure). */
static char *get_str(napi_env env, napi_value v) {
  napi_valuetype t;
  if (napi_typeof(env, v, &t) != napi_ok || t != napi_string) return NULL;
  size_t len = 0;
  napi_get_value_string_utf8(env, v, NULL, 0, &len);
  char *s = malloc(len + 1);
  if (!s) return NULL;
  napi_get_value_string_utf8(env, v, s, len + 1, &len);
  return s;
}

/* Bytes of a Buffer / typed array / ArrayBuffer (borrowed, no copy) or a string (encoded into
 * scratch slot `slot`). undefined/null give *present = 0. Returns 0 on a wrong type. */
static int get_bytes(napi_env env, addon_env_t *ae, int slot, napi_value v, const uint8_t **p, size_t *len,
                     int *present) {
  void *data = NULL;
  size_t n = 0;
  *present = 1;
  if (napi_get_buffer_info(env, v, &data, &n) == napi_ok) {
    *p = (const uint8_t *)data;
    *len = n;
    return 1;
  }
  napi_valuetype t;
  napi_typeof(env, v, &t);
  if (t == napi_string) {
    size_t cap = ae->scratch_cap[slot];
    size_t w = 0;
    if (cap > 1) {
      napi_get_value_string_utf8(env, v, ae->scratch[slot], cap, &w);
      if (w + 1 < cap) {
        *p = (const uint8_t *)ae->scratch[slot];
        *len = w;
        return 1;
      }
    }
    napi_get_value_string_utf8(env, v, NULL, 0, &n);
    if (n + 1 > cap) {
      size_t ncap = (n + 1) * 2 < 256 ? 256 : (n + 1) * 2;
      char *b = realloc(ae->scratch[slot], ncap);
      if (!b) return 0;
      ae->scratch[slot] = b;
      ae->scratch_cap[slot] = ncap;
    }
    napi_get_value_string_utf8(env, v, ae->scratch[slot], ae->scratch_cap[slot], &w);
    *p = (const uint8_t *)ae->scratch[slot];
    *len = w;
    return 1;
  }
  if (t == napi_undefined || t == napi_null) {
    *p = NULL;
    *len = 0;
    *present = 0;
    return 1;
  }
  if (t == napi_object) {
    bool is;
    if (napi_is_typedarray(env, v, &is) == napi_ok && is) {
      napi_typedarray_type tt;
      size_t count, off;
      napi_value ab;
      napi_get_typedarray_info(env, v, &tt, &count, &data, &ab, &off);
      size_t es = 1;
      switch (tt) {
        case napi_int16_array: case napi_uint16_array: es = 2; break;
        case napi_int32_array: case napi_uint32_array: case napi_float32_array: es = 4; break;
        case napi_float64_array: case napi_bigint64_array: case napi_biguint64_array: es = 8; break;
        default: es = 1;
      }
      *p = (const uint8_t *)data;
      *len = count * es;
      return 1;
    }
    if (napi_is_dataview(env, v, &is) == napi_ok && is) {
      napi_value ab;
      size_t off;
      napi_get_dataview_info(env, v, &n, &data, &ab, &off);
      *p = (const uint8_t *)data;
      *len = n;
      return 1;
    }
    if (napi_is_arraybuffer(env, v, &is) == napi_ok && is) {
      napi_get_arraybuffer_info(env, v, &data, &n);
      *p = (const uint8_t *)data;
      *len = n;
      return 1;
    }
  }
  return 0;
}

/* A configuration from an array [k1, v1, k2, v2, ...] of strings; throws and returns NULL on a
 * bad key or value. */
static lnc_conf_t *build_conf(napi_env env, napi_value pairs) {
  uint32_t n = 0;
  bool is;
  if (napi_is_array(env, pairs, &is) != napi_ok || !is) {
    napi_throw_type_error(env, NULL, "config pairs must be an array");
    return NULL;
  }
  napi_get_array_length(env, pairs, &n);
  lnc_conf_t *conf = lnc_conf_new();
  for (uint32_t i = 0; i + 1 < n; i += 2) {
    napi_value k, v;
    napi_get_element(env, pairs, i, &k);
    napi_get_element(env, pairs, i + 1, &v);
    char *ks = get_str(env, k), *vs = get_str(env, v);
    char errbuf[512] = {0};
    lnc_err_t rc = (ks && vs) ? lnc_conf_set(conf, ks, vs, errbuf, sizeof errbuf) : LNC_ERR_INVALID_ARG;
    free(ks);
    free(vs);
    if (rc != LNC_ERR_OK) {
      lnc_conf_free(conf);
      napi_throw(env, make_error_raw(env, rc, errbuf[0] ? errbuf : "config keys and values must be strings", 0, 0,
                                     NULL, 0, 0));
      return NULL;
    }
  }
  return conf;
}

/* ------------------------------------------------------------------------------------------ */
/* Handles                                                                                     */

static void free_native(int kind, void *ptr) {
  switch (kind) {
    case K_PRODUCER: lnc_producer_free((lnc_producer_t *)ptr); break;
    case K_CONSUMER: lnc_consumer_free((lnc_consumer_t *)ptr); break;
    case K_ADMIN: lnc_admin_free((lnc_admin_t *)ptr); break;
    case K_MOCK: lnc_mock_free((lnc_mock_t *)ptr); break;
    case K_GROUP: lnc_group_consumer_free((lnc_group_consumer_t *)ptr); break;
  }
}

typedef struct {
  int kind;
  void *ptr;
  struct store *store;
  struct logger *log;
} detached_free_t;

static void store_release(struct store *s);
static void logger_release(struct logger *l);
static struct logger *logger_attach(napi_env env, napi_value fn, lnc_conf_t *conf);

static void *detached_free_main(void *arg) {
  detached_free_t *d = arg;
  free_native(d->kind, d->ptr);
  if (d->store) store_release(d->store); /* no store callback can run any more */
  if (d->log) logger_release(d->log);     /* nor a log callback */
  free(d);
  return NULL;
}

static void watcher_stop(napi_env env, struct watcher *w);

/* Frees the native object (once). Quick frees run here; a free that may flush/join for seconds
 * (never closed) or call a user offset store (which needs this JS thread) runs on a detached
 * thread. At environment teardown everything is left to process exit. */
static void handle_free_native(handle_t *h) {
  void *ptr = h->ptr;
  struct store *s = h->store;
  struct logger *lg = h->log;
  h->ptr = NULL;
  h->store = NULL;
  h->log = NULL;
  if (!ptr || (h->ae && h->ae->exiting)) return;
  if (h->kind == K_ADMIN || (h->closed && !s)) {
    free_native(h->kind, ptr);
    if (s) store_release(s);
    if (lg) logger_release(lg);
    return;
  }
  detached_free_t *d = malloc(sizeof *d);
  pthread_t th;
  pthread_attr_t at;
  pthread_attr_init(&at);
  pthread_attr_setdetachstate(&at, PTHREAD_CREATE_DETACHED);
  if (d) {
    d->kind = h->kind;
    d->ptr = ptr;
    d->store = s;
    d->log = lg;
  }
  if (!d || pthread_create(&th, &at, detached_free_main, d) != 0) {
    free(d);
    /* A store callback would wait for this very thread: leak rather than deadlock. */
    if (!s) {
      free_native(h->kind, ptr);
      if (lg) logger_release(lg);
    }
  }
  pthread_attr_destroy(&at);
}

static void handle_release(napi_env env, handle_t *h) {
  if (--h->refs > 0) return;
  if (h->w) watcher_stop(env, h->w);
  handle_free_native(h);
  free(h);
}

static void handle_finalize(napi_env env, void *data, void *hint) {
  (void)hint;
  handle_release(env, (handle_t *)data);
}

static napi_value wrap_handle(napi_env env, int kind, void *ptr) {
  handle_t *h = calloc(1, sizeof *h);
  h->kind = kind;
  h->ptr = ptr;
  h->refs = 1;
  h->ae = get_ae(env);
  napi_value ext;
  if (napi_create_external(env, h, handle_finalize, NULL, &ext) != napi_ok) {
    free_native(kind, ptr);
    free(h);
    return NULL;
  }
  return ext;
}

/* wrap_handle, with the handle owning the log bridge `lg` (may be NULL). */
static napi_value wrap_logged(napi_env env, int kind, void *ptr, struct logger *lg) {
  napi_value ext = wrap_handle(env, kind, ptr);
  if (!ext) {
    if (lg) logger_release(lg);
    return NULL;
  }
  void *d = NULL;
  napi_get_value_external(env, ext, &d);
  ((handle_t *)d)->log = lg;
  return ext;
}

static handle_t *unwrap(napi_env env, napi_value v, int kind) {
  void *d = NULL;
  if (napi_get_value_external(env, v, &d) != napi_ok || !d || ((handle_t *)d)->kind != kind) {
    napi_throw_type_error(env, NULL, "invalid liblnc handle");
    return NULL;
  }
  if (!((handle_t *)d)->ptr || ((handle_t *)d)->disposed) {
    napi_throw(env, make_error_raw(env, LNC_ERR_CLOSED, "handle is closed", 0, 0, NULL, 0, 0));
    return NULL;
  }
  return (handle_t *)d;
}

/* dispose(h): frees the native handle as soon as no async work uses it; later calls get CLOSED. */
static napi_value js_handle_dispose(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  void *d = NULL;
  if (napi_get_value_external(env, argv[0], &d) != napi_ok || !d) {
    napi_throw_type_error(env, NULL, "invalid liblnc handle");
    return NULL;
  }
  handle_t *h = d;
  h->disposed = 1;
  if (h->works == 0) handle_free_native(h);
  return NULL;
}

/* ------------------------------------------------------------------------------------------ */
/* Readiness watcher: a thread doing poll(2) on an eventfd, waking JS via a threadsafe function */

typedef struct watcher {
  napi_threadsafe_function tsfn;
  pthread_t th;
  pthread_mutex_t mu;
  pthread_cond_t cv;
  int fd;
  int stopfd;
  int armed;
  int stop;
  int stopped; /* joined + released (JS thread) */
  int refd;
  napi_env env;
  handle_t *h; /* owner; its `w` is cleared when this watcher stops */
} watcher_t;

static void *watcher_main(void *arg) {
  watcher_t *w = arg;
  for (;;) {
    pthread_mutex_lock(&w->mu);
    while (!w->armed && !w->stop) pthread_cond_wait(&w->cv, &w->mu);
    int stop = w->stop;
    pthread_mutex_unlock(&w->mu);
    if (stop) break;
    struct pollfd pfd[2] = {{w->fd, POLLIN, 0}, {w->stopfd, POLLIN, 0}};
    int r = poll(pfd, 2, -1);
    if (r < 0) {
      if (errno == EINTR) continue;
      break;
    }
    if (pfd[1].revents) break;
    if (pfd[0].revents & POLLNVAL) break;
    if (pfd[0].revents) {
      pthread_mutex_lock(&w->mu);
      w->armed = 0;
      pthread_mutex_unlock(&w->mu);
      if (napi_call_threadsafe_function(w->tsfn, NULL, napi_tsfn_nonblocking) != napi_ok) break;
    }
  }
  return NULL;
}

static void watcher_call_js(napi_env env, napi_value js_cb, void *context, void *data) {
  (void)data;
  watcher_t *w = context;
  if (!env || !js_cb || w->stop) return;
  napi_value undef;
  napi_get_undefined(env, &undef);
  napi_call_function(env, undef, js_cb, 0, NULL, NULL);
}

static void watcher_finalize(napi_env env, void *data, void *hint) {
  (void)env;
  (void)hint;
  watcher_t *w = data;
  pthread_mutex_destroy(&w->mu);
  pthread_cond_destroy(&w->cv);
  free(w);
}

static void watcher_cleanup_hook(void *arg);

static void watcher_join(watcher_t *w) {
  pthread_mutex_lock(&w->mu);
  w->stop = 1;
  pthread_cond_signal(&w->cv);
  pthread_mutex_unlock(&w->mu);
  uint64_t one = 1;
  ssize_t wr = write(w->stopfd, &one, sizeof one);
  (void)wr;
  pthread_join(w->th, NULL);
  close(w->stopfd);
  w->stopped = 1;
}

static void watcher_cleanup_hook(void *arg) {
  /* Environment teardown (process exit / worker end): stop the thread; handles are leaked. */
  watcher_t *w = arg;
  addon_env_t *ae = get_ae(w->env);
  if (ae) ae->exiting = 1;
  if (!w->stopped) {
    watcher_join(w);
    if (w->h) w->h->w = NULL;
    napi_release_threadsafe_function(w->tsfn, napi_tsfn_abort);
  }
}

static void watcher_stop(napi_env env, watcher_t *w) {
  if (!w || w->stopped) return;
  watcher_join(w);
  if (w->h) w->h->w = NULL;
  napi_remove_env_cleanup_hook(env, watcher_cleanup_hook, w);
  /* A stopped watcher never keeps the loop alive, even while its function is being closed. */
  if (w->refd) napi_unref_threadsafe_function(env, w->tsfn);
  w->refd = 0;
  napi_release_threadsafe_function(w->tsfn, napi_tsfn_release);
}

static watcher_t *watcher_start(napi_env env, int fd, napi_value cb) {
  watcher_t *w = calloc(1, sizeof *w);
  if (!w) return NULL;
  w->fd = fd;
  w->env = env;
  w->stopfd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  pthread_mutex_init(&w->mu, NULL);
  pthread_cond_init(&w->cv, NULL);
  napi_value name;
  napi_create_string_utf8(env, "lnc-watcher", NAPI_AUTO_LENGTH, &name);
  if (w->stopfd < 0 || napi_create_threadsafe_function(env, cb, NULL, name, 0, 1, w, watcher_finalize, w,
                                                       watcher_call_js, &w->tsfn) != napi_ok) {
    if (w->stopfd >= 0) close(w->stopfd);
    free(w);
    return NULL;
  }
  napi_unref_threadsafe_function(env, w->tsfn);
  if (pthread_create(&w->th, NULL, watcher_main, w) != 0) {
    close(w->stopfd);
    napi_release_threadsafe_function(w->tsfn, napi_tsfn_abort);
    return NULL;
  }
  napi_add_env_cleanup_hook(env, watcher_cleanup_hook, w);
  return w;
}

/* watch(handle, fd-kind callback): start the handle's watcher (idempotent). */
static napi_value js_watch_start(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  void *d = NULL;
  CHECK(napi_get_value_external(env, argv[0], &d));
  handle_t *h = d;
  if (h->w) return NULL;
  int fd = -1;
  if (h->kind == K_PRODUCER) fd = lnc_producer_eventfd(h->ptr);
  else if (h->kind == K_CONSUMER) fd = lnc_consumer_eventfd(h->ptr);
  else if (h->kind == K_ADMIN) fd = lnc_admin_eventfd(h->ptr);
  if (fd < 0) {
    napi_throw_error(env, NULL, "handle has no eventfd");
    return NULL;
  }
  h->w = watcher_start(env, fd, argv[1]);
  if (h->w) h->w->h = h;
  if (!h->w) napi_throw_error(env, NULL, "cannot start the event watcher");
  return NULL;
}

/* arm(handle): wake JS (once) when the eventfd is readable. */
static napi_value js_watch_arm(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  void *d = NULL;
  CHECK(napi_get_value_external(env, argv[0], &d));
  watcher_t *w = ((handle_t *)d)->w;
  if (!w || w->stopped) return NULL;
  pthread_mutex_lock(&w->mu);
  if (!w->armed) {
    w->armed = 1;
    pthread_cond_signal(&w->cv);
  }
  pthread_mutex_unlock(&w->mu);
  return NULL;
}

/* ref(handle, bool): keep the event loop alive while waiting (true) or not (false). */
static napi_value js_watch_ref(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  void *d = NULL;
  bool on = false;
  CHECK(napi_get_value_external(env, argv[0], &d));
  CHECK(napi_get_value_bool(env, argv[1], &on));
  watcher_t *w = ((handle_t *)d)->w;
  if (!w || w->stopped || w->refd == (int)on) return NULL;
  w->refd = on;
  if (on) napi_ref_threadsafe_function(env, w->tsfn);
  else napi_unref_threadsafe_function(env, w->tsfn);
  return NULL;
}

static napi_value js_watch_stop(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  void *d = NULL;
  CHECK(napi_get_value_external(env, argv[0], &d));
  watcher_stop(env, ((handle_t *)d)->w);
  return NULL;
}

/* ------------------------------------------------------------------------------------------ */
/* User offset store: liblnc calls load/save on the thread making the consumer call (a libuv  */
/* pool thread here, or the thread freeing the consumer). The trampoline hands each call to    */
/* the JS thread through a threadsafe function and waits for the answer (the JS function may   */
/* settle later: it returns through storeDone). The JS thread itself never waits on a consumer */
/* that has a store: every blocking call runs as async work and the free runs detached.        */

typedef struct store {
  napi_threadsafe_function tsfn;
  pthread_mutex_t mu;
  int owner_released; /* the consumer is freed: no callback can start */
  int tsfn_gone;      /* the threadsafe function was finalized (release or env teardown) */
} store_t;

typedef struct store_req {
  pthread_mutex_t mu;
  pthread_cond_t cv;
  int refs; /* the waiting trampoline + the JS side (its external) */
  int done;
  int kind; /* 0 load, 1 save */
  uint32_t topic_id;
  uint64_t offset; /* save: in; load: out */
  int rc;          /* load: 1 found / 0 none / < 0 failed; save: 0 / < 0 failed */
} store_req_t;

static void store_req_unref(store_req_t *r) {
  pthread_mutex_lock(&r->mu);
  int left = --r->refs;
  pthread_mutex_unlock(&r->mu);
  if (left == 0) {
    pthread_mutex_destroy(&r->mu);
    pthread_cond_destroy(&r->cv);
    free(r);
  }
}

/* Completes a request once (later completions are ignored). */
static void store_req_finish(store_req_t *r, int rc, uint64_t offset) {
  pthread_mutex_lock(&r->mu);
  if (!r->done) {
    r->done = 1;
    r->rc = rc;
    if (rc == 1) r->offset = offset;
    pthread_cond_broadcast(&r->cv);
  }
  pthread_mutex_unlock(&r->mu);
}

static void store_free_if_unused(store_t *s, int owner, int tsfn) {
  pthread_mutex_lock(&s->mu);
  if (owner) s->owner_released = 1;
  if (tsfn) s->tsfn_gone = 1;
  int both = s->owner_released && s->tsfn_gone;
  pthread_mutex_unlock(&s->mu);
  if (both) {
    pthread_mutex_destroy(&s->mu);
    free(s);
  }
}

static int store_tsfn_gone(store_t *s) {
  pthread_mutex_lock(&s->mu);
  int gone = s->tsfn_gone;
  pthread_mutex_unlock(&s->mu);
  return gone;
}

static int store_call(store_t *s, int kind, uint32_t topic_id, uint64_t *offset) {
  store_req_t *r = calloc(1, sizeof *r);
  if (!r) return -1;
  pthread_mutex_init(&r->mu, NULL);
  pthread_cond_init(&r->cv, NULL);
  r->refs = 2;
  r->kind = kind;
  r->topic_id = topic_id;
  r->offset = kind == 1 ? *offset : 0;
  r->rc = -1;
  if (store_tsfn_gone(s) || napi_call_threadsafe_function(s->tsfn, r, napi_tsfn_nonblocking) != napi_ok) {
    r->refs = 1; /* the JS side never got it */
    store_req_unref(r);
    return -1;
  }
  pthread_mutex_lock(&r->mu);
  while (!r->done) {
    /* Environment teardown finalizes the function without running JS: check for it now and then. */
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_nsec += 200 * 1000000L;
    if (until.tv_nsec >= 1000000000L) {
      until.tv_sec += 1;
      until.tv_nsec -= 1000000000L;
    }
    pthread_cond_timedwait(&r->cv, &r->mu, &until);
    if (!r->done) {
      pthread_mutex_unlock(&r->mu);
      int gone = store_tsfn_gone(s);
      pthread_mutex_lock(&r->mu);
      if (gone && !r->done) break;
    }
  }
  int rc = r->done ? r->rc : -1;
  if (rc == 1 && kind == 0) *offset = r->offset;
  pthread_mutex_unlock(&r->mu);
  store_req_unref(r);
  return rc;
}

static int store_load_tramp(uint32_t topic_id, uint64_t *offset, void *opaque) {
  return store_call(opaque, 0, topic_id, offset);
}

static int store_save_tramp(uint32_t topic_id, uint64_t offset, void *opaque) {
  return store_call(opaque, 1, topic_id, &offset);
}

/* The JS side's hold on a request: if it is collected unanswered, the request fails. */
static void store_req_external_finalize(napi_env env, void *data, void *hint) {
  (void)env;
  (void)hint;
  store_req_t *r = data;
  store_req_finish(r, -1, 0);
  store_req_unref(r);
}

/* On the JS thread: fn(kind, topicId, offset, req); the JS side answers with storeDone(req, ...). */
static void store_call_js(napi_env env, napi_value js_cb, void *context, void *data) {
  (void)context;
  store_req_t *r = data;
  napi_value argv[4], undef, ext;
  if (!env || !js_cb || napi_create_external(env, r, store_req_external_finalize, NULL, &ext) != napi_ok) {
    store_req_finish(r, -1, 0);
    store_req_unref(r);
    return;
  }
  napi_get_undefined(env, &undef);
  napi_create_int32(env, r->kind, &argv[0]);
  napi_create_uint32(env, r->topic_id, &argv[1]);
  napi_create_bigint_uint64(env, r->offset, &argv[2]);
  argv[3] = ext;
  if (napi_call_function(env, undef, js_cb, 4, argv, NULL) != napi_ok) {
    napi_value exc;
    napi_get_and_clear_last_exception(env, &exc); /* the JS side catches its own errors */
    store_req_finish(r, -1, 0);
  }
}

static void store_tsfn_finalize(napi_env env, void *data, void *hint) {
  (void)env;
  (void)hint;
  store_free_if_unused(data, 0, 1);
}

static store_t *store_new(napi_env env, napi_value fn) {
  store_t *s = calloc(1, sizeof *s);
  if (!s) return NULL;
  pthread_mutex_init(&s->mu, NULL);
  napi_value name;
  napi_create_string_utf8(env, "lnc-offset-store", NAPI_AUTO_LENGTH, &name);
  if (napi_create_threadsafe_function(env, fn, NULL, name, 0, 1, s, store_tsfn_finalize, s, store_call_js, &s->tsfn) !=
      napi_ok) {
    pthread_mutex_destroy(&s->mu);
    free(s);
    return NULL;
  }
  /* Never keeps the loop alive by itself: the consumer call waiting on it does. */
  napi_unref_threadsafe_function(env, s->tsfn);
  return s;
}

/* After the consumer is freed (any thread). */
static void store_release(store_t *s) {
  napi_release_threadsafe_function(s->tsfn, napi_tsfn_release);
  store_free_if_unused(s, 1, 0);
}

/* storeDone(req, rc, offset?): the JS side's answer to one store call. */
static napi_value js_store_done(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  void *d = NULL;
  if (argc < 2 || napi_get_value_external(env, argv[0], &d) != napi_ok || !d) {
    napi_throw_type_error(env, NULL, "storeDone: bad request");
    return NULL;
  }
  int32_t rc = -1;
  napi_get_value_int32(env, argv[1], &rc);
  uint64_t off = 0;
  if (rc == 1) {
    bool lossless = false;
    if (argc < 3 || napi_get_value_bigint_uint64(env, argv[2], &off, &lossless) != napi_ok || !lossless) rc = -1;
  }
  store_req_finish(d, rc, off);
  return NULL;
}

/* ------------------------------------------------------------------------------------------ */
/* Async work                                                                                  */

enum {
  OP_P_FLUSH = 1, OP_P_CLOSE,
  OP_C_NEW, OP_C_POLL, OP_C_SEEK, OP_C_COMMIT, OP_C_LAG, OP_C_CLOSE,
  OP_A_CREATE, OP_A_ENSURE, OP_A_CREATE_RET, OP_A_LIST, OP_A_FIND, OP_A_GET, OP_A_DELETE, OP_A_SET_RET,
  OP_A_STATUS, OP_A_PING, OP_A_AUTH, OP_A_FETCH, OP_A_SUBSCRIBE, OP_A_UNSUBSCRIBE, OP_A_COMMIT_OFFSET,
  OP_M_RESTART, OP_M_STOP,
  OP_P_SEND, OP_P_TOPIC_ID, /* internal only: after the numbers the JS layer uses */
  OP_G_NEW, OP_G_POLL, OP_G_CLOSE,
};

/* Messages built from JS rows [type, extType, key, value, timestampNs, opaque]. */
typedef struct msgs {
  lnc_message_t *msgs;
  size_t count;
  char **owned; /* 2 per message: copies freed with the messages */
} msgs_t;

static void msgs_clear(msgs_t *m);

typedef struct {
  napi_async_work work;
  napi_deferred deferred;
  handle_t *h;
  int op;
  /* inputs */
  int32_t timeout_ms;
  char *str;
  uint32_t topic_id;
  uint64_t a, b, c;
  lnc_conf_t *conf;
  store_t *store; /* OP_C_NEW with a user offset store */
  msgs_t *msgs;                /* OP_P_SEND: owned copies */
  const lnc_cancel_t *cancel;  /* may be NULL; kept alive by cancel_ref */
  napi_ref cancel_ref;
  /* outputs */
  lnc_err_t rc;
  lnc_error_t *err;
  uint64_t u;
  size_t n;
  lnc_topic_t topic;
  lnc_topic_t *topics;
  lnc_cluster_status_t status;
  lnc_fetch_result_t fetch;
  uint32_t topic_out;
  void *newptr;
  /* consumer poll, converted off the JS thread */
  uint8_t *slab;
  size_t slab_len;
  double *meta;
  uint64_t *ts;
  struct logger *log;          /* OP_C_NEW, OP_G_NEW: the log bridge, handed to the new handle */
  lnc_group_events_t *gevents; /* OP_G_POLL: converted on the JS thread */
} work_t;

#define META_FIELDS 8 /* type, extType(-1), unused, keyStart(-1), keyLen, dataStart, dataLen, hasTs */
/* and w->ts: 2 u64 per record, [timestamp_ns, offset] (exact, as BigInts) */

static void convert_records(work_t *w, lnc_records_t *recs) {
  size_t n = lnc_records_count(recs);
  const lnc_record_view_t *v = lnc_records_views(recs);
  w->n = n;
  if (n == 0 || !v) {
    w->n = 0;
    return;
  }
  size_t total = 0;
  for (size_t i = 0; i < n; i++) total += (v[i].has_key ? v[i].key_len : 0) + v[i].data_len;
  w->slab = malloc(total ? total : 1);
  w->slab_len = total;
  w->meta = malloc(n * META_FIELDS * sizeof(double));
  w->ts = malloc(2 * n * sizeof(uint64_t));
  size_t pos = 0;
  for (size_t i = 0; i < n; i++) {
    double *m = w->meta + i * META_FIELDS;
    m[0] = v[i].record_type;
    m[1] = v[i].has_ext_type ? v[i].ext_type : -1;
    m[2] = 0;
    w->ts[2 * i + 1] = v[i].offset;
    if (v[i].has_key) {
      m[3] = (double)pos;
      m[4] = (double)v[i].key_len;
      if (v[i].key_len) memcpy(w->slab + pos, v[i].key, v[i].key_len);
      pos += v[i].key_len;
    } else {
      m[3] = -1;
      m[4] = 0;
    }
    m[5] = (double)pos;
    m[6] = (double)v[i].data_len;
    if (v[i].data_len) memcpy(w->slab + pos, v[i].data, v[i].data_len);
    pos += v[i].data_len;
    m[7] = v[i].has_timestamp;
    w->ts[2 * i] = v[i].has_timestamp ? v[i].timestamp_ns : 0;
  }
}

static void work_execute(napi_env env, void *data) {
  (void)env;
  work_t *w = data;
  void *p = w->h ? w->h->ptr : NULL;
  switch (w->op) {
    case OP_P_FLUSH: w->rc = lnc_producer_flush(p, w->timeout_ms, &w->n, &w->err); break;
    case OP_P_CLOSE: w->rc = lnc_producer_close(p, w->timeout_ms, &w->err); break;
    case OP_P_SEND: {
      lnc_send_options_t o;
      memset(&o, 0, sizeof o);
      o.topic_name = w->str;
      o.timeout_ms = w->timeout_ms;
      o.cancel = w->cancel;
      w->rc = lnc_producer_send_with_options(p, w->topic_id, w->msgs->msgs, w->msgs->count, &o, &w->topic_out, &w->err);
      break;
    }
    case OP_P_TOPIC_ID:
      w->rc = lnc_producer_topic_id(p, w->str, w->timeout_ms, w->cancel, &w->topic_out, &w->err);
      break;
    case OP_C_NEW: {
      lnc_consumer_t *c = NULL;
      if (w->store)
        w->rc = lnc_consumer_new_with_store(w->conf, store_load_tramp, store_save_tramp, w->store, w->timeout_ms, &c,
                                            &w->err);
      else
        w->rc = lnc_consumer_new(w->conf, w->timeout_ms, &c, &w->err);
      if (w->rc == LNC_ERR_OK) {
        w->conf = NULL; /* taken */
        w->newptr = c;
      }
      break;
    }
    case OP_C_POLL: {
      lnc_records_t *recs = NULL;
      w->rc = lnc_consumer_poll(p, w->timeout_ms, &recs, &w->err);
      if (w->rc == LNC_ERR_OK && recs) convert_records(w, recs);
      lnc_records_free(recs);
      break;
    }
    case OP_C_SEEK: w->rc = lnc_consumer_seek(p, (int)w->a, w->b, w->timeout_ms, &w->u, &w->err); break;
    case OP_C_COMMIT: w->rc = lnc_consumer_commit(p, w->timeout_ms, &w->u, &w->err); break;
    case OP_C_LAG: w->rc = lnc_consumer_lag(p, w->timeout_ms, &w->u, &w->err); break;
    case OP_C_CLOSE: w->rc = lnc_consumer_close(p, w->timeout_ms); break;
    case OP_A_CREATE: w->rc = lnc_admin_create_topic(p, w->str, w->timeout_ms, &w->topic, &w->err); break;
    case OP_A_ENSURE: w->rc = lnc_admin_ensure_topic(p, w->str, w->timeout_ms, &w->topic, &w->err); break;
    case OP_A_CREATE_RET:
      w->rc = lnc_admin_create_topic_with_retention(p, w->str, w->a, w->b, w->timeout_ms, &w->topic, &w->err);
      break;
    case OP_A_LIST: w->rc = lnc_admin_list_topics(p, w->timeout_ms, &w->topics, &w->n, &w->err); break;
    case OP_A_FIND: w->rc = lnc_admin_find_topic(p, w->str, w->timeout_ms, &w->topic, &w->err); break;
    case OP_A_GET: w->rc = lnc_admin_get_topic(p, w->topic_id, w->timeout_ms, &w->topic, &w->err); break;
    case OP_A_DELETE: w->rc = lnc_admin_delete_topic(p, w->topic_id, w->timeout_ms, &w->err); break;
    case OP_A_SET_RET: w->rc = lnc_admin_set_retention(p, w->topic_id, w->a, w->b, w->timeout_ms, &w->err); break;
    case OP_A_STATUS: w->rc = lnc_admin_cluster_status(p, w->timeout_ms, &w->status, &w->err); break;
    case OP_A_PING: w->rc = lnc_admin_ping(p, w->timeout_ms, &w->u, &w->err); break;
    case OP_A_AUTH: w->rc = lnc_admin_authenticate(p, w->str ? w->str : "", w->timeout_ms, &w->err); break;
    case OP_A_FETCH:
      w->rc = lnc_admin_fetch(p, w->topic_id, w->a, (uint32_t)w->b, w->timeout_ms, &w->fetch, &w->err);
      break;
    case OP_A_SUBSCRIBE:
      w->rc = lnc_admin_subscribe(p, w->topic_id, w->a, (uint32_t)w->b, w->c, w->timeout_ms, &w->u, &w->err);
      break;
    case OP_A_UNSUBSCRIBE: w->rc = lnc_admin_unsubscribe(p, w->topic_id, w->c, w->timeout_ms, &w->err); break;
    case OP_A_COMMIT_OFFSET:
      w->rc = lnc_admin_commit_offset(p, w->topic_id, w->c, w->a, w->timeout_ms, &w->err);
      break;
    case OP_G_NEW: {
      lnc_group_consumer_t *g = NULL;
      w->rc = lnc_group_consumer_new(w->conf, &g, &w->err);
      if (w->rc == LNC_ERR_OK) {
        w->conf = NULL; /* taken */
        w->newptr = g;
      }
      break;
    }
    case OP_G_POLL: w->rc = lnc_group_consumer_poll(p, w->timeout_ms, &w->gevents, &w->err); break;
    case OP_G_CLOSE: w->rc = lnc_group_consumer_close(p, w->timeout_ms); break;
    case OP_M_RESTART: w->rc = lnc_mock_restart(p); break;
    case OP_M_STOP: w->rc = lnc_mock_stop(p); break;
  }
}

#define MAX_SAFE_U64 9007199254740991ULL /* 2^53 - 1 */

/* Counters and times kept as numbers: set when one was above 2^53 (the caller then raises a
 * RangeError rather than hand out a rounded value). JS thread only. */
static int u64_inexact;

static napi_value u64_num(napi_env env, uint64_t x) {
  napi_value v;
  if (x > MAX_SAFE_U64) u64_inexact = 1;
  napi_create_double(env, (double)x, &v);
  return v;
}

/* Retention limits: LNC_RETENTION_UNLIMITED (u64 max) is Infinity. */
static napi_value u64_to_js(napi_env env, uint64_t x) {
  napi_value v;
  if (x == UINT64_MAX) napi_get_global(env, &v), napi_get_named_property(env, v, "Infinity", &v);
  else v = u64_num(env, x);
  return v;
}

static napi_value u64_big(napi_env env, uint64_t x) {
  napi_value v;
  napi_create_bigint_uint64(env, x, &v);
  return v;
}

static void set_prop(napi_env env, napi_value obj, const char *name, napi_value v) {
  napi_set_named_property(env, obj, name, v);
}
static void set_num(napi_env env, napi_value obj, const char *name, double d) {
  napi_value v;
  napi_create_double(env, d, &v);
  napi_set_named_property(env, obj, name, v);
}
static void set_u64(napi_env env, napi_value obj, const char *name, uint64_t x) {
  napi_set_named_property(env, obj, name, u64_num(env, x));
}
static void set_bool(napi_env env, napi_value obj, const char *name, int b) {
  napi_value v;
  napi_get_boolean(env, b != 0, &v);
  napi_set_named_property(env, obj, name, v);
}

static napi_value topic_to_js(napi_env env, const lnc_topic_t *t) {
  napi_value o, s;
  napi_create_object(env, &o);
  set_num(env, o, "id", t->id);
  napi_create_string_utf8(env, t->name, strnlen(t->name, sizeof t->name), &s);
  set_prop(env, o, "name", s);
  set_u64(env, o, "createdAt", t->created_at);
  set_u64(env, o, "topicEpoch", t->topic_epoch);
  if (t->has_retention) {
    napi_value r;
    napi_create_object(env, &r);
    set_prop(env, r, "maxAgeSecs", u64_to_js(env, t->max_age_secs));
    set_prop(env, r, "maxBytes", u64_to_js(env, t->max_bytes));
    set_prop(env, o, "retention", r);
  } else {
    napi_value nul;
    napi_get_null(env, &nul);
    set_prop(env, o, "retention", nul);
  }
  return o;
}

static void free_slab(napi_env env, void *data, void *hint) {
  (void)env;
  (void)hint;
  free(data);
}

static napi_value typed_copy(napi_env env, napi_typedarray_type type, const void *src, size_t count, size_t es) {
  napi_value ab, ta;
  void *dst = NULL;
  napi_create_arraybuffer(env, count * es, &dst, &ab);
  if (count) memcpy(dst, src, count * es);
  napi_create_typedarray(env, type, count, ab, 0, &ta);
  return ta;
}

static napi_value group_events_to_js(napi_env env, const lnc_group_events_t *evs);

static void work_complete(napi_env env, napi_status status, void *data) {
  work_t *w = data;
  napi_value result = NULL;
  u64_inexact = 0;
  int ok = status == napi_ok && w->rc == LNC_ERR_OK;
  if (w->op == OP_P_FLUSH && status == napi_ok && (w->rc == LNC_ERR_OK || w->rc == LNC_ERR_TIMED_OUT)) ok = 1;
  /* DELIVERY_FAILED from close: the producer is closed all the same (the promise rejects). */
  if (w->op == OP_P_CLOSE && w->rc == LNC_ERR_DELIVERY_FAILED && w->h) w->h->closed = 1;
  if (ok) {
    switch (w->op) {
      case OP_P_FLUSH: napi_create_double(env, (double)w->n, &result); break;
      case OP_P_SEND: case OP_P_TOPIC_ID: napi_create_uint32(env, w->topic_out, &result); break;
      case OP_P_CLOSE: case OP_C_CLOSE: case OP_G_CLOSE:
        if (w->h) w->h->closed = 1;
        napi_get_undefined(env, &result);
        break;
      case OP_M_STOP:
        if (w->h) w->h->closed = 1;
        napi_get_undefined(env, &result);
        break;
      case OP_C_NEW:
        result = wrap_handle(env, K_CONSUMER, w->newptr);
        if (result) {
          void *d = NULL;
          napi_get_value_external(env, result, &d);
          ((handle_t *)d)->store = w->store; /* released after the consumer is freed */
          ((handle_t *)d)->log = w->log;
          w->store = NULL;
          w->log = NULL;
        } else {
          napi_get_undefined(env, &result);
        }
        break;
      case OP_G_NEW:
        result = wrap_handle(env, K_GROUP, w->newptr);
        if (result) {
          void *d = NULL;
          napi_get_value_external(env, result, &d);
          ((handle_t *)d)->log = w->log;
          w->log = NULL;
        } else {
          napi_get_undefined(env, &result);
        }
        break;
      case OP_G_POLL: result = group_events_to_js(env, w->gevents); break;
      case OP_C_POLL:
        if (w->n == 0) {
          napi_get_null(env, &result);
        } else {
          napi_value buf;
          napi_create_object(env, &result);
          set_num(env, result, "n", (double)w->n);
          set_prop(env, result, "meta", typed_copy(env, napi_float64_array, w->meta, w->n * META_FIELDS, 8));
          set_prop(env, result, "ts", typed_copy(env, napi_biguint64_array, w->ts, 2 * w->n, 8));
          if (napi_create_external_buffer(env, w->slab_len, w->slab, free_slab, NULL, &buf) == napi_ok) {
            w->slab = NULL; /* owned by the Buffer now */
          } else {
            napi_create_buffer_copy(env, w->slab_len, w->slab, NULL, &buf);
          }
          set_prop(env, result, "data", buf);
        }
        break;
      case OP_C_SEEK: case OP_C_COMMIT: case OP_C_LAG: case OP_A_SUBSCRIBE:
        result = u64_big(env, w->u); /* offsets, positions and lag: exact */
        break;
      case OP_A_PING: napi_create_double(env, (double)w->u / 1000.0, &result); break; /* µs -> ms */
      case OP_A_CREATE: case OP_A_ENSURE: case OP_A_CREATE_RET: case OP_A_FIND: case OP_A_GET:
        result = topic_to_js(env, &w->topic);
        break;
      case OP_A_LIST:
        napi_create_array_with_length(env, w->n, &result);
        for (size_t i = 0; i < w->n; i++) napi_set_element(env, result, (uint32_t)i, topic_to_js(env, &w->topics[i]));
        break;
      case OP_A_STATUS: {
        const lnc_cluster_status_t *s = &w->status;
        napi_create_object(env, &result);
        set_u64(env, result, "currentTerm", s->current_term);
        set_num(env, result, "healthyNodes", s->healthy_nodes);
        set_num(env, result, "nodeCount", s->node_count);
        set_num(env, result, "nodeId", s->node_id);
        set_num(env, result, "leaderId", s->leader_id);
        set_bool(env, result, "isLeader", s->is_leader);
        set_bool(env, result, "quorumAvailable", s->quorum_available);
        set_bool(env, result, "isStandalone", s->is_standalone);
        break;
      }
      case OP_A_FETCH: {
        napi_value buf;
        napi_create_object(env, &result);
        set_bool(env, result, "catchingUp", w->fetch.catching_up);
        set_prop(env, result, "nextOffset", u64_big(env, w->fetch.next_offset));
        set_prop(env, result, "endOffset", u64_big(env, w->fetch.end_offset));
        napi_create_buffer_copy(env, w->fetch.data_len, w->fetch.data ? (void *)w->fetch.data : (void *)"", NULL,
                                &buf);
        set_prop(env, result, "data", buf);
        break;
      }
      default: napi_get_undefined(env, &result);
    }
    if (u64_inexact) {
      napi_value msg, e;
      napi_create_string_utf8(env, "a value above 2^53 cannot be a number", NAPI_AUTO_LENGTH, &msg);
      napi_create_range_error(env, NULL, msg, &e);
      napi_reject_deferred(env, w->deferred, e);
    } else {
      napi_resolve_deferred(env, w->deferred, result);
    }
  } else {
    napi_value e = status == napi_ok ? make_error(env, w->rc, w->err)
                                     : make_error_raw(env, LNC_ERR_STATE, "async work cancelled", 0, 0, NULL, 0, 0);
    napi_reject_deferred(env, w->deferred, e);
  }
  lnc_error_free(w->err);
  lnc_topics_free(w->topics, w->n);
  lnc_fetch_result_clear(&w->fetch);
  if (w->conf) lnc_conf_free(w->conf);
  free(w->str);
  free(w->slab);
  free(w->meta);
  free(w->ts);
  napi_delete_async_work(env, w->work);
  if (w->store) store_release(w->store); /* a consumer that was never created */
  if (w->log) logger_release(w->log);     /* likewise */
  lnc_group_events_free(w->gevents);
  if (w->msgs) {
    msgs_clear(w->msgs);
    free(w->msgs);
  }
  if (w->cancel_ref) napi_delete_reference(env, w->cancel_ref);
  if (w->h) {
    if (--w->h->works == 0 && w->h->disposed) handle_free_native(w->h);
    handle_release(env, w->h);
  }
  free(w);
}

/* Queues `w` and returns its Promise. */
static napi_value queue_work(napi_env env, work_t *w) {
  napi_value promise, name;
  if (napi_create_promise(env, &w->deferred, &promise) != napi_ok) {
    free(w->str);
    free(w);
    return NULL;
  }
  napi_create_string_utf8(env, "lnc", NAPI_AUTO_LENGTH, &name);
  napi_create_async_work(env, NULL, name, work_execute, work_complete, w, &w->work);
  if (w->h) {
    w->h->refs++;
    w->h->works++;
  }
  napi_queue_async_work(env, w->work);
  return promise;
}

static work_t *new_work(handle_t *h, int op) {
  work_t *w = calloc(1, sizeof *w);
  w->h = h;
  w->op = op;
  w->timeout_ms = -1;
  return w;
}

/* ------------------------------------------------------------------------------------------ */
/* Cancellation tokens (lnc_cancel_t): fired from JS (an AbortSignal) to end a call's waits.   */

static void cancel_finalize(napi_env env, void *data, void *hint) {
  (void)env;
  (void)hint;
  lnc_cancel_free(data); /* no call uses it: each holds a reference to this external */
}

static napi_value js_cancel_new(napi_env env, napi_callback_info info) {
  (void)info;
  napi_value ext;
  lnc_cancel_t *c = lnc_cancel_new();
  if (!c) {
    napi_throw_error(env, NULL, "out of memory");
    return NULL;
  }
  if (napi_create_external(env, c, cancel_finalize, NULL, &ext) != napi_ok) {
    lnc_cancel_free(c);
    return NULL;
  }
  return ext;
}

static napi_value js_cancel_fire(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  void *d = NULL;
  if (napi_get_value_external(env, argv[0], &d) == napi_ok && d) lnc_cancel_fire(d);
  return NULL;
}

/* The token in `v` (an external from cancelNew, or undefined: NULL), referenced by the call. */
static const lnc_cancel_t *get_cancel(napi_env env, napi_value v, napi_ref *ref) {
  void *d = NULL;
  napi_valuetype t;
  *ref = NULL;
  if (napi_typeof(env, v, &t) != napi_ok || t != napi_external) return NULL;
  if (napi_get_value_external(env, v, &d) != napi_ok || !d) return NULL;
  if (napi_create_reference(env, v, 1, ref) != napi_ok) return NULL;
  return d;
}

/* ------------------------------------------------------------------------------------------ */
/* Producer                                                                                    */

/* producerNew(pairs, logger?) */
static napi_value js_producer_new(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  lnc_conf_t *conf = build_conf(env, argv[0]);
  if (!conf) return NULL;
  struct logger *lg = argc > 1 ? logger_attach(env, argv[1], conf) : NULL;
  lnc_producer_t *p = NULL;
  lnc_error_t *err = NULL;
  lnc_err_t rc = lnc_producer_new(conf, NULL, NULL, &p, &err);
  if (rc != LNC_ERR_OK) {
    lnc_conf_free(conf);
    if (lg) logger_release(lg);
    return throw_lnc(env, rc, err);
  }
  return wrap_logged(env, K_PRODUCER, p, lg);
}

/* Bytes of a batch member: like get_bytes, but a string is encoded into a fresh allocation
 * (`*owned`, freed by the caller) since every member must stay valid for the whole call. */
static int get_bytes_owned(napi_env env, addon_env_t *ae, napi_value v, const uint8_t **p, size_t *len,
                           int *present, char **owned) {
  napi_valuetype t;
  *owned = NULL;
  if (napi_typeof(env, v, &t) == napi_ok && t == napi_string) {
    size_t n = 0;
    napi_get_value_string_utf8(env, v, NULL, 0, &n);
    char *b = malloc(n + 1);
    if (!b) return 0;
    napi_get_value_string_utf8(env, v, b, n + 1, &n);
    *owned = b;
    *p = (const uint8_t *)b;
    *len = n;
    *present = 1;
    return 1;
  }
  return get_bytes(env, ae, 0, v, p, len, present);
}

/* The topic argument pair of every send: a name (string) is used when the id is 0 and is resolved
 * by liblnc (looked up, created with topic.auto.create, cached). Throws and returns 0 on failure. */
static int get_topic(napi_env env, napi_value id_v, napi_value name_v, uint32_t *id, char **name) {
  *id = 0;
  *name = NULL;
  napi_get_value_uint32(env, id_v, id);
  napi_valuetype t;
  if (napi_typeof(env, name_v, &t) == napi_ok && t == napi_string) {
    *name = get_str(env, name_v);
    if (!*name) {
      napi_throw_error(env, NULL, "out of memory");
      return 0;
    }
  }
  return 1;
}

/* produce(h, topicId, name, type, extType, key, value, timestampNs, opaque) -> topic id used.
 * The hot path: one record, never waiting for space (QUEUE_FULL at once), bytes borrowed. */
static napi_value js_producer_produce(napi_env env, napi_callback_info info) {
  size_t argc = 9;
  napi_value argv[9], result;
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  void *d = NULL;
  if (argc < 9 || napi_get_value_external(env, argv[0], &d) != napi_ok || !d ||
      ((handle_t *)d)->kind != K_PRODUCER) {
    napi_throw_type_error(env, NULL, "produce: bad arguments");
    return NULL;
  }
  handle_t *h = d;
  uint32_t topic = 0, type = 0, ext = 0, used = 0;
  char *name = NULL;
  if (!get_topic(env, argv[1], argv[2], &topic, &name)) return NULL;
  napi_get_value_uint32(env, argv[3], &type);
  napi_get_value_uint32(env, argv[4], &ext);
  lnc_message_t msg;
  memset(&msg, 0, sizeof msg);
  int has_key = 0, has_value = 0;
  if (!get_bytes(env, h->ae, 0, argv[5], &msg.key, &msg.key_len, &has_key) ||
      !get_bytes(env, h->ae, 1, argv[6], &msg.value, &msg.value_len, &has_value)) {
    free(name);
    napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", "key and value must be a Buffer, typed array or string");
    return NULL;
  }
  if (has_key && !msg.key) msg.key = (const uint8_t *)""; /* empty key, not "no key" */
  if (!has_key) msg.key = NULL;
  msg.record_type = (uint8_t)type;
  msg.ext_type = (uint16_t)ext;
  if (!get_u64(env, argv[7], &msg.timestamp_ns)) msg.timestamp_ns = 0;
  double op = 0;
  napi_get_value_double(env, argv[8], &op);
  msg.opaque = (void *)(uintptr_t)op;
  lnc_send_options_t opts;
  memset(&opts, 0, sizeof opts);
  opts.topic_name = name;
  opts.timeout_ms = 0;
  lnc_error_t *err = NULL;
  lnc_err_t rc = lnc_producer_send_with_options(h->ptr, topic, &msg, 1, &opts, &used, &err);
  free(name);
  if (rc != LNC_ERR_OK) return throw_lnc(env, rc, err);
  napi_create_uint32(env, used, &result);
  return result;
}


static void msgs_clear(msgs_t *m) {
  if (m->owned)
    for (size_t i = 0; i < 2 * m->count; i++) free(m->owned[i]);
  free(m->owned);
  free(m->msgs);
  memset(m, 0, sizeof *m);
}

/* Makes `*p` (len bytes) a private copy in `*owned` (a string is already one). */
static int own_bytes(const uint8_t **p, size_t len, char **owned) {
  if (*owned || !*p) return 1;
  char *b = malloc(len ? len : 1);
  if (!b) return 0;
  if (len) memcpy(b, *p, len);
  *owned = b;
  *p = (const uint8_t *)b;
  return 1;
}

/* rows -> messages. copy = 0 borrows Buffers (valid during this JS call only); copy = 1 copies
 * every byte, for a send that runs later on another thread. Throws and returns 0 on a bad row. */
static int msgs_from_rows(napi_env env, addon_env_t *ae, napi_value rows, int copy, msgs_t *out) {
  bool is_array = false;
  uint32_t n = 0;
  memset(out, 0, sizeof *out);
  if (napi_is_array(env, rows, &is_array) != napi_ok || !is_array) {
    napi_throw_type_error(env, NULL, "records must be an array");
    return 0;
  }
  napi_get_array_length(env, rows, &n);
  out->count = n;
  out->msgs = calloc(n ? n : 1, sizeof *out->msgs);
  out->owned = calloc(n ? 2 * (size_t)n : 1, sizeof *out->owned);
  if (!out->msgs || !out->owned) {
    msgs_clear(out);
    napi_throw_error(env, NULL, "out of memory");
    return 0;
  }
  for (uint32_t i = 0; i < n; i++) {
    napi_value rec, f[6];
    napi_get_element(env, rows, i, &rec);
    for (uint32_t k = 0; k < 6; k++) napi_get_element(env, rec, k, &f[k]);
    lnc_message_t *m = &out->msgs[i];
    uint32_t type = 0, ext = 0;
    napi_get_value_uint32(env, f[0], &type);
    napi_get_value_uint32(env, f[1], &ext);
    int has_key = 0, has_value = 0;
    if (!get_bytes_owned(env, ae, f[2], &m->key, &m->key_len, &has_key, &out->owned[2 * i]) ||
        !get_bytes_owned(env, ae, f[3], &m->value, &m->value_len, &has_value, &out->owned[2 * i + 1])) {
      msgs_clear(out);
      napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", "key and value must be a Buffer, typed array or string");
      return 0;
    }
    if (copy && (!own_bytes(&m->key, m->key_len, &out->owned[2 * i]) ||
                 !own_bytes(&m->value, m->value_len, &out->owned[2 * i + 1]))) {
      msgs_clear(out);
      napi_throw_error(env, NULL, "out of memory");
      return 0;
    }
    if (has_key && !m->key) m->key = (const uint8_t *)""; /* empty key, not "no key" */
    if (!has_key) m->key = NULL;
    m->record_type = (uint8_t)type;
    m->ext_type = (uint16_t)ext;
    if (!get_u64(env, f[4], &m->timestamp_ns)) m->timestamp_ns = 0;
    double op = 0;
    napi_get_value_double(env, f[5], &op);
    m->opaque = (void *)(uintptr_t)op;
  }
  return 1;
}

/* sendNow(h, topicId, name, rows) -> topic id used: appends the rows atomically (all accepted or
 * none) without waiting for space (QUEUE_FULL at once). */
static napi_value js_producer_send_now(napi_env env, napi_callback_info info) {
  size_t argc = 4;
  napi_value argv[4], result;
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  handle_t *h = unwrap(env, argv[0], K_PRODUCER);
  if (!h) return NULL;
  uint32_t topic = 0, used = 0;
  char *name = NULL;
  if (!get_topic(env, argv[1], argv[2], &topic, &name)) return NULL;
  msgs_t m;
  if (!msgs_from_rows(env, h->ae, argv[3], 0, &m)) {
    free(name);
    return NULL;
  }
  lnc_send_options_t opts;
  memset(&opts, 0, sizeof opts);
  opts.topic_name = name;
  opts.timeout_ms = 0;
  lnc_error_t *err = NULL;
  lnc_err_t rc = lnc_producer_send_with_options(h->ptr, topic, m.msgs, m.count, &opts, &used, &err);
  msgs_clear(&m);
  free(name);
  if (rc != LNC_ERR_OK) return throw_lnc(env, rc, err);
  napi_create_uint32(env, used, &result);
  return result;
}

/* sendLater(h, topicId, name, rows, timeoutMs, cancel) -> Promise<topic id used>: the slow path,
 * on the thread pool with copies of the bytes: resolves the name (network on a cache miss) and
 * waits for space up to timeoutMs (< 0 = send.block / send.timeout.ms). */
static napi_value js_producer_send_later(napi_env env, napi_callback_info info) {
  size_t argc = 6;
  napi_value argv[6];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  handle_t *h = unwrap(env, argv[0], K_PRODUCER);
  if (!h) return NULL;
  uint32_t topic = 0;
  char *name = NULL;
  if (!get_topic(env, argv[1], argv[2], &topic, &name)) return NULL;
  msgs_t *m = calloc(1, sizeof *m);
  if (!m || !msgs_from_rows(env, h->ae, argv[3], 1, m)) {
    free(m);
    free(name);
    return NULL;
  }
  work_t *w = new_work(h, OP_P_SEND);
  w->str = name;
  w->topic_id = topic;
  w->msgs = m;
  w->timeout_ms = get_i32(env, argv[4], -1);
  w->cancel = get_cancel(env, argv[5], &w->cancel_ref);
  return queue_work(env, w);
}

/* topicId(h, name, timeoutMs, cancel) -> Promise<id>: liblnc's name cache (network on a miss). */
static napi_value js_producer_topic_id(napi_env env, napi_callback_info info) {
  size_t argc = 4;
  napi_value argv[4];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  handle_t *h = unwrap(env, argv[0], K_PRODUCER);
  if (!h) return NULL;
  char *name = get_str(env, argv[1]);
  if (!name) {
    napi_throw_type_error(env, NULL, "topic name must be a string");
    return NULL;
  }
  work_t *w = new_work(h, OP_P_TOPIC_ID);
  w->str = name;
  w->timeout_ms = get_i32(env, argv[2], -1);
  w->cancel = get_cancel(env, argv[3], &w->cancel_ref);
  return queue_work(env, w);
}

#define REPORT_CHUNK 4096
#define DRAIN_MAX 65536

/* drain(h) -> null | { n, meta: Float64Array(4n) [opaque, topicId, unused, errCode],
 *                      batchIds: BigUint64Array(n), errors: Array|null }.
 * Takes every waiting report (up to DRAIN_MAX) with lnc_producer_poll_reports, never waiting. */
static napi_value js_producer_drain(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  handle_t *h = unwrap(env, argv[0], K_PRODUCER);
  if (!h) return NULL;
  static __thread lnc_report_t reps[REPORT_CHUNK];
  double *meta = NULL;
  uint64_t *bids = NULL;
  size_t n = 0, cap = 0;
  napi_value errors = NULL, last_err = NULL;
  int last_code = 0;
  const char *last_msg = NULL;
  char *last_msg_copy = NULL;
  while (n < DRAIN_MAX) {
    size_t got = 0;
    lnc_err_t rc = lnc_producer_poll_reports(h->ptr, 0, reps, REPORT_CHUNK, &got);
    if (rc != LNC_ERR_OK || got == 0) break;
    if (n + got > cap) {
      cap = (n + got) * 2;
      double *m = realloc(meta, cap * 4 * sizeof(double));
      if (m) meta = m;
      uint64_t *b = m ? realloc(bids, cap * sizeof(uint64_t)) : NULL;
      if (b) bids = b;
      if (!m || !b) break; /* unreachable in practice; reports already taken would be lost */
    }
    for (size_t i = 0; i < got; i++) {
      lnc_report_t *r = &reps[i];
      double *m = meta + (n + i) * 4;
      m[0] = (double)(uintptr_t)r->opaque;
      m[1] = r->topic_id;
      m[2] = 0;
      bids[n + i] = r->batch_id;
      m[3] = r->err;
      if (r->err != LNC_ERR_OK) {
        if (!errors) napi_create_array(env, &errors);
        /* Reports of one failed batch share one error: reuse the JS object for identical runs. */
        const char *msg = lnc_error_message(r->error);
        if (!(last_err && last_code == r->err && msg && last_msg && strcmp(msg, last_msg) == 0)) {
          last_err = make_error(env, r->err, r->error);
          last_code = r->err;
          free(last_msg_copy);
          last_msg_copy = msg ? strdup(msg) : NULL;
          last_msg = last_msg_copy;
        }
        napi_set_element(env, errors, (uint32_t)(n + i), last_err);
      }
      lnc_error_free(r->error);
    }
    n += got;
    if (got < REPORT_CHUNK) break;
  }
  free(last_msg_copy);
  napi_value result;
  if (n == 0) {
    free(meta);
    free(bids);
    napi_get_null(env, &result);
    return result;
  }
  napi_create_object(env, &result);
  set_num(env, result, "n", (double)n);
  set_prop(env, result, "meta", typed_copy(env, napi_float64_array, meta, n * 4, 8));
  set_prop(env, result, "batchIds", typed_copy(env, napi_biguint64_array, bids, n, 8));
  free(bids);
  if (!errors) napi_get_null(env, &errors);
  set_prop(env, result, "errors", errors);
  free(meta);
  return result;
}

static napi_value js_producer_flush(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  handle_t *h = unwrap(env, argv[0], K_PRODUCER);
  if (!h) return NULL;
  work_t *w = new_work(h, OP_P_FLUSH);
  w->timeout_ms = get_i32(env, argv[1], -1);
  return queue_work(env, w);
}

static napi_value js_producer_close(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  handle_t *h = unwrap(env, argv[0], K_PRODUCER);
  if (!h) return NULL;
  work_t *w = new_work(h, OP_P_CLOSE);
  w->timeout_ms = get_i32(env, argv[1], -1);
  return queue_work(env, w);
}

static napi_value js_producer_purge(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1], result;
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  handle_t *h = unwrap(env, argv[0], K_PRODUCER);
  if (!h) return NULL;
  size_t n = 0;
  lnc_err_t rc = lnc_producer_purge(h->ptr, &n);
  if (rc != LNC_ERR_OK) return throw_lnc(env, rc, NULL);
  napi_create_double(env, (double)n, &result);
  return result;
}

static napi_value js_producer_metrics(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1], o;
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  handle_t *h = unwrap(env, argv[0], K_PRODUCER);
  if (!h) return NULL;
  lnc_producer_metrics_t m;
  lnc_err_t rc = lnc_producer_metrics(h->ptr, &m);
  if (rc != LNC_ERR_OK) return throw_lnc(env, rc, NULL);
  napi_create_object(env, &o);
  u64_inexact = 0;
#define M(field, name) set_u64(env, o, name, m.field)
  M(records_sent, "recordsSent"); M(records_acked, "recordsAcked"); M(records_failed, "recordsFailed");
  M(bytes_sent, "bytesSent"); M(bytes_acked, "bytesAcked"); M(batches_sent, "batchesSent");
  M(batches_acked, "batchesAcked"); M(batches_failed, "batchesFailed"); M(batches_retried, "batchesRetried");
  M(records_retried, "recordsRetried"); M(possible_duplicates, "possibleDuplicates"); M(connects, "connects");
  M(disconnects, "disconnects"); M(server_errors, "serverErrors"); M(batches_compressed, "batchesCompressed");
  M(in_flight_batches, "inFlightBatches"); M(buffered_bytes, "bufferedBytes");
  M(outstanding_records, "outstandingRecords"); M(ack_latency_p50_us, "ackLatencyP50Us");
  M(ack_latency_p99_us, "ackLatencyP99Us"); M(batch_size_current, "batchSizeCurrent");
#undef M
  if (u64_inexact) {
    napi_throw_range_error(env, NULL, "a producer counter is above 2^53 and cannot be a number");
    return NULL;
  }
  return o;
}

/* ------------------------------------------------------------------------------------------ */
/* Consumer                                                                                    */

/* consumerNew(pairs, storeFn?, timeoutMs = -1: request.timeout.ms, logger?) */
static napi_value js_consumer_new(napi_env env, napi_callback_info info) {
  size_t argc = 4;
  napi_value argv[4];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  lnc_conf_t *conf = build_conf(env, argv[0]);
  if (!conf) return NULL;
  store_t *store = NULL;
  napi_valuetype t = napi_undefined;
  if (argc > 1) napi_typeof(env, argv[1], &t);
  if (t == napi_function) {
    store = store_new(env, argv[1]);
    if (!store) {
      lnc_conf_free(conf);
      napi_throw_error(env, NULL, "cannot create the offset store bridge");
      return NULL;
    }
  }
  work_t *w = new_work(NULL, OP_C_NEW);
  w->conf = conf;
  w->store = store;
  w->timeout_ms = argc > 2 ? get_i32(env, argv[2], -1) : -1;
  w->log = argc > 3 ? logger_attach(env, argv[3], conf) : NULL;
  return queue_work(env, w);
}

/* consumerCall(h, op, timeoutMs (poll, close) | whence (seek), offset (seek), timeoutMs (seek, commit,
 * lag; < 0 = request.timeout.ms)) */
static napi_value js_consumer_call(napi_env env, napi_callback_info info) {
  size_t argc = 5;
  napi_value argv[5];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  handle_t *h = unwrap(env, argv[0], K_CONSUMER);
  if (!h) return NULL;
  int32_t op = get_i32(env, argv[1], 0);
  if (op < OP_C_POLL || op > OP_C_CLOSE) {
    napi_throw_range_error(env, NULL, "bad consumer op");
    return NULL;
  }
  work_t *w = new_work(h, op);
  w->timeout_ms = get_i32(env, op == OP_C_POLL || op == OP_C_CLOSE ? argv[2] : argv[4], -1);
  if (op == OP_C_SEEK) {
    w->a = (uint64_t)get_i32(env, argv[2], 0);
    if (!get_u64(env, argv[3], &w->b)) {
      free(w);
      napi_throw_type_error(env, NULL, "offset must be a non-negative number or bigint");
      return NULL;
    }
  }
  return queue_work(env, w);
}

static napi_value js_consumer_position(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1], result;
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  handle_t *h = unwrap(env, argv[0], K_CONSUMER);
  if (!h) return NULL;
  uint64_t pos = 0;
  lnc_err_t rc = lnc_consumer_position(h->ptr, &pos);
  if (rc != LNC_ERR_OK) return throw_lnc(env, rc, NULL);
  napi_create_bigint_uint64(env, pos, &result);
  return result;
}

static napi_value js_consumer_topic_id(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1], result;
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  handle_t *h = unwrap(env, argv[0], K_CONSUMER);
  if (!h) return NULL;
  napi_create_uint32(env, lnc_consumer_topic_id(h->ptr), &result);
  return result;
}

/* ------------------------------------------------------------------------------------------ */
/* Admin                                                                                       */

/* adminNew(pairs, logger?) */
static napi_value js_admin_new(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  lnc_conf_t *conf = build_conf(env, argv[0]);
  if (!conf) return NULL;
  struct logger *lg = argc > 1 ? logger_attach(env, argv[1], conf) : NULL;
  lnc_admin_t *a = NULL;
  lnc_error_t *err = NULL;
  lnc_err_t rc = lnc_admin_new(conf, &a, &err);
  if (rc != LNC_ERR_OK) {
    lnc_conf_free(conf);
    if (lg) logger_release(lg);
    return throw_lnc(env, rc, err);
  }
  return wrap_logged(env, K_ADMIN, a, lg);
}

/* adminCall(h, op, str, topicId, a, b, c, timeoutMs) */
static napi_value js_admin_call(napi_env env, napi_callback_info info) {
  size_t argc = 8;
  napi_value argv[8];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  handle_t *h = unwrap(env, argv[0], K_ADMIN);
  if (!h) return NULL;
  int32_t op = get_i32(env, argv[1], 0);
  if (op < OP_A_CREATE || op > OP_A_COMMIT_OFFSET) {
    napi_throw_range_error(env, NULL, "bad admin op");
    return NULL;
  }
  work_t *w = new_work(h, op);
  w->str = get_str(env, argv[2]);
  uint32_t tid = 0;
  napi_get_value_uint32(env, argv[3], &tid);
  w->topic_id = tid;
  if (!get_u64(env, argv[4], &w->a) || !get_u64(env, argv[5], &w->b) || !get_u64(env, argv[6], &w->c)) {
    free(w->str);
    free(w);
    napi_throw_type_error(env, NULL, "numeric arguments must be non-negative numbers or bigints");
    return NULL;
  }
  w->timeout_ms = get_i32(env, argv[7], -1);
  return queue_work(env, w);
}

static napi_value js_consumer_id(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1], result;
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  char *name = get_str(env, argv[0]);
  uint64_t id = 0;
  lnc_err_t rc = lnc_consumer_id(name ? name : "", &id);
  free(name);
  if (rc != LNC_ERR_OK) return throw_lnc(env, rc, NULL);
  napi_create_bigint_uint64(env, id, &result);
  return result;
}

/* ------------------------------------------------------------------------------------------ */
/* Mock broker                                                                                 */

static napi_value js_mock_new(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  uint32_t n = 0;
  napi_get_array_length(env, argv[0], &n);
  size_t count = n / 2;
  char **keys = calloc(count + 1, sizeof(char *)), **vals = calloc(count + 1, sizeof(char *));
  for (size_t i = 0; i < count; i++) {
    napi_value k, v;
    napi_get_element(env, argv[0], (uint32_t)(2 * i), &k);
    napi_get_element(env, argv[0], (uint32_t)(2 * i + 1), &v);
    keys[i] = get_str(env, k);
    vals[i] = get_str(env, v);
    if (!keys[i]) keys[i] = strdup("");
    if (!vals[i]) vals[i] = strdup("");
  }
  lnc_mock_t *m = NULL;
  char errbuf[512] = {0};
  lnc_err_t rc = lnc_mock_new((const char *const *)keys, (const char *const *)vals, count, &m, errbuf, sizeof errbuf);
  for (size_t i = 0; i < count; i++) {
    free(keys[i]);
    free(vals[i]);
  }
  free(keys);
  free(vals);
  if (rc != LNC_ERR_OK) {
    napi_throw(env, make_error_raw(env, rc, errbuf[0] ? errbuf : NULL, 0, 0, NULL, 0, 0));
    return NULL;
  }
  return wrap_handle(env, K_MOCK, m);
}

enum {
  M_ADDRESS = 1, M_PORT, M_DROP_FRAMES, M_DROP_BYTES, M_DISCONNECT_ALL, M_ACK_DELAY, M_DROP_ACKS, M_STALL,
  M_FORCE_CATCHING_UP, M_FETCH_RATE, M_WRITE_ONLY, M_TRUNCATE_FRONT, M_FAIL_INGESTS, M_FAIL_REQUESTS,
  M_REQUIRE_TOKEN, M_CREATE_TOPIC, M_STATS, M_TOPIC_SIZE, M_RESTART, M_STOP,
};

/* mockCall(h, op, a, b, str): synchronous fault controls (in-process, no network wait). */
static napi_value js_mock_call(napi_env env, napi_callback_info info) {
  size_t argc = 5;
  napi_value argv[5], result = NULL;
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  handle_t *h = unwrap(env, argv[0], K_MOCK);
  if (!h) return NULL;
  int32_t op = get_i32(env, argv[1], 0);
  uint64_t a = 0, b = 0;
  if ((argc > 2 && !get_u64(env, argv[2], &a)) || (argc > 3 && !get_u64(env, argv[3], &b))) {
    napi_throw_type_error(env, NULL, "numeric arguments must be non-negative numbers or bigints");
    return NULL;
  }
  char *s = argc > 4 ? get_str(env, argv[4]) : NULL;
  lnc_mock_t *m = h->ptr;
  lnc_err_t rc = LNC_ERR_OK;
  napi_get_undefined(env, &result);
  switch (op) {
    case M_ADDRESS: {
      char buf[256];
      size_t n = lnc_mock_address(m, buf, sizeof buf);
      napi_create_string_utf8(env, buf, n < sizeof buf ? n : sizeof buf - 1, &result);
      break;
    }
    case M_PORT: napi_create_uint32(env, lnc_mock_port(m), &result); break;
    case M_DROP_FRAMES: rc = lnc_mock_drop_after_frames(m, a); break;
    case M_DROP_BYTES: rc = lnc_mock_drop_after_bytes(m, a); break;
    case M_DISCONNECT_ALL: rc = lnc_mock_disconnect_all(m); break;
    case M_ACK_DELAY: rc = lnc_mock_set_ack_delay_ms(m, a); break;
    case M_DROP_ACKS: rc = lnc_mock_drop_next_acks(m, a); break;
    case M_STALL: rc = lnc_mock_stall_reading(m, a != 0); break;
    case M_FORCE_CATCHING_UP: rc = lnc_mock_force_catching_up(m, a); break;
    case M_FETCH_RATE: rc = lnc_mock_set_fetch_rate_limit(m, a); break;
    case M_WRITE_ONLY: rc = lnc_mock_set_write_only(m, a != 0); break;
    case M_TRUNCATE_FRONT: rc = lnc_mock_truncate_front(m, (uint32_t)a, b); break;
    case M_FAIL_INGESTS: rc = lnc_mock_fail_next_ingests(m, a, s ? s : "", b != 0); break;
    case M_FAIL_REQUESTS: rc = lnc_mock_fail_next_requests(m, a, s ? s : ""); break;
    case M_REQUIRE_TOKEN: rc = lnc_mock_require_token(m, s); break;
    case M_CREATE_TOPIC: {
      uint32_t id = 0;
      lnc_error_t *err = NULL;
      rc = lnc_mock_create_topic(m, s ? s : "", &id, &err);
      free(s);
      if (rc != LNC_ERR_OK) return throw_lnc(env, rc, err);
      napi_create_uint32(env, id, &result);
      return result;
    }
    case M_STATS: {
      lnc_mock_stats_t st;
      rc = lnc_mock_stats(m, &st);
      if (rc == LNC_ERR_OK) {
        napi_create_object(env, &result);
        u64_inexact = 0;
#define S(field, name) set_u64(env, result, name, st.field)
        S(connections_accepted, "connectionsAccepted"); S(connections_open, "connectionsOpen");
        S(frames_received, "framesReceived"); S(fatal_closes, "fatalCloses"); S(ingests_received, "ingestsReceived");
        S(ingests_stored, "ingestsStored"); S(bytes_stored, "bytesStored"); S(acks_sent, "acksSent");
        S(acks_dropped, "acksDropped"); S(errors_sent, "errorsSent"); S(keepalives_answered, "keepalivesAnswered");
        S(control_requests, "controlRequests"); S(fetches_served, "fetchesServed");
#undef S
        if (u64_inexact) {
          free(s);
          napi_throw_range_error(env, NULL, "a mock counter is above 2^53 and cannot be a number");
          return NULL;
        }
      }
      break;
    }
    case M_TOPIC_SIZE: {
      uint64_t size = 0;
      rc = lnc_mock_topic_size(m, (uint32_t)a, &size);
      if (rc == LNC_ERR_OK) napi_create_bigint_uint64(env, size, &result);
      break;
    }
    case M_RESTART: case M_STOP: {
      free(s);
      work_t *w = new_work(h, op == M_RESTART ? OP_M_RESTART : OP_M_STOP);
      return queue_work(env, w);
    }
    default: rc = LNC_ERR_INVALID_ARG;
  }
  free(s);
  if (rc != LNC_ERR_OK) {
    napi_throw(env, make_error_raw(env, rc, NULL, 0, 0, NULL, 0, 0));
    return NULL;
  }
  return result;
}

/* ------------------------------------------------------------------------------------------ */
/* Log callback: liblnc calls it on any thread (library threads included). The trampoline      */
/* copies the line and queues it to the JS thread through a threadsafe function, never         */
/* blocking liblnc (a full queue drops the line). The bridge outlives the native handle.       */

#define LOG_QUEUE_MAX 4096

typedef struct logger {
  napi_threadsafe_function tsfn;
  pthread_mutex_t mu;
  int owner_released; /* the native handle is freed: no log line can come */
  int tsfn_gone;      /* finalized (released, or environment teardown) */
} logger_t;

typedef struct {
  int level;
  char line[];
} log_line_t;

static void logger_free_if_unused(logger_t *l, int owner, int tsfn) {
  pthread_mutex_lock(&l->mu);
  if (owner) l->owner_released = 1;
  if (tsfn) l->tsfn_gone = 1;
  int both = l->owner_released && l->tsfn_gone;
  pthread_mutex_unlock(&l->mu);
  if (both) {
    pthread_mutex_destroy(&l->mu);
    free(l);
  }
}

static void log_tramp(lnc_log_level_t level, const char *line, void *opaque) {
  logger_t *l = opaque;
  size_t n = line ? strlen(line) : 0;
  log_line_t *m = malloc(sizeof *m + n + 1);
  if (!m) return;
  m->level = level;
  memcpy(m->line, line ? line : "", n + 1);
  pthread_mutex_lock(&l->mu); /* held only to keep the function alive across the call */
  int queued = !l->tsfn_gone && napi_call_threadsafe_function(l->tsfn, m, napi_tsfn_nonblocking) == napi_ok;
  pthread_mutex_unlock(&l->mu);
  if (!queued) free(m);
}

/* On the JS thread: fn(level, line). The JS side catches its own errors. */
static void log_call_js(napi_env env, napi_value js_cb, void *context, void *data) {
  (void)context;
  log_line_t *m = data;
  if (env && js_cb) {
    napi_value argv[2], undef;
    napi_get_undefined(env, &undef);
    napi_create_int32(env, m->level, &argv[0]);
    napi_create_string_utf8(env, m->line, NAPI_AUTO_LENGTH, &argv[1]);
    if (napi_call_function(env, undef, js_cb, 2, argv, NULL) != napi_ok) {
      napi_value exc;
      napi_get_and_clear_last_exception(env, &exc);
    }
  }
  free(m);
}

static void logger_tsfn_finalize(napi_env env, void *data, void *hint) {
  (void)env;
  (void)hint;
  logger_free_if_unused(data, 0, 1);
}

/* A bridge for `fn` set as `conf`'s log callback; NULL (nothing set) when fn is not a function. */
static logger_t *logger_attach(napi_env env, napi_value fn, lnc_conf_t *conf) {
  napi_valuetype t = napi_undefined;
  if (!fn || napi_typeof(env, fn, &t) != napi_ok || t != napi_function) return NULL;
  logger_t *l = calloc(1, sizeof *l);
  if (!l) return NULL;
  pthread_mutex_init(&l->mu, NULL);
  napi_value name;
  napi_create_string_utf8(env, "lnc-log", NAPI_AUTO_LENGTH, &name);
  if (napi_create_threadsafe_function(env, fn, NULL, name, LOG_QUEUE_MAX, 1, l, logger_tsfn_finalize, l, log_call_js,
                                      &l->tsfn) != napi_ok) {
    pthread_mutex_destroy(&l->mu);
    free(l);
    return NULL;
  }
  napi_unref_threadsafe_function(env, l->tsfn); /* log lines never keep the process alive */
  lnc_conf_set_log_cb(conf, log_tramp, l);
  return l;
}

/* After the native handle is freed, or when it was never created (any thread). */
static void logger_release(logger_t *l) {
  pthread_mutex_lock(&l->mu);
  int gone = l->tsfn_gone;
  pthread_mutex_unlock(&l->mu);
  if (!gone) napi_release_threadsafe_function(l->tsfn, napi_tsfn_release);
  logger_free_if_unused(l, 1, 0);
}

/* ------------------------------------------------------------------------------------------ */
/* Events (lnc_*_poll_events), statistics, consumer metrics                                   */

/* A handle of one of `kinds` (bit mask of 1 << K_*) that is open, else NULL without throwing. */
static handle_t *peek_handle(napi_env env, napi_value v, int kinds) {
  void *d = NULL;
  if (napi_get_value_external(env, v, &d) != napi_ok || !d || !((1 << ((handle_t *)d)->kind) & kinds)) {
    napi_throw_type_error(env, NULL, "invalid liblnc handle");
    return NULL;
  }
  return (handle_t *)d;
}

#define EVENT_BATCH 64

/* pollEvents(h): every waiting event, without waiting, as [{ kind, err, server, nodeId, attempt,
 * delayMs, message }] ([] for a freed handle). The first call makes events wake the eventfd. */
static napi_value js_poll_events(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1], arr;
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  handle_t *h = peek_handle(env, argv[0], (1 << K_PRODUCER) | (1 << K_CONSUMER) | (1 << K_ADMIN));
  if (!h) return NULL;
  napi_create_array(env, &arr);
  if (!h->ptr || h->disposed) return arr;
  uint32_t total = 0;
  for (;;) {
    lnc_event_t evs[EVENT_BATCH];
    size_t n = 0;
    lnc_err_t rc;
    memset(evs, 0, sizeof evs);
    if (h->kind == K_PRODUCER) rc = lnc_producer_poll_events(h->ptr, 0, evs, EVENT_BATCH, &n);
    else if (h->kind == K_CONSUMER) rc = lnc_consumer_poll_events(h->ptr, 0, evs, EVENT_BATCH, &n);
    else rc = lnc_admin_poll_events(h->ptr, 0, evs, EVENT_BATCH, &n);
    if (rc != LNC_ERR_OK) return throw_lnc(env, rc, NULL);
    for (size_t i = 0; i < n; i++) {
      napi_value o, s;
      napi_create_object(env, &o);
      napi_create_string_utf8(env, lnc_event_kind_name(evs[i].kind), NAPI_AUTO_LENGTH, &s);
      set_prop(env, o, "kind", s);
      if (evs[i].err != LNC_ERR_OK) {
        napi_create_string_utf8(env, lnc_err_name(evs[i].err), NAPI_AUTO_LENGTH, &s);
        set_prop(env, o, "code", s);
      }
      napi_create_string_utf8(env, evs[i].server ? evs[i].server : "", NAPI_AUTO_LENGTH, &s);
      set_prop(env, o, "server", s);
      set_num(env, o, "nodeId", evs[i].node_id);
      set_num(env, o, "attempt", evs[i].attempt);
      set_num(env, o, "delayMs", (double)evs[i].delay_ms);
      napi_create_string_utf8(env, evs[i].message ? evs[i].message : "", NAPI_AUTO_LENGTH, &s);
      set_prop(env, o, "message", s);
      napi_set_element(env, arr, total++, o);
      lnc_event_free(&evs[i]);
    }
    if (n < EVENT_BATCH) break;
  }
  return arr;
}

/* statistics(h): the producer's or consumer's statistics document (JSON text). */
static napi_value js_statistics(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1], result;
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  handle_t *h = peek_handle(env, argv[0], (1 << K_PRODUCER) | (1 << K_CONSUMER));
  if (!h) return NULL;
  if (!h->ptr || h->disposed) return throw_lnc(env, LNC_ERR_CLOSED, NULL);
  char *json = NULL;
  lnc_err_t rc = h->kind == K_PRODUCER ? lnc_producer_statistics(h->ptr, &json) : lnc_consumer_statistics(h->ptr, &json);
  if (rc != LNC_ERR_OK) return throw_lnc(env, rc, NULL);
  napi_create_string_utf8(env, json ? json : "{}", NAPI_AUTO_LENGTH, &result);
  lnc_string_free(json);
  return result;
}

static napi_value js_consumer_metrics(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1], o;
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  handle_t *h = unwrap(env, argv[0], K_CONSUMER);
  if (!h) return NULL;
  lnc_consumer_metrics_t m;
  lnc_err_t rc = lnc_consumer_metrics(h->ptr, &m);
  if (rc != LNC_ERR_OK) return throw_lnc(env, rc, NULL);
  napi_create_object(env, &o);
  u64_inexact = 0;
#define M(field, name) set_u64(env, o, name, m.field)
  M(records, "records"); M(bytes, "bytes"); M(errors, "errors"); M(fetches, "fetches");
  M(empty_fetches, "emptyFetches"); M(fetch_bytes, "fetchBytes"); M(catching_up, "catchingUp");
  M(queued_events, "queuedEvents"); M(queued_bytes, "queuedBytes"); M(reassembly_carry_bytes, "reassemblyCarryBytes");
  M(fetch_latency_p50_us, "fetchLatencyP50Us"); M(fetch_latency_p99_us, "fetchLatencyP99Us");
  M(fetch_latency_max_us, "fetchLatencyMaxUs"); M(reconnects, "reconnects");
#undef M
  /* Offsets are exact (bigint); unknown end offset and lag are null. */
  set_prop(env, o, "position", u64_big(env, m.position));
  napi_value nul;
  napi_get_null(env, &nul);
  set_prop(env, o, "endOffset", m.end_offset_known ? u64_big(env, m.end_offset) : nul);
  set_prop(env, o, "endOffsetAgeMs", m.end_offset_known ? u64_num(env, m.end_offset_age_ms) : nul);
  set_prop(env, o, "lag", m.end_offset_known ? u64_big(env, m.lag) : nul);
  if (u64_inexact) {
    napi_throw_range_error(env, NULL, "a consumer counter is above 2^53 and cannot be a number");
    return NULL;
  }
  return o;
}

/* ------------------------------------------------------------------------------------------ */
/* Group consumer                                                                              */

/* A poll batch as [{ kind: 'record', topicId, type, extType, offset, key, value, timestamp } |
 * { kind: 'assigned' | 'revoked', topics: number[] } | { kind: 'error', topicId, error }]. Record
 * bytes are copied into Buffers (the batch is freed after this). */
static napi_value group_events_to_js(napi_env env, const lnc_group_events_t *evs) {
  napi_value arr, nul;
  size_t n = lnc_group_events_count(evs);
  napi_create_array_with_length(env, n, &arr);
  napi_get_null(env, &nul);
  for (size_t i = 0; i < n; i++) {
    lnc_group_event_t e;
    napi_value o, s;
    if (lnc_group_events_get(evs, i, &e) != LNC_ERR_OK) continue;
    napi_create_object(env, &o);
    const char *kind = e.kind == LNC_GROUP_EVENT_RECORD     ? "record"
                       : e.kind == LNC_GROUP_EVENT_ASSIGNED ? "assigned"
                       : e.kind == LNC_GROUP_EVENT_REVOKED  ? "revoked"
                                                            : "error";
    napi_create_string_utf8(env, kind, NAPI_AUTO_LENGTH, &s);
    set_prop(env, o, "kind", s);
    if (e.kind == LNC_GROUP_EVENT_RECORD) {
      const lnc_record_view_t *r = &e.record;
      napi_value b;
      set_num(env, o, "topicId", e.topic_id);
      set_num(env, o, "type", r->record_type);
      set_prop(env, o, "extType", nul);
      if (r->has_ext_type) set_num(env, o, "extType", r->ext_type);
      set_prop(env, o, "offset", u64_big(env, r->offset));
      if (r->has_key) {
        napi_create_buffer_copy(env, r->key_len, r->key_len ? (const void *)r->key : (const void *)"", NULL, &b);
        set_prop(env, o, "key", b);
      } else {
        set_prop(env, o, "key", nul);
      }
      napi_create_buffer_copy(env, r->data_len, r->data_len ? (const void *)r->data : (const void *)"", NULL, &b);
      set_prop(env, o, "value", b);
      set_prop(env, o, "timestamp", r->has_timestamp ? u64_big(env, r->timestamp_ns) : nul);
    } else if (e.kind == LNC_GROUP_EVENT_ASSIGNED || e.kind == LNC_GROUP_EVENT_REVOKED) {
      napi_value t;
      napi_create_array_with_length(env, e.topic_count, &t);
      for (size_t j = 0; j < e.topic_count; j++) {
        napi_value x;
        napi_create_uint32(env, e.topics[j], &x);
        napi_set_element(env, t, (uint32_t)j, x);
      }
      set_prop(env, o, "topics", t);
    } else {
      set_num(env, o, "topicId", e.topic_id);
      set_prop(env, o, "error",
               make_error_raw(env, e.error_code, e.error_message, 0, 0, NULL, 0, 0));
    }
    napi_set_element(env, arr, (uint32_t)i, o);
  }
  return arr;
}

/* groupNew(pairs, logger?) -> Promise<handle>: joining creates the group topic (blocks). */
static napi_value js_group_new(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  lnc_conf_t *conf = build_conf(env, argv[0]);
  if (!conf) return NULL;
  work_t *w = new_work(NULL, OP_G_NEW);
  w->conf = conf;
  w->log = argc > 1 ? logger_attach(env, argv[1], conf) : NULL;
  return queue_work(env, w);
}

/* groupPoll(h, timeoutMs) / groupClose(h, timeoutMs) -> Promise. */
static napi_value group_call(napi_env env, napi_callback_info info, int op) {
  size_t argc = 2;
  napi_value argv[2];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  handle_t *h = unwrap(env, argv[0], K_GROUP);
  if (!h) return NULL;
  work_t *w = new_work(h, op);
  w->timeout_ms = get_i32(env, argv[1], -1);
  return queue_work(env, w);
}

static napi_value js_group_poll(napi_env env, napi_callback_info info) { return group_call(env, info, OP_G_POLL); }
static napi_value js_group_close(napi_env env, napi_callback_info info) { return group_call(env, info, OP_G_CLOSE); }

static napi_value js_group_assignment(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1], arr;
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  handle_t *h = unwrap(env, argv[0], K_GROUP);
  if (!h) return NULL;
  size_t count = 0, cap = 0;
  uint32_t *topics = NULL;
  lnc_err_t rc;
  /* The assignment may grow between the two calls: retry until it fits. */
  for (;;) {
    rc = lnc_group_consumer_assignment(h->ptr, topics, cap, &count);
    if (rc != LNC_ERR_OK || count <= cap) break;
    free(topics);
    cap = count + 8;
    topics = malloc(cap * sizeof *topics);
    if (!topics) {
      napi_throw_error(env, NULL, "out of memory");
      return NULL;
    }
  }
  if (rc != LNC_ERR_OK) {
    free(topics);
    return throw_lnc(env, rc, NULL);
  }
  napi_create_array_with_length(env, count, &arr);
  for (size_t i = 0; i < count; i++) {
    napi_value x;
    napi_create_uint32(env, topics[i], &x);
    napi_set_element(env, arr, (uint32_t)i, x);
  }
  free(topics);
  return arr;
}

static napi_value js_group_member_id(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1], s;
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  handle_t *h = unwrap(env, argv[0], K_GROUP);
  if (!h) return NULL;
  const char *id = lnc_group_consumer_member_id(h->ptr);
  napi_create_string_utf8(env, id ? id : "", NAPI_AUTO_LENGTH, &s);
  return s;
}

/* ------------------------------------------------------------------------------------------ */
/* Misc + module                                                                               */

static napi_value js_set_error_factory(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  addon_env_t *ae = get_ae(env);
  if (ae->error_factory) napi_delete_reference(env, ae->error_factory);
  CHECK(napi_create_reference(env, argv[0], 1, &ae->error_factory));
  return NULL;
}

static napi_value js_version(napi_env env, napi_callback_info info) {
  (void)info;
  napi_value v;
  napi_create_string_utf8(env, lnc_version_str(), NAPI_AUTO_LENGTH, &v);
  return v;
}

static napi_value js_err_name(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1], v;
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  napi_create_string_utf8(env, lnc_err_name(get_i32(env, argv[0], 0)), NAPI_AUTO_LENGTH, &v);
  return v;
}

static napi_value js_err_str(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1], v;
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  napi_create_string_utf8(env, lnc_err_str(get_i32(env, argv[0], 0)), NAPI_AUTO_LENGTH, &v);
  return v;
}

static void env_cleanup(void *arg) {
  addon_env_t *ae = arg;
  ae->exiting = 1;
}

static void instance_finalize(napi_env env, void *data, void *hint) {
  (void)env;
  (void)hint;
  addon_env_t *ae = data;
  ae->exiting = 1;
  /* Deliberately leaked: handle finalizers running later in teardown may still read it. */
}

NAPI_MODULE_INIT() {
  addon_env_t *ae = calloc(1, sizeof *ae);
  napi_set_instance_data(env, ae, instance_finalize, NULL);
  napi_add_env_cleanup_hook(env, env_cleanup, ae);
  napi_property_descriptor props[] = {
#define F(name, fn) {name, NULL, fn, NULL, NULL, NULL, napi_enumerable, NULL}
      F("setErrorFactory", js_set_error_factory),
      F("version", js_version),
      F("errName", js_err_name),
      F("errStr", js_err_str),
      F("watchStart", js_watch_start),
      F("watchArm", js_watch_arm),
      F("watchRef", js_watch_ref),
      F("watchStop", js_watch_stop),
      F("producerNew", js_producer_new),
      F("producerProduce", js_producer_produce),
      F("producerDrain", js_producer_drain),
      F("producerSendNow", js_producer_send_now),
      F("producerSendLater", js_producer_send_later),
      F("producerTopicId", js_producer_topic_id),
      F("cancelNew", js_cancel_new),
      F("cancelFire", js_cancel_fire),
      F("producerFlush", js_producer_flush),
      F("producerClose", js_producer_close),
      F("producerPurge", js_producer_purge),
      F("producerMetrics", js_producer_metrics),
      F("consumerNew", js_consumer_new),
      F("storeDone", js_store_done),
      F("dispose", js_handle_dispose),
      F("consumerCall", js_consumer_call),
      F("consumerPosition", js_consumer_position),
      F("consumerTopicId", js_consumer_topic_id),
      F("consumerId", js_consumer_id),
      F("adminNew", js_admin_new),
      F("adminCall", js_admin_call),
      F("mockNew", js_mock_new),
      F("mockCall", js_mock_call),
      F("pollEvents", js_poll_events),
      F("statistics", js_statistics),
      F("consumerMetrics", js_consumer_metrics),
      F("groupNew", js_group_new),
      F("groupPoll", js_group_poll),
      F("groupClose", js_group_close),
      F("groupAssignment", js_group_assignment),
      F("groupMemberId", js_group_member_id),
#undef F
  };
  napi_define_properties(env, exports, sizeof props / sizeof props[0], props);
  return exports;
}
