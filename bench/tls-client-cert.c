/*
 * LD_PRELOAD shim that makes wrk and h2load present a TLS client certificate.
 *
 * Neither Debian's wrk nor h2load has a client-certificate option, and OpenSSL's
 * "system_default" config cannot load certificates. Both tools link libssl
 * dynamically, so we wrap two of its entry points:
 *
 *   SSL_CTX_new  - loads BENCH_TLS_CERT (PEM chain: leaf, then intermediates)
 *                  and BENCH_TLS_KEY into every context (the warm scenarios).
 *   SSL_new      - when BENCH_TLS_POOL names a file listing "CERT KEY" path pairs,
 *                  each new connection takes the next pair, round robin (the cold
 *                  scenario: a different certificate on every connection).
 *   SSL_ctrl     - when BENCH_TLS_SNI is set, every server name the tool asks for
 *                  is replaced by it, so the tools can dial 127.0.0.1 yet send the
 *                  tenant's hostname as SNI (both call SSL_set_tlsext_host_name).
 *                  When BENCH_TLS_SNI_LIST names a file of server names, one a
 *                  line, each connection sends the next one, round robin (the
 *                  per-hostname filter chains of the xDS listener).
 *
 * Built by bench/run.ts with: cc -shared -fPIC -O2 -o X.so tls-client-cert.c -ldl -lssl
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <openssl/ssl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static SSL_CTX *(*real_ctx_new)(const SSL_METHOD *);
static SSL *(*real_ssl_new)(SSL_CTX *);
static long (*real_ssl_ctrl)(SSL *, int, long, void *);

typedef struct { char *cert; char *key; } pair_t;
static pair_t *pool;
static size_t pool_len;
static size_t pool_next;

static char **sni_list;
static size_t sni_len;
static size_t sni_next;

static void die(const char *what, const char *path) {
  fprintf(stderr, "tls-client-cert shim: cannot load %s %s\n", what, path);
  exit(3);
}

/* Runs once at load, before the tools start their threads. */
__attribute__((constructor)) static void load_pool(void) {
  const char *list = getenv("BENCH_TLS_POOL");
  if (!list || !*list) return;
  FILE *f = fopen(list, "r");
  if (!f) die("pool list", list);
  char cert[4096], key[4096];
  size_t cap = 0;
  while (fscanf(f, "%4095s %4095s", cert, key) == 2) {
    if (pool_len == cap) {
      cap = cap ? cap * 2 : 256;
      pool = realloc(pool, cap * sizeof(pair_t));
      if (!pool) die("pool", "(out of memory)");
    }
    pool[pool_len].cert = strdup(cert);
    pool[pool_len].key = strdup(key);
    pool_len++;
  }
  fclose(f);
  if (pool_len == 0) die("pool list (empty)", list);
}

__attribute__((constructor)) static void load_sni_list(void) {
  const char *list = getenv("BENCH_TLS_SNI_LIST");
  if (!list || !*list) return;
  FILE *f = fopen(list, "r");
  if (!f) die("server name list", list);
  char name[256];
  size_t cap = 0;
  while (fscanf(f, "%255s", name) == 1) {
    if (sni_len == cap) {
      cap = cap ? cap * 2 : 256;
      sni_list = realloc(sni_list, cap * sizeof(char *));
      if (!sni_list) die("server name list", "(out of memory)");
    }
    sni_list[sni_len++] = strdup(name);
  }
  fclose(f);
  if (sni_len == 0) die("server name list (empty)", list);
}

SSL_CTX *SSL_CTX_new(const SSL_METHOD *method) {
  if (!real_ctx_new) real_ctx_new = (SSL_CTX * (*)(const SSL_METHOD *)) dlsym(RTLD_NEXT, "SSL_CTX_new");
  SSL_CTX *ctx = real_ctx_new(method);
  const char *cert = getenv("BENCH_TLS_CERT");
  const char *key = getenv("BENCH_TLS_KEY");
  if (ctx && cert && *cert && key && *key) {
    if (SSL_CTX_use_certificate_chain_file(ctx, cert) != 1) die("certificate chain", cert);
    if (SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) != 1) die("private key", key);
  }
  return ctx;
}

SSL *SSL_new(SSL_CTX *ctx) {
  if (!real_ssl_new) real_ssl_new = (SSL * (*)(SSL_CTX *)) dlsym(RTLD_NEXT, "SSL_new");
  SSL *ssl = real_ssl_new(ctx);
  const char *sni = getenv("BENCH_TLS_SNI");
  if (ssl && sni && *sni) SSL_set_tlsext_host_name(ssl, sni);
  if (ssl && pool_len) {
    /* wrk and h2load create connections from several threads. */
    size_t i = __atomic_fetch_add(&pool_next, 1, __ATOMIC_RELAXED) % pool_len;
    if (SSL_use_certificate_chain_file(ssl, pool[i].cert) != 1) die("certificate chain", pool[i].cert);
    if (SSL_use_PrivateKey_file(ssl, pool[i].key, SSL_FILETYPE_PEM) != 1) die("private key", pool[i].key);
  }
  return ssl;
}

long SSL_ctrl(SSL *ssl, int cmd, long larg, void *parg) {
  if (!real_ssl_ctrl) real_ssl_ctrl = (long (*)(SSL *, int, long, void *))dlsym(RTLD_NEXT, "SSL_ctrl");
  const char *sni = getenv("BENCH_TLS_SNI");
  if (cmd == SSL_CTRL_SET_TLSEXT_HOSTNAME && sni_len) parg = sni_list[__atomic_fetch_add(&sni_next, 1, __ATOMIC_RELAXED) % sni_len];
  else if (cmd == SSL_CTRL_SET_TLSEXT_HOSTNAME && sni && *sni) parg = (void *)sni;
  return real_ssl_ctrl(ssl, cmd, larg, parg);
}
