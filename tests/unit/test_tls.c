/*
 * test_tls.c - the TLS engine (tls/tls.h) in memory: a client engine
 * against a server engine, ciphertext pumped between them (whole, in odd
 * pieces, a byte at a time), and a raw OpenSSL client for the peers the
 * engine's own settings cannot make (TLS 1.2 only, weak suites).
 *
 * The certificates are made for the run with OpenSSL's C API (ECDSA
 * P-256, SHA-256) in a mkdtemp directory: two CAs, a server certificate
 * for localhost and 127.0.0.1, client certificates (valid, from the other
 * CA, expired, revoked, SAN only), a CRL, a c_rehash directory, an
 * encrypted key and a garbage file. The group's teardown removes exactly
 * the files it made and fails when anything else is left.
 */
#include "helpers.h"

#include "tls/tls.h"

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

/* ---- fixtures: keys, certificates, a CRL ---- */

#define FX_MAX 40

struct fixtures {
	char dir[64];
	char paths[FX_MAX][128];
	char names[FX_MAX][32];
	bool is_dir[FX_MAX];
	int n;
	X509 *ca, *ca2;
	EVP_PKEY *ca_key, *ca2_key;
};

/* What to make: name.crt and name.key. */
struct cert_spec {
	const char *name;
	const char *cn;	 /* NULL: a subject without CN */
	const char *san; /* "DNS:localhost,IP:127.0.0.1"; NULL: none */
	const char *eku; /* extendedKeyUsage; NULL: none */
	bool ca;
	long serial;
	long from_days, to_days; /* validity, relative to now */
};

/* The path of fixture `name` (registered once, removed at teardown). */
static const char *fx_path(struct fixtures *f, const char *name)
{
	for (int i = 0; i < f->n; i++) {
		if (!strcmp(f->names[i], name))
			return f->paths[i];
	}
	char dir[sizeof(f->dir)];

	assert_true(f->n < FX_MAX);
	memcpy(dir, f->dir, sizeof(dir)); /* no snprintf from f into f */
	snprintf(f->names[f->n], sizeof(f->names[0]), "%s", name);
	snprintf(f->paths[f->n], sizeof(f->paths[0]), "%s/%s", dir, name);
	return f->paths[f->n++];
}

/* The path of a fixture that must exist already. */
static const char *path(const struct fixtures *f, const char *name)
{
	for (int i = 0; i < f->n; i++) {
		if (!strcmp(f->names[i], name))
			return f->paths[i];
	}
	fail_msg("no fixture %s", name);
	return NULL;
}

static FILE *fx_create(struct fixtures *f, const char *name)
{
	FILE *fp = fopen(fx_path(f, name), "w");

	assert_non_null(fp);
	return fp;
}

static void add_ext(X509 *x, X509V3_CTX *ctx, int nid, const char *value)
{
	X509_EXTENSION *ext = X509V3_EXT_conf_nid(NULL, ctx, nid, value);

	assert_non_null(ext);
	assert_int_equal(X509_add_ext(x, ext, -1), 1);
	X509_EXTENSION_free(ext);
}

static void write_key(struct fixtures *f, const char *name, EVP_PKEY *key)
{
	FILE *fp = fx_create(f, name);

	assert_int_equal(PEM_write_PrivateKey(fp, key, NULL, NULL, 0, NULL, NULL), 1);
	assert_int_equal(fclose(fp), 0);
}

static void write_cert(struct fixtures *f, const char *name, X509 *x)
{
	FILE *fp = fx_create(f, name);

	assert_int_equal(PEM_write_X509(fp, x), 1);
	assert_int_equal(fclose(fp), 0);
}

/* A certificate by spec, signed by issuer (NULL: self-signed), written
 * with its key as spec->name .crt and .key; returned with its key. */
static X509 *make_cert(struct fixtures *f, const struct cert_spec *spec, X509 *issuer,
		       EVP_PKEY *issuer_key, EVP_PKEY **key_out)
{
	EVP_PKEY *key = EVP_EC_gen("P-256");
	X509 *x = X509_new();
	X509_NAME *name = X509_get_subject_name(x);
	X509V3_CTX ctx;
	char file[48];

	assert_non_null(key);
	assert_non_null(x);
	assert_int_equal(X509_set_version(x, X509_VERSION_3), 1);
	assert_int_equal(ASN1_INTEGER_set(X509_get_serialNumber(x), spec->serial), 1);
	assert_non_null(X509_gmtime_adj(X509_getm_notBefore(x), spec->from_days * 86400));
	assert_non_null(X509_gmtime_adj(X509_getm_notAfter(x), spec->to_days * 86400));
	assert_int_equal(X509_set_pubkey(x, key), 1);
	assert_int_equal(X509_NAME_add_entry_by_txt(name, "O", MBSTRING_ASC,
						    (const unsigned char *)"Agora tests", -1, -1,
						    0),
			 1);
	if (spec->cn)
		assert_int_equal(X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
							    (const unsigned char *)spec->cn, -1, -1,
							    0),
				 1);
	assert_int_equal(X509_set_issuer_name(x, issuer ? X509_get_subject_name(issuer) : name), 1);
	X509V3_set_ctx(&ctx, issuer ? issuer : x, x, NULL, NULL, 0);
	add_ext(x, &ctx, NID_basic_constraints,
		spec->ca ? "critical,CA:TRUE" : "critical,CA:FALSE");
	add_ext(x, &ctx, NID_key_usage,
		spec->ca ? "critical,keyCertSign,cRLSign" : "critical,digitalSignature");
	if (spec->eku)
		add_ext(x, &ctx, NID_ext_key_usage, spec->eku);
	if (spec->san)
		add_ext(x, &ctx, NID_subject_alt_name, spec->san);
	assert_true(X509_sign(x, issuer_key ? issuer_key : key, EVP_sha256()) > 0);
	snprintf(file, sizeof(file), "%s.crt", spec->name);
	write_cert(f, file, x);
	snprintf(file, sizeof(file), "%s.key", spec->name);
	write_key(f, file, key);
	*key_out = key;
	return x;
}

/* A leaf signed by issuer; only its files are kept. */
static void make_leaf(struct fixtures *f, const struct cert_spec *spec, X509 *issuer,
		      EVP_PKEY *issuer_key)
{
	EVP_PKEY *key;
	X509 *x = make_cert(f, spec, issuer, issuer_key, &key);

	X509_free(x);
	EVP_PKEY_free(key);
}

/* crl.pem: the CA's CRL revoking serial, valid from yesterday for 30 days. */
static void make_crl(struct fixtures *f, long serial)
{
	X509_CRL *crl = X509_CRL_new();
	X509_REVOKED *rev = X509_REVOKED_new();
	ASN1_INTEGER *sn = ASN1_INTEGER_new();
	ASN1_TIME *last = X509_gmtime_adj(NULL, -86400);
	ASN1_TIME *next = X509_gmtime_adj(NULL, 30 * 86400);
	FILE *fp;

	assert_non_null(crl);
	assert_non_null(rev);
	assert_int_equal(X509_CRL_set_version(crl, 1), 1); /* v2 */
	assert_int_equal(X509_CRL_set_issuer_name(crl, X509_get_subject_name(f->ca)), 1);
	assert_int_equal(X509_CRL_set1_lastUpdate(crl, last), 1);
	assert_int_equal(X509_CRL_set1_nextUpdate(crl, next), 1);
	assert_int_equal(ASN1_INTEGER_set(sn, serial), 1);
	assert_int_equal(X509_REVOKED_set_serialNumber(rev, sn), 1);
	assert_int_equal(X509_REVOKED_set_revocationDate(rev, last), 1);
	assert_int_equal(X509_CRL_add0_revoked(crl, rev), 1);
	assert_int_equal(X509_CRL_sort(crl), 1);
	assert_true(X509_CRL_sign(crl, f->ca_key, EVP_sha256()) > 0);
	fp = fx_create(f, "crl.pem");
	assert_int_equal(PEM_write_X509_CRL(fp, crl), 1);
	assert_int_equal(fclose(fp), 0);
	ASN1_TIME_free(last);
	ASN1_TIME_free(next);
	ASN1_INTEGER_free(sn);
	X509_CRL_free(crl);
}

/* capath/<hash>.0: the CA as c_rehash files it. */
static void make_capath(struct fixtures *f)
{
	char name[48];
	int i;

	fx_path(f, "capath");
	i = f->n - 1;
	f->is_dir[i] = true;
	assert_int_equal(mkdir(f->paths[i], 0700), 0);
	snprintf(name, sizeof(name), "capath/%08lx.0", X509_subject_name_hash(f->ca));
	write_cert(f, name, f->ca);
}

static void make_odd_files(struct fixtures *f)
{
	EVP_PKEY *key = EVP_EC_gen("P-256");
	FILE *fp;

	/* A key under a passphrase: refused, never asked for on a terminal. */
	fp = fx_create(f, "encrypted.key");
	assert_int_equal(PEM_write_PrivateKey(fp, key, EVP_aes_128_cbc(),
					      (const unsigned char *)"secret", 6, NULL, NULL),
			 1);
	assert_int_equal(fclose(fp), 0);
	EVP_PKEY_free(key);
	fp = fx_create(f, "garbage.pem");
	fputs("not a certificate\n-----BEGIN CERTIFICATE-----\nbm9wZQ==\n"
	      "-----END CERTIFICATE-----\n",
	      fp);
	assert_int_equal(fclose(fp), 0);
}

static int group_setup(void **state)
{
	struct fixtures *f = calloc(1, sizeof(*f));
	const struct cert_spec ca = {"ca", "Agora test CA", NULL, NULL, true, 1, -1, 30};
	const struct cert_spec ca2 = {"ca2", "Another CA", NULL, NULL, true, 2, -1, 30};
	const struct cert_spec leaves[] = {
	    {"server", "localhost", "DNS:localhost,IP:127.0.0.1", "serverAuth", false, 3, -1, 30},
	    {"client", "alice", NULL, "clientAuth", false, 10, -1, 30},
	    {"expired", "old", NULL, "clientAuth", false, 11, -10, -1},
	    {"revoked", "bob", NULL, "clientAuth", false, 66, -1, 30},
	    {"san", NULL, "DNS:device-7.example,email:ops@example.com", "clientAuth", false, 12, -1,
	     30},
	};
	const struct cert_spec other = {"other", "mallory", NULL, "clientAuth", false, 10, -1, 30};

	assert_non_null(f);
	snprintf(f->dir, sizeof(f->dir), "/tmp/agora-test-tls-XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	f->ca = make_cert(f, &ca, NULL, NULL, &f->ca_key);
	f->ca2 = make_cert(f, &ca2, NULL, NULL, &f->ca2_key);
	for (size_t i = 0; i < sizeof(leaves) / sizeof(leaves[0]); i++)
		make_leaf(f, &leaves[i], f->ca, f->ca_key);
	make_leaf(f, &other, f->ca2, f->ca2_key);
	make_crl(f, 66);
	make_capath(f);
	make_odd_files(f);
	fx_path(f, "missing.crt"); /* never created */
	ERR_clear_error();
	*state = f;
	return 0;
}

/* Removes what setup made, newest first; fails when anything else is
 * left (rmdir refuses a directory that is not empty). */
static int group_teardown(void **state)
{
	struct fixtures *f = *state;
	int bad = 0;

	for (int i = f->n - 1; i >= 0; i--) {
		if (f->is_dir[i])
			bad |= rmdir(f->paths[i]) != 0;
		else if (strcmp(f->names[i], "missing.crt") != 0)
			bad |= unlink(f->paths[i]) != 0;
	}
	bad |= rmdir(f->dir) != 0;
	X509_free(f->ca);
	X509_free(f->ca2);
	EVP_PKEY_free(f->ca_key);
	EVP_PKEY_free(f->ca2_key);
	free(f);
	if (bad)
		fprintf(stderr, "test_tls: fixtures left behind: %s\n", strerror(errno));
	return bad ? -1 : 0;
}

/* ---- engines in memory ---- */

/* One end: its engine, its first error, what it received. */
struct side {
	struct tls_conn *t;
	int rc;
	char err[512];
	uint8_t *in;
	size_t in_len, in_cap;
	size_t wire; /* ciphertext bytes it sent */
};

struct pair {
	struct side c, s;
	size_t chunk; /* ciphertext moved in pieces of this size; 0: all at once */
};

static void side_append(struct side *d, const uint8_t *p, size_t n)
{
	if (n == 0)
		return;
	if (d->in_len + n > d->in_cap) {
		d->in_cap = (d->in_len + n) * 2;
		d->in = realloc(d->in, d->in_cap);
		assert_non_null(d->in);
	}
	memcpy(d->in + d->in_len, p, n);
	d->in_len += n;
}

/* Reads every byte of plaintext d has; keeps the first error. */
static void drain(struct side *d)
{
	uint8_t buf[5000]; /* not a record's size: reads end mid-record */
	long n;

	while (d->rc == 0) {
		n = tls_conn_read(d->t, buf, sizeof(buf), d->err, sizeof(d->err));
		if (n < 0)
			d->rc = (int)n;
		if (n <= 0)
			break;
		side_append(d, buf, (size_t)n);
	}
}

/* Moves from's pending ciphertext (a piece of it) into to, and reads. */
static bool flow(struct side *from, struct side *to, size_t chunk)
{
	const uint8_t *p;
	size_t n = tls_conn_pending(from->t, &p);
	int rc;

	if (n == 0)
		return false;
	if (chunk && n > chunk)
		n = chunk;
	if (to->rc == 0) {
		rc = tls_conn_feed(to->t, p, n, to->err, sizeof(to->err));
		if (rc)
			to->rc = rc;
	}
	tls_conn_consume(from->t, n);
	from->wire += n;
	drain(to);
	return true;
}

/* Until neither side has anything to send. */
static void pump(struct pair *p)
{
	long rounds = 0;

	while (flow(&p->c, &p->s, p->chunk) | flow(&p->s, &p->c, p->chunk))
		assert_true(++rounds < 10 * 1000 * 1000);
	assert_int_equal(ERR_peek_error(), 0); /* the engine leaves no error behind */
}

static struct tls_config *config_ok(const struct tls_settings *s)
{
	char err[512];
	struct tls_config *c = tls_config_new(s, err, sizeof(err));

	if (!c)
		fail_msg("tls_config_new: %s", err);
	assert_int_equal(ERR_peek_error(), 0);
	return c;
}

/* A pair on these settings; the configs are dropped at once, the
 * connections keep them. */
static void pair_open(struct pair *p, const struct tls_settings *ss, const struct tls_settings *cs)
{
	struct tls_config *sc = config_ok(ss), *cc = config_ok(cs);

	memset(p, 0, sizeof(*p));
	p->s.t = tls_conn_new(sc);
	p->c.t = tls_conn_new(cc);
	assert_non_null(p->s.t);
	assert_non_null(p->c.t);
	tls_config_unref(sc);
	tls_config_unref(cc);
}

static void pair_close(struct pair *p)
{
	tls_conn_free(p->c.t);
	tls_conn_free(p->s.t);
	free(p->c.in);
	free(p->s.in);
}

static void expect_ok(const struct pair *p)
{
	if (p->c.rc || p->s.rc)
		fail_msg("client %d (%s), server %d (%s)", p->c.rc, p->c.err, p->s.rc, p->s.err);
	assert_true(tls_conn_handshake_done(p->c.t));
	assert_true(tls_conn_handshake_done(p->s.t));
}

/* d failed with code and an err holding every one of the words. */
static void expect_failed(const struct side *d, int code, const char *w1, const char *w2)
{
	if (d->rc != code)
		fail_msg("expected %d (%s), got %d: %s", code, tls_strerror(code), d->rc, d->err);
	if (w1 && !strstr(d->err, w1))
		fail_msg("err lacks \"%s\": %s", w1, d->err);
	if (w2 && !strstr(d->err, w2))
		fail_msg("err lacks \"%s\": %s", w2, d->err);
}

static struct tls_settings server_settings(const struct fixtures *f)
{
	return (struct tls_settings){.role = TLS_SERVER,
				     .certfile = path(f, "server.crt"),
				     .keyfile = path(f, "server.key")};
}

static struct tls_settings client_settings(const struct fixtures *f)
{
	return (struct tls_settings){
	    .role = TLS_CLIENT, .cafile = path(f, "ca.crt"), .server_name = "localhost"};
}

/* A server that requires a client certificate from the CA. */
static struct tls_settings mutual_settings(const struct fixtures *f)
{
	struct tls_settings s = server_settings(f);

	s.cafile = path(f, "ca.crt");
	s.require_peer_cert = true;
	return s;
}

/* A client presenting name.crt / name.key. */
static struct tls_settings client_with_cert(const struct fixtures *f, const char *crt,
					    const char *key)
{
	struct tls_settings s = client_settings(f);

	s.certfile = path(f, crt);
	s.keyfile = path(f, key);
	return s;
}

static void write_ok(struct side *d, const void *data, size_t len)
{
	int rc = tls_conn_write(d->t, data, len, d->err, sizeof(d->err));

	if (rc)
		fail_msg("tls_conn_write: %d %s", rc, d->err);
}

static void expect_in(const struct side *d, const char *text)
{
	assert_int_equal(d->in_len, strlen(text));
	assert_memory_equal(d->in, text, d->in_len);
}

/* ---- tests: handshakes and data ---- */

static void test_looks_like_hello(void **state)
{
	struct fixtures *f = *state;
	struct tls_settings cs = client_settings(f);
	struct tls_config *cc = config_ok(&cs);
	struct tls_conn *t = tls_conn_new(cc);
	const uint8_t *hello;
	size_t n = tls_conn_pending(t, &hello);
	static const uint8_t connect[] = "\x10\x0c\x00\x04MQTT\x04\x02\x00\x3c\x00\x00";
	static const uint8_t get[] = "GET / HTTP/1.1\r\n";
	static const uint8_t tls14[] = {0x16, 0x03, 0x05}, ssl2[] = {0x16, 0x02};
	static const uint8_t appdata[] = {0x17, 0x03, 0x03};

	/* A client's ClientHello is pending as soon as it exists. */
	assert_true(n > 100);
	for (size_t i = 0; i <= n; i++)
		assert_true(tls_looks_like_hello(hello, i));
	for (size_t i = 1; i < sizeof(connect); i++)
		assert_false(tls_looks_like_hello(connect, i));
	for (size_t i = 1; i < sizeof(get); i++)
		assert_false(tls_looks_like_hello(get, i));
	assert_false(tls_looks_like_hello(tls14, 3));
	assert_true(tls_looks_like_hello(tls14, 2)); /* could still be */
	assert_false(tls_looks_like_hello(ssl2, 2));
	assert_false(tls_looks_like_hello(appdata, 3));
	assert_true(tls_looks_like_hello(NULL, 0));
	tls_conn_free(t);
	tls_config_unref(cc);
}

/* Default settings: TLS 1.3, data both ways, the names on both sides. */
static void test_handshake(void **state)
{
	struct fixtures *f = *state;
	struct tls_settings ss = server_settings(f), cs = client_settings(f);
	struct pair p;
	char id[64];

	pair_open(&p, &ss, &cs);
	assert_false(tls_conn_handshake_done(p.c.t));
	assert_string_equal(tls_conn_version(p.s.t), "");
	assert_string_equal(tls_conn_cipher(p.c.t), "");
	pump(&p);
	expect_ok(&p);
	assert_string_equal(tls_conn_version(p.c.t), "TLSv1.3");
	assert_string_equal(tls_conn_version(p.s.t), "TLSv1.3");
	assert_string_equal(tls_conn_cipher(p.c.t), tls_conn_cipher(p.s.t));
	assert_true(!strncmp(tls_conn_cipher(p.s.t), "TLS_", 4));
	assert_string_equal(tls_conn_alpn(p.c.t), "");
	/* The client sees the server's name; the server asked for no
	 * certificate, so it has no identity for the client. */
	assert_true(tls_conn_peer_identity(p.c.t, id, sizeof(id)));
	assert_string_equal(id, "localhost");
	assert_false(tls_conn_peer_identity(p.s.t, id, sizeof(id)));
	assert_string_equal(id, "");

	write_ok(&p.c, "\x10\x0c\x00\x04MQTT", 8);
	write_ok(&p.s, "\x20\x02\x00\x00", 4);
	write_ok(&p.s, "\x30\x03\x00\x01x", 5);
	pump(&p);
	assert_int_equal(p.s.in_len, 8);
	assert_memory_equal(p.s.in, "\x10\x0c\x00\x04MQTT", 8);
	assert_int_equal(p.c.in_len, 9);
	assert_memory_equal(p.c.in, "\x20\x02\x00\x00\x30\x03\x00\x01x", 9);
	expect_ok(&p);
	pair_close(&p);
}

/* Every record split across feeds: the handshake fed a byte at a time. */
static void test_handshake_byte_by_byte(void **state)
{
	struct fixtures *f = *state;
	struct tls_settings ss = mutual_settings(f),
			    cs = client_with_cert(f, "client.crt", "client.key");
	struct pair p;

	pair_open(&p, &ss, &cs);
	p.chunk = 1;
	write_ok(&p.c, "early", 5);
	pump(&p);
	expect_ok(&p);
	write_ok(&p.s, "reply", 5);
	pump(&p);
	expect_in(&p.s, "early");
	expect_in(&p.c, "reply");
	pair_close(&p);
}

static void fill_pattern(uint8_t *buf, size_t len, uint32_t seed)
{
	for (size_t i = 0; i < len; i++) {
		seed = seed * 1103515245u + 12345u;
		buf[i] = (uint8_t)(seed >> 16);
	}
}

/* 1 MiB each way, moved in pieces that end mid-record; the ciphertext is
 * the plaintext plus 22 bytes per 16 KiB record (TLS 1.3). */
static void test_large_both_ways(void **state)
{
	struct fixtures *f = *state;
	struct tls_settings ss = server_settings(f), cs = client_settings(f);
	const size_t big = 1024 * 1024;
	uint8_t *up = malloc(big), *down = malloc(big);
	const uint8_t *ct;
	struct pair p;

	assert_non_null(up);
	assert_non_null(down);
	fill_pattern(up, big, 1);
	fill_pattern(down, big, 2);
	pair_open(&p, &ss, &cs);
	pump(&p);
	expect_ok(&p);
	assert_int_equal(tls_conn_pending(p.c.t, &ct), 0);
	write_ok(&p.c, up, big);
	assert_int_equal(tls_conn_pending(p.c.t, &ct), big + (big / 16384) * 22);
	write_ok(&p.s, down, big / 2);
	write_ok(&p.s, down + big / 2, big / 2);
	p.chunk = 7777;
	pump(&p);
	expect_ok(&p);
	assert_int_equal(p.s.in_len, big);
	assert_memory_equal(p.s.in, up, big);
	assert_int_equal(p.c.in_len, big);
	assert_memory_equal(p.c.in, down, big);
	/* Small writes after the large ones (the trimmed BIOs still work). */
	write_ok(&p.c, "x", 1);
	assert_int_equal(tls_conn_pending(p.c.t, &ct), 1 + 22);
	pump(&p);
	assert_int_equal(p.s.in_len, big + 1);
	pair_close(&p);
	free(up);
	free(down);
}

/* Plaintext written before the handshake completes goes after it, in
 * order, and so does a close_notify asked for then. */
static void test_write_before_handshake(void **state)
{
	struct fixtures *f = *state;
	struct tls_settings ss = server_settings(f), cs = client_settings(f);
	uint8_t *early = malloc(TLS_EARLY_MAX);
	struct pair p;

	assert_non_null(early);
	fill_pattern(early, TLS_EARLY_MAX, 3);
	pair_open(&p, &ss, &cs);
	write_ok(&p.c, early, 1000);
	write_ok(&p.c, early + 1000, TLS_EARLY_MAX - 1000); /* exactly the bound */
	write_ok(&p.s, "welcome", 7);
	tls_conn_shutdown(p.c.t);
	assert_false(tls_conn_handshake_done(p.c.t));
	pump(&p);
	assert_int_equal(p.s.in_len, TLS_EARLY_MAX);
	assert_memory_equal(p.s.in, early, TLS_EARLY_MAX);
	expect_failed(&p.s, TLS_ECLOSED, "close_notify", NULL);
	assert_int_equal(p.c.rc, 0);
	expect_in(&p.c, "welcome");
	pair_close(&p);

	/* One byte past the bound ends the connection. */
	pair_open(&p, &ss, &cs);
	write_ok(&p.c, early, TLS_EARLY_MAX);
	assert_int_equal(tls_conn_write(p.c.t, early, 1, p.c.err, sizeof(p.c.err)), TLS_ENOMEM);
	assert_non_null(strstr(p.c.err, "before the TLS handshake"));
	memset(p.c.err, 0, sizeof(p.c.err));
	assert_int_equal(tls_conn_feed(p.c.t, (const uint8_t *)"", 0, p.c.err, sizeof(p.c.err)),
			 TLS_ENOMEM);
	assert_non_null(strstr(p.c.err, "before the TLS handshake")); /* the same sentence */
	pair_close(&p);
	free(early);
}

/* ---- tests: ALPN ---- */

static void alpn_pair(const struct fixtures *f, const char *server, const char *client,
		      struct pair *p)
{
	struct tls_settings ss = server_settings(f), cs = client_settings(f);

	ss.alpn = server;
	cs.alpn = client;
	pair_open(p, &ss, &cs);
	pump(p);
}

static void test_alpn(void **state)
{
	struct fixtures *f = *state;
	struct pair p;

	/* The server's order wins. */
	alpn_pair(f, "mqtt,http/1.1", "http/1.1,mqtt", &p);
	expect_ok(&p);
	assert_string_equal(tls_conn_alpn(p.s.t), "mqtt");
	assert_string_equal(tls_conn_alpn(p.c.t), "mqtt");
	pair_close(&p);

	alpn_pair(f, "mqtt,http/1.1", "x-other,http/1.1", &p);
	expect_ok(&p);
	assert_string_equal(tls_conn_alpn(p.s.t), "http/1.1");
	assert_string_equal(tls_conn_alpn(p.c.t), "http/1.1");
	pair_close(&p);

	/* A client offering none: accepted, no protocol. */
	alpn_pair(f, "mqtt", NULL, &p);
	expect_ok(&p);
	assert_string_equal(tls_conn_alpn(p.s.t), "");
	assert_string_equal(tls_conn_alpn(p.c.t), "");
	pair_close(&p);

	/* A server with no list ignores the client's. */
	alpn_pair(f, NULL, "mqtt", &p);
	expect_ok(&p);
	assert_string_equal(tls_conn_alpn(p.c.t), "");
	pair_close(&p);

	/* Offering only others: refused with no_application_protocol. */
	alpn_pair(f, "mqtt", "h2,http/1.1", &p);
	expect_failed(&p.s, TLS_EHANDSHAKE, "no application protocol", NULL);
	expect_failed(&p.c, TLS_EHANDSHAKE, "alert no application protocol", NULL);
	assert_false(tls_conn_handshake_done(p.s.t));
	pair_close(&p);
}

/* ---- tests: the client verifies the server ---- */

/* A client with cs against the default server. */
static void client_pair(const struct fixtures *f, const struct tls_settings *cs, struct pair *p)
{
	struct tls_settings ss = server_settings(f);

	pair_open(p, &ss, cs);
	pump(p);
}

static void test_verify_server(void **state)
{
	struct fixtures *f = *state;
	struct tls_settings cs = client_settings(f);
	struct pair p;

	client_pair(f, &cs, &p);
	expect_ok(&p);
	pair_close(&p);

	cs.cafile = NULL;
	cs.capath = path(f, "capath");
	client_pair(f, &cs, &p);
	expect_ok(&p);
	pair_close(&p);

	/* No CA given: the system's, which do not know the test CA. */
	cs.capath = NULL;
	client_pair(f, &cs, &p);
	expect_failed(&p.c, TLS_EHANDSHAKE, "certificate verify failed: ", NULL);
	pair_close(&p);

	cs = client_settings(f);
	cs.cafile = path(f, "ca2.crt");
	client_pair(f, &cs, &p);
	expect_failed(&p.c, TLS_EHANDSHAKE,
		      "certificate verify failed: ", "unable to get local issuer certificate");
	expect_failed(&p.s, TLS_EHANDSHAKE, "alert unknown ca", NULL);
	pair_close(&p);
}

static void test_verify_server_name(void **state)
{
	struct fixtures *f = *state;
	struct tls_settings cs = client_settings(f);
	struct pair p;

	cs.server_name = "example.org";
	client_pair(f, &cs, &p);
	expect_failed(&p.c, TLS_EHANDSHAKE, "certificate verify failed: ", "hostname mismatch");
	pair_close(&p);

	cs.server_name = "127.0.0.1";
	client_pair(f, &cs, &p);
	expect_ok(&p);
	pair_close(&p);

	cs.server_name = "127.0.0.2";
	client_pair(f, &cs, &p);
	expect_failed(&p.c, TLS_EHANDSHAKE, "certificate verify failed: ", "IP address mismatch");
	pair_close(&p);

	/* An address the certificate does not list. */
	cs.server_name = "::1";
	client_pair(f, &cs, &p);
	expect_failed(&p.c, TLS_EHANDSHAKE, "IP address mismatch", NULL);
	pair_close(&p);
}

static void test_insecure(void **state)
{
	struct fixtures *f = *state;
	struct tls_settings cs = {
	    .role = TLS_CLIENT, .insecure = true, .server_name = "not-the-name.example"};
	struct pair p;

	client_pair(f, &cs, &p);
	expect_ok(&p);
	pair_close(&p);

	cs.server_name = NULL;
	cs.cafile = path(f, "ca2.crt"); /* a CA that did not sign: not checked */
	client_pair(f, &cs, &p);
	expect_ok(&p);
	pair_close(&p);
}

/* ---- tests: the server requires a client certificate ---- */

static void mutual_pair(const struct fixtures *f, const struct tls_settings *ss, const char *name,
			struct pair *p)
{
	char crt[32], key[32];
	struct tls_settings cs = client_settings(f);

	if (name) {
		snprintf(crt, sizeof(crt), "%s.crt", name);
		snprintf(key, sizeof(key), "%s.key", name);
		cs = client_with_cert(f, crt, key);
	}
	pair_open(p, ss, &cs);
	pump(p);
}

static void test_client_cert_refused(void **state)
{
	struct fixtures *f = *state;
	struct tls_settings ss = mutual_settings(f);
	struct pair p;

	/* The TLS 1.3 client completes its side first and learns of the
	 * refusal from the alert (still a handshake failure). */
	mutual_pair(f, &ss, NULL, &p);
	expect_failed(&p.s, TLS_EHANDSHAKE, "peer did not return a certificate", NULL);
	expect_failed(&p.c, TLS_EHANDSHAKE, "alert", "certificate required");
	pair_close(&p);

	mutual_pair(f, &ss, "other", &p);
	expect_failed(&p.s, TLS_EHANDSHAKE,
		      "certificate verify failed: ", "unable to get local issuer certificate");
	expect_failed(&p.c, TLS_EHANDSHAKE, "alert unknown ca", NULL);
	pair_close(&p);

	mutual_pair(f, &ss, "expired", &p);
	expect_failed(&p.s, TLS_EHANDSHAKE,
		      "certificate verify failed: ", "certificate has expired");
	expect_failed(&p.c, TLS_EHANDSHAKE, "alert certificate expired", NULL);
	pair_close(&p);

	/* Without the CRL, the revoked one passes; with it, it does not. */
	mutual_pair(f, &ss, "revoked", &p);
	expect_ok(&p);
	pair_close(&p);
	ss.crlfile = path(f, "crl.pem");
	mutual_pair(f, &ss, "revoked", &p);
	expect_failed(&p.s, TLS_EHANDSHAKE, "certificate verify failed: ", "certificate revoked");
	expect_failed(&p.c, TLS_EHANDSHAKE, "alert certificate revoked", NULL);
	pair_close(&p);

	/* A CA that has no CRL in the file: every one of its certificates is
	 * refused (the CRL cannot be found). */
	ss.cafile = path(f, "ca2.crt");
	mutual_pair(f, &ss, "other", &p);
	expect_failed(&p.s, TLS_EHANDSHAKE,
		      "certificate verify failed: ", "unable to get certificate CRL");
	pair_close(&p);
}

static void test_client_cert_identity(void **state)
{
	struct fixtures *f = *state;
	struct tls_settings ss = mutual_settings(f);
	struct pair p;
	char id[64];

	ss.crlfile = path(f, "crl.pem"); /* alice is not revoked */
	mutual_pair(f, &ss, "client", &p);
	expect_ok(&p);
	assert_true(tls_conn_peer_identity(p.s.t, id, sizeof(id)));
	assert_string_equal(id, "alice");
	assert_true(tls_conn_peer_identity(p.s.t, id, 6));  /* "alice" and its NUL */
	assert_false(tls_conn_peer_identity(p.s.t, id, 5)); /* never cut */
	assert_string_equal(id, "");
	pair_close(&p);

	/* No CN: the first DNS SAN (before the e-mail one). */
	mutual_pair(f, &ss, "san", &p);
	expect_ok(&p);
	assert_true(tls_conn_peer_identity(p.s.t, id, sizeof(id)));
	assert_string_equal(id, "device-7.example");
	pair_close(&p);

	/* capath in place of cafile. */
	ss.cafile = NULL;
	ss.capath = path(f, "capath");
	ss.crlfile = NULL;
	mutual_pair(f, &ss, "client", &p);
	expect_ok(&p);
	pair_close(&p);

	/* A server that does not require one asks for none. */
	ss = server_settings(f);
	mutual_pair(f, &ss, "client", &p);
	expect_ok(&p);
	assert_false(tls_conn_peer_identity(p.s.t, id, sizeof(id)));
	pair_close(&p);
}

/* ---- tests: settings refused ---- */

struct bad_config {
	struct tls_settings s;
	const char *word1, *word2; /* in err */
};

static void expect_config_error(const struct bad_config *b)
{
	char err[512] = "";
	struct tls_config *c;

	ERR_clear_error();
	c = tls_config_new(&b->s, err, sizeof(err));
	if (c)
		fail_msg("accepted; expected an error with \"%s\"", b->word1);
	if (!strstr(err, b->word1) || (b->word2 && !strstr(err, b->word2)))
		fail_msg("err lacks \"%s\" / \"%s\": %s", b->word1, b->word2 ? b->word2 : "", err);
	assert_int_equal(ERR_peek_error(), 0);
}

static void test_config_errors(void **state)
{
	struct fixtures *f = *state;
	const char *crt = path(f, "server.crt"), *key = path(f, "server.key");
	const char *ca = path(f, "ca.crt"), *garbage = path(f, "garbage.pem");
	const char *missing = path(f, "missing.crt");
	const struct bad_config bad[] = {
	    {{.role = TLS_SERVER, .certfile = missing, .keyfile = key}, missing, "No such file"},
	    {{.role = TLS_SERVER, .certfile = crt, .keyfile = missing}, missing, "No such file"},
	    {{.role = TLS_SERVER, .certfile = crt, .keyfile = path(f, "client.key")},
	     "is not the key of certfile",
	     "key values mismatch"},
	    {{.role = TLS_SERVER, .certfile = garbage, .keyfile = key}, garbage, "asn1"},
	    {{.role = TLS_SERVER, .certfile = crt, .keyfile = garbage}, garbage, "PEM private key"},
	    {{.role = TLS_SERVER, .certfile = crt, .keyfile = path(f, "encrypted.key")},
	     path(f, "encrypted.key"),
	     "without passphrase"},
	    {{.role = TLS_CLIENT, .cafile = garbage, .server_name = "h"}, garbage, NULL},
	    {{.role = TLS_CLIENT, .cafile = missing, .server_name = "h"}, missing, "No such file"},
	    {{.role = TLS_CLIENT, .cafile = ca, .crlfile = garbage, .server_name = "h"},
	     garbage,
	     "no start line"},
	    {{.role = TLS_CLIENT, .capath = ca, .server_name = "h"}, ca, "not a directory"},
	    {{.role = TLS_CLIENT, .cafile = ca, .server_name = "h", .ciphers = "NOPE"},
	     "ciphers NOPE",
	     "no cipher match"},
	    {{.role = TLS_CLIENT, .cafile = ca, .server_name = "h", .ciphersuites = "NOPE"},
	     "ciphersuites NOPE",
	     NULL},
	    {{.role = TLS_CLIENT, .cafile = ca, .server_name = "h", .groups = "nope"},
	     "groups nope",
	     NULL},
	    {{.role = TLS_CLIENT, .cafile = ca, .server_name = "h", .min_version = "1.1"},
	     "min_version",
	     NULL},
	    {{.role = TLS_CLIENT, .cafile = ca, .server_name = "h", .alpn = "mqtt,,x"},
	     "alpn",
	     NULL},
	    {{.role = TLS_SERVER, .certfile = crt, .keyfile = key, .alpn = ","}, "alpn", NULL},
	    {{.role = TLS_SERVER}, "certfile and keyfile", NULL},
	    {{.role = TLS_CLIENT, .certfile = crt, .insecure = true}, "keyfile", NULL},
	    {{.role = TLS_SERVER, .certfile = crt, .keyfile = key, .require_peer_cert = true},
	     "cafile or capath",
	     NULL},
	    {{.role = TLS_CLIENT, .cafile = ca}, "server_name", NULL},
	    {{.role = TLS_CLIENT, .insecure = true, .crlfile = path(f, "crl.pem")},
	     "crlfile",
	     NULL},
	    {{.role = TLS_SERVER, .certfile = crt, .keyfile = key, .crlfile = path(f, "crl.pem")},
	     "crlfile",
	     NULL},
	};
	char name[300];

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		expect_config_error(&bad[i]);

	/* An ALPN name of 256 bytes: over the protocol's limit. */
	memset(name, 'a', 256);
	name[256] = '\0';
	expect_config_error(&(struct bad_config){
	    {.role = TLS_CLIENT, .insecure = true, .alpn = name}, "alpn", NULL});
	name[255] = '\0';
	tls_config_unref(
	    config_ok(&(struct tls_settings){.role = TLS_CLIENT, .insecure = true, .alpn = name}));
}

/* ---- tests: not TLS, broken TLS, closing ---- */

static void test_plain_bytes(void **state)
{
	struct fixtures *f = *state;
	struct tls_settings ss = server_settings(f);
	struct tls_config *sc = config_ok(&ss);
	static const uint8_t connect[] = "\x10\x0c\x00\x04MQTT\x04\x02\x00\x3c\x00\x00";
	static const uint8_t get[] = "GET / HTTP/1.1\r\nHost: x\r\n\r\n";
	const struct {
		const uint8_t *data;
		size_t len;
		const char *why;
	} plain[] = {
	    {connect, sizeof(connect) - 1, "wrong version number"},
	    {get, sizeof(get) - 1, "http request"},
	};
	char err[256], again[256];
	uint8_t buf[16];

	for (size_t i = 0; i < 2; i++) {
		struct tls_conn *t = tls_conn_new(sc);

		assert_false(tls_looks_like_hello(plain[i].data, plain[i].len));
		assert_int_equal(tls_conn_feed(t, plain[i].data, plain[i].len, err, sizeof(err)),
				 TLS_EHANDSHAKE);
		if (!strstr(err, plain[i].why))
			fail_msg("err lacks \"%s\": %s", plain[i].why, err);
		assert_int_equal(ERR_peek_error(), 0);
		/* Ended for good: the same answer after. */
		assert_int_equal(tls_conn_read(t, buf, sizeof(buf), again, sizeof(again)),
				 TLS_EHANDSHAKE);
		assert_string_equal(again, err);
		assert_int_equal(tls_conn_write(t, connect, 4, again, sizeof(again)),
				 TLS_EHANDSHAKE);
		tls_conn_free(t);
	}
	tls_config_unref(sc);
}

/* A record that does not decrypt: a handshake failure before any
 * plaintext came, a protocol error after. */
static void test_broken_record(void **state)
{
	struct fixtures *f = *state;
	struct tls_settings ss = server_settings(f), cs = client_settings(f);
	uint8_t forged[5 + 40] = {0x17, 0x03, 0x03, 0x00, 40};
	struct pair p;

	for (int after_data = 0; after_data < 2; after_data++) {
		pair_open(&p, &ss, &cs);
		pump(&p);
		expect_ok(&p);
		if (after_data) {
			write_ok(&p.c, "hi", 2);
			pump(&p);
			expect_in(&p.s, "hi");
		}
		assert_int_equal(
		    tls_conn_feed(p.s.t, forged, sizeof(forged), p.s.err, sizeof(p.s.err)), 0);
		drain(&p.s);
		expect_failed(&p.s, after_data ? TLS_EPROTO : TLS_EHANDSHAKE, "bad record mac",
			      NULL);
		pair_close(&p);
	}
}

static void test_close_notify(void **state)
{
	struct fixtures *f = *state;
	struct tls_settings ss = server_settings(f), cs = client_settings(f);
	struct pair p;

	pair_open(&p, &ss, &cs);
	pump(&p);
	write_ok(&p.c, "bye", 3);
	tls_conn_shutdown(p.c.t);
	tls_conn_shutdown(p.c.t); /* once */
	pump(&p);
	expect_in(&p.s, "bye");
	expect_failed(&p.s, TLS_ECLOSED, "close_notify", NULL);
	assert_int_equal(p.c.rc, 0);
	/* Half closed: the server still answers, then closes too. */
	write_ok(&p.s, "ok", 2);
	tls_conn_shutdown(p.s.t);
	pump(&p);
	expect_in(&p.c, "ok");
	expect_failed(&p.c, TLS_ECLOSED, "close_notify", NULL);
	/* Reads stay ended. */
	{
		uint8_t b[4];

		assert_int_equal(tls_conn_read(p.s.t, b, sizeof(b), p.s.err, sizeof(p.s.err)),
				 TLS_ECLOSED);
	}
	pair_close(&p);

	/* An engine that did not end on close_notify answers with its own. */
	pair_open(&p, &ss, &cs);
	pump(&p);
	tls_conn_shutdown(p.s.t);
	pump(&p);
	expect_failed(&p.c, TLS_ECLOSED, "close_notify", NULL);
	assert_int_equal(p.s.rc, 0);
	assert_int_equal(tls_conn_write(p.s.t, (const uint8_t *)"x", 1, p.s.err, sizeof(p.s.err)),
			 TLS_ECLOSED); /* after its own close_notify */
	pair_close(&p);
}

/* A connection keeps its config alive (ASan would see the config used
 * after free); refs and unrefs balance. */
static void test_config_refcount(void **state)
{
	struct fixtures *f = *state;
	struct tls_settings ss = server_settings(f), cs = client_settings(f);
	struct tls_config *sc = config_ok(&ss), *cc = config_ok(&cs);
	struct pair p;

	memset(&p, 0, sizeof(p));
	tls_config_ref(sc);
	p.s.t = tls_conn_new(sc);
	tls_config_unref(sc);
	tls_config_unref(sc); /* the owner's: only the connection's is left */
	tls_config_unref(NULL);
	p.c.t = tls_conn_new(cc);
	tls_config_unref(cc);
	pump(&p);
	expect_ok(&p);
	write_ok(&p.c, "alive", 5);
	pump(&p);
	expect_in(&p.s, "alive");
	pair_close(&p);
	tls_conn_free(NULL);
}

/* Some other code's error left on OpenSSL's queue. */
static void stale_error(void)
{
	ERR_raise(ERR_LIB_SSL, SSL_R_BAD_LENGTH);
}

/* One flow with a stale error before each engine call. */
static bool stale_flow(struct side *from, struct side *to)
{
	const uint8_t *p;
	size_t n = tls_conn_pending(from->t, &p);
	uint8_t buf[64];
	long r;

	if (n == 0)
		return false;
	stale_error();
	assert_int_equal(tls_conn_feed(to->t, p, n, to->err, sizeof(to->err)), 0);
	tls_conn_consume(from->t, n);
	do {
		stale_error();
		r = tls_conn_read(to->t, buf, sizeof(buf), to->err, sizeof(to->err));
		if (r < 0)
			fail_msg("tls_conn_read: %ld %s", r, to->err);
		side_append(to, buf, (size_t)r);
	} while (r > 0);
	return true;
}

/* An error some other code left on OpenSSL's queue does not fail the
 * engine's calls: SSL_get_error would read it as theirs. */
static void test_stale_error_queue(void **state)
{
	struct fixtures *f = *state;
	struct tls_settings ss = server_settings(f), cs = client_settings(f);
	struct pair p;
	int rounds = 0;

	pair_open(&p, &ss, &cs);
	stale_error();
	write_ok(&p.c, "early", 5);
	while (stale_flow(&p.c, &p.s) | stale_flow(&p.s, &p.c))
		assert_true(++rounds < 20);
	expect_ok(&p);
	stale_error();
	write_ok(&p.c, "data", 4);
	stale_error();
	write_ok(&p.s, "back", 4);
	while (stale_flow(&p.c, &p.s) | stale_flow(&p.s, &p.c))
		assert_true(++rounds < 40);
	expect_in(&p.s, "earlydata");
	expect_in(&p.c, "back");
	ERR_clear_error();
	pair_close(&p);
}

/* ---- tests: a raw OpenSSL client (TLS 1.2 only, chosen suites) ---- */

struct raw {
	SSL_CTX *ctx;
	SSL *ssl;
	bool failed;
};

static void raw_open(struct raw *r, const char *ciphers)
{
	r->ctx = SSL_CTX_new(TLS_client_method());
	assert_non_null(r->ctx);
	assert_int_equal(SSL_CTX_set_max_proto_version(r->ctx, TLS1_2_VERSION), 1);
	if (ciphers)
		assert_int_equal(SSL_CTX_set_cipher_list(r->ctx, ciphers), 1);
	r->ssl = SSL_new(r->ctx);
	assert_non_null(r->ssl);
	SSL_set_bio(r->ssl, BIO_new(BIO_s_mem()), BIO_new(BIO_s_mem()));
	SSL_set_connect_state(r->ssl);
	r->failed = false;
}

static void raw_close(struct raw *r)
{
	SSL_free(r->ssl);
	SSL_CTX_free(r->ctx);
	ERR_clear_error(); /* the raw client's own failures */
}

/* Handshakes the raw client against s until neither moves. */
static void raw_pump(struct raw *r, struct side *s)
{
	for (int moved = 1, rounds = 0; moved; rounds++) {
		char *p;
		long n;
		const uint8_t *q;
		size_t m;

		assert_true(rounds < 100);
		moved = 0;
		if (!r->failed && !SSL_is_init_finished(r->ssl)) {
			int ret = SSL_do_handshake(r->ssl);

			r->failed = ret != 1 && SSL_get_error(r->ssl, ret) != SSL_ERROR_WANT_READ;
		}
		ERR_clear_error();
		n = BIO_get_mem_data(SSL_get_wbio(r->ssl), &p);
		if (n > 0 && s->rc == 0)
			s->rc = tls_conn_feed(s->t, (const uint8_t *)p, (size_t)n, s->err,
					      sizeof(s->err));
		if (n > 0)
			(void)BIO_reset(SSL_get_wbio(r->ssl));
		drain(s);
		m = tls_conn_pending(s->t, &q);
		if (m > 0)
			assert_int_equal(BIO_write(SSL_get_rbio(r->ssl), q, (int)m), (int)m);
		tls_conn_consume(s->t, m);
		moved = n > 0 || m > 0;
	}
}

static void raw_run(const struct fixtures *f, const char *min_version, const char *ciphers,
		    struct raw *r, struct side *s)
{
	struct tls_settings ss = server_settings(f);
	struct tls_config *sc;

	ss.min_version = min_version;
	sc = config_ok(&ss);
	memset(s, 0, sizeof(*s));
	s->t = tls_conn_new(sc);
	tls_config_unref(sc);
	raw_open(r, ciphers);
	raw_pump(r, s);
}

static void raw_end(struct raw *r, struct side *s)
{
	raw_close(r);
	tls_conn_free(s->t);
	free(s->in);
}

static void test_tls12(void **state)
{
	struct fixtures *f = *state;
	struct raw r;
	struct side s;
	const uint8_t *ct;
	size_t n;

	/* The default minimum takes a TLS 1.2 client; OpenSSL's client
	 * prefers AES-256-GCM, and its order wins. */
	raw_run(f, NULL, NULL, &r, &s);
	assert_false(r.failed);
	assert_int_equal(s.rc, 0);
	assert_string_equal(tls_conn_version(s.t), "TLSv1.2");
	assert_string_equal(tls_conn_cipher(s.t), "ECDHE-ECDSA-AES256-GCM-SHA384");
	assert_int_equal(SSL_write(r.ssl, "over 1.2", 8), 8);
	raw_pump(&r, &s);
	expect_in(&s, "over 1.2");
	/* TLS 1.2 AES-GCM: 29 bytes a record (header, explicit nonce, tag). */
	write_ok(&s, "0123456789", 10);
	n = tls_conn_pending(s.t, &ct);
	assert_int_equal(n, 10 + 29);
	raw_end(&r, &s);

	/* min_version 1.3 refuses it. */
	raw_run(f, "1.3", NULL, &r, &s);
	assert_true(r.failed);
	expect_failed(&s, TLS_EHANDSHAKE, "unsupported protocol", NULL);
	raw_end(&r, &s);

	/* Suites outside the default list: RSA key exchange, CBC. */
	raw_run(f, NULL, "AES128-GCM-SHA256:ECDHE-ECDSA-AES128-SHA", &r, &s);
	assert_true(r.failed);
	expect_failed(&s, TLS_EHANDSHAKE, "no shared cipher", NULL);
	raw_end(&r, &s);

	/* ChaCha20 is in it. */
	raw_run(f, NULL, "ECDHE-ECDSA-CHACHA20-POLY1305", &r, &s);
	assert_int_equal(s.rc, 0);
	assert_string_equal(tls_conn_cipher(s.t), "ECDHE-ECDSA-CHACHA20-POLY1305");
	raw_end(&r, &s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_looks_like_hello),
	    cmocka_unit_test(test_handshake),
	    cmocka_unit_test(test_handshake_byte_by_byte),
	    cmocka_unit_test(test_large_both_ways),
	    cmocka_unit_test(test_write_before_handshake),
	    cmocka_unit_test(test_alpn),
	    cmocka_unit_test(test_verify_server),
	    cmocka_unit_test(test_verify_server_name),
	    cmocka_unit_test(test_insecure),
	    cmocka_unit_test(test_client_cert_refused),
	    cmocka_unit_test(test_client_cert_identity),
	    cmocka_unit_test(test_config_errors),
	    cmocka_unit_test(test_plain_bytes),
	    cmocka_unit_test(test_broken_record),
	    cmocka_unit_test(test_close_notify),
	    cmocka_unit_test(test_config_refcount),
	    cmocka_unit_test(test_stale_error_queue),
	    cmocka_unit_test(test_tls12),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
