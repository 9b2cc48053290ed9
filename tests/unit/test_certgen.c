/*
 * test_certgen.c - `agora tls init`'s certificates (tls/certgen.h), checked
 * with OpenSSL's own API: the server certificate verifies against the CA
 * for serverAuth, with exactly the names and addresses asked for; keys are
 * EC P-256, match their certificates and are written 0600; the CA is a CA
 * and the leaves are not; validity periods; the client certificate;
 * refusing to overwrite (nothing written), --force, keeping an existing
 * CA, a CA that would expire first, a write that fails part-way (what was
 * written is removed), and the requests refused before any file.
 * Every test works in a fresh directory, removed at teardown.
 */
#include "helpers.h"

#include "tls/certgen.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <ftw.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#define DAY 86400L
#define SNAPSHOT_MAX 16384 /* every file of a run, far more than they take */

static const char *const default_dns[] = { "localhost", NULL };
static const char *const default_ips[] = { "127.0.0.1", "::1", NULL };
static const char *const names[] = { "ca.crt",     "ca.key",     "server.crt",
				     "server.key", "client.crt", "client.key" };

struct tmp {
	char dir[64];
};

/* ---- the directory ---- */

static int setup_tmp(void **state)
{
	struct tmp *t = calloc(1, sizeof(*t));

	if (!t)
		return -1;
	snprintf(t->dir, sizeof(t->dir), "/tmp/agora-test-certgen-XXXXXX");
	if (!mkdtemp(t->dir)) {
		free(t);
		return -1;
	}
	*state = t;
	return 0;
}

static int remove_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)ftw;
	return flag == FTW_DP ? rmdir(path) : unlink(path);
}

static int teardown_tmp(void **state)
{
	struct tmp *t = *state;
	int ret = nftw(t->dir, remove_one, 16, FTW_DEPTH | FTW_PHYS);

	if (ret)
		fprintf(stderr, "could not remove %s: %s\n", t->dir, strerror(errno));
	free(t);
	return ret;
}

static void path_in(const char *dir, const char *name, char *buf, size_t cap)
{
	assert_true((size_t)snprintf(buf, cap, "%s/%s", dir, name) < cap);
}

static bool exists(const char *dir, const char *name)
{
	char path[256];
	struct stat st;

	path_in(dir, name, path, sizeof(path));
	return lstat(path, &st) == 0;
}

/* How many names the directory holds (hidden ones included). */
static int entries(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	int n = 0;

	assert_non_null(d);
	while ((e = readdir(d)))
		n += strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0;
	closedir(d);
	return n;
}

static mode_t mode_of(const char *dir, const char *name)
{
	char path[256];
	struct stat st;

	path_in(dir, name, path, sizeof(path));
	assert_int_equal(stat(path, &st), 0);
	return st.st_mode & 07777;
}

/* Every file's name and bytes, to compare before and after a call. */
static void snapshot(const char *dir, char *out, size_t cap)
{
	size_t len = 0;
	char path[256];
	FILE *f;

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		path_in(dir, names[i], path, sizeof(path));
		len += (size_t)snprintf(out + len, cap - len, "[%s]", names[i]);
		if ((f = fopen(path, "r"))) {
			len += fread(out + len, 1, cap - len - 1, f);
			fclose(f);
		}
		assert_true(len < cap - 64);
	}
	out[len] = '\0';
}

/* ---- OpenSSL's view of the files ---- */

static X509 *load_cert(const char *dir, const char *name)
{
	char path[256];
	X509 *x = NULL;
	FILE *f;

	path_in(dir, name, path, sizeof(path));
	f = fopen(path, "r");
	assert_non_null(f);
	x = PEM_read_X509(f, NULL, NULL, NULL);
	fclose(f);
	assert_non_null(x);
	return x;
}

static EVP_PKEY *load_key(const char *dir, const char *name)
{
	char path[256];
	EVP_PKEY *k;
	FILE *f;

	path_in(dir, name, path, sizeof(path));
	f = fopen(path, "r");
	assert_non_null(f);
	k = PEM_read_PrivateKey(f, NULL, NULL, NULL);
	fclose(f);
	assert_non_null(k);
	return k;
}

/* X509_V_OK when leaf chains to ca (trusted alone) for purpose. */
static int verify(X509 *ca, X509 *leaf, int purpose)
{
	X509_STORE *store = X509_STORE_new();
	X509_STORE_CTX *ctx = X509_STORE_CTX_new();
	int ok, err;

	assert_non_null(store);
	assert_non_null(ctx);
	assert_int_equal(X509_STORE_add_cert(store, ca), 1);
	assert_int_equal(X509_STORE_CTX_init(ctx, store, leaf, NULL), 1);
	assert_int_equal(X509_STORE_CTX_set_purpose(ctx, purpose), 1);
	ok = X509_verify_cert(ctx);
	err = X509_STORE_CTX_get_error(ctx);
	X509_STORE_CTX_free(ctx);
	X509_STORE_free(store);
	ERR_clear_error();
	assert_true(ok == 1 ? err == X509_V_OK : err != X509_V_OK);
	return err;
}

/* "DNS:a,IP:b,..." in the certificate's order; "" when it has none. */
static void san_text(X509 *x, char *out, size_t cap)
{
	GENERAL_NAMES *gens = X509_get_ext_d2i(x, NID_subject_alt_name, NULL, NULL);
	size_t len = 0;

	out[0] = '\0';
	for (int i = 0; gens && i < sk_GENERAL_NAME_num(gens); i++) {
		const GENERAL_NAME *g = sk_GENERAL_NAME_value(gens, i);
		char ip[INET6_ADDRSTRLEN] = "?";
		const ASN1_STRING *s = g->d.ia5;

		if (g->type == GEN_IPADD)
			inet_ntop(ASN1_STRING_length(s) == 4 ? AF_INET : AF_INET6,
				  ASN1_STRING_get0_data(s), ip, sizeof(ip));
		const char *v = g->type == GEN_DNS ? (const char *)ASN1_STRING_get0_data(s) : ip;

		len += (size_t)snprintf(out + len, cap - len, "%s%s:%s", i ? "," : "",
					g->type == GEN_DNS ? "DNS" : "IP", v);
		assert_true(len < cap);
	}
	GENERAL_NAMES_free(gens);
}

static void assert_cn(X509 *x, const char *cn)
{
	char buf[128] = "";

	X509_NAME_get_text_by_NID(X509_get_subject_name(x), NID_commonName, buf, sizeof(buf));
	assert_string_equal(buf, cn);
}

/* An EC P-256 key, that of the certificate. */
static void assert_p256_pair(X509 *x, EVP_PKEY *k)
{
	char group[64] = "";

	assert_true(EVP_PKEY_is_a(k, "EC"));
	assert_int_equal(EVP_PKEY_get_group_name(k, group, sizeof(group), NULL), 1);
	assert_string_equal(group, "prime256v1");
	assert_int_equal(X509_check_private_key(x, k), 1);
	assert_int_equal(X509_get_signature_nid(x), NID_ecdsa_with_SHA256);
	assert_int_equal(X509_get_version(x), X509_VERSION_3);
}

/* notBefore in the past; notAfter days from now, give or take a minute. */
static void assert_days(X509 *x, long days)
{
	int d, s;

	assert_true(X509_cmp_current_time(X509_get0_notBefore(x)) < 0);
	assert_int_equal(ASN1_TIME_diff(&d, &s, NULL, X509_get0_notAfter(x)), 1);
	assert_true(labs((long)d * DAY + s - days * DAY) < 60);
}

/* The subject key identifier of the issuer is the leaf's authority one. */
static void assert_key_ids(X509 *ca, X509 *leaf)
{
	const ASN1_OCTET_STRING *ski = X509_get0_subject_key_id(ca);
	const ASN1_OCTET_STRING *aki = X509_get0_authority_key_id(leaf);

	assert_non_null(ski);
	assert_non_null(aki);
	assert_non_null(X509_get0_subject_key_id(leaf));
	assert_int_equal(ASN1_OCTET_STRING_cmp(ski, aki), 0);
}

static void assert_leaf(X509 *x, uint32_t xku)
{
	uint32_t flags = X509_get_extension_flags(x);

	assert_true(flags & EXFLAG_BCONS); /* CA:FALSE said, not left out */
	assert_false(flags & EXFLAG_CA);
	assert_int_equal(X509_check_ca(x), 0);
	assert_int_equal(X509_get_key_usage(x), KU_DIGITAL_SIGNATURE);
	assert_int_equal(X509_get_extended_key_usage(x), xku);
}

static int generate(const char *dir, const char *client_cn, int force, char *err, size_t errlen)
{
	struct certgen_request r = { .dir = dir, .dns = default_dns, .ips = default_ips,
				     .days = 30, .ca_days = 100, .client_cn = client_cn,
				     .force = force };

	return certgen_init(&r, err, errlen);
}

/* ---- tests ---- */

static void test_server_certificate(void **state)
{
	struct tmp *t = *state;
	const char *const dns[] = { "localhost", "agora.test", "*.dev.agora.test", "localhost",
				    NULL };
	const char *const ips[] = { "127.0.0.1", "::1", "10.1.2.3", "fd00::5", "127.0.0.1", NULL };
	struct certgen_request r = { .dir = t->dir, .dns = dns, .ips = ips, .days = 30,
				     .ca_days = 100 };
	char err[512] = "x", san[512];
	X509 *ca, *srv;
	EVP_PKEY *key;

	assert_int_equal(certgen_init(&r, err, sizeof(err)), 0);
	assert_string_equal(err, "");
	assert_int_equal(entries(t->dir), 4); /* no client files, nothing else */
	ca = load_cert(t->dir, "ca.crt");
	srv = load_cert(t->dir, "server.crt");
	key = load_key(t->dir, "server.key");
	assert_int_equal(verify(ca, srv, X509_PURPOSE_SSL_SERVER), X509_V_OK);
	assert_int_equal(verify(ca, srv, X509_PURPOSE_SSL_CLIENT), X509_V_ERR_INVALID_PURPOSE);
	/* each name once, in the order given */
	san_text(srv, san, sizeof(san));
	assert_string_equal(san, "DNS:localhost,DNS:agora.test,DNS:*.dev.agora.test,"
				 "IP:127.0.0.1,IP:::1,IP:10.1.2.3,IP:fd00::5");
	assert_int_equal(X509_check_host(srv, "localhost", 0, 0, NULL), 1);
	assert_int_equal(X509_check_host(srv, "mqtt.dev.agora.test", 0, 0, NULL), 1);
	assert_int_equal(X509_check_host(srv, "example.com", 0, 0, NULL), 0);
	assert_int_equal(X509_check_ip_asc(srv, "::1", 0), 1);
	assert_int_equal(X509_check_ip_asc(srv, "127.0.0.2", 0), 0);
	assert_cn(srv, "localhost");
	assert_p256_pair(srv, key);
	assert_leaf(srv, XKU_SSL_SERVER);
	assert_key_ids(ca, srv);
	assert_days(srv, 30);
	assert_int_equal(mode_of(t->dir, "server.key"), 0600);
	assert_int_equal(mode_of(t->dir, "server.crt") & 0133, 0); /* not writable by others */
	X509_free(ca);
	X509_free(srv);
	EVP_PKEY_free(key);
}

static void test_ca_certificate(void **state)
{
	struct tmp *t = *state;
	char err[512];
	X509 *ca, *srv;
	EVP_PKEY *key;
	BIGNUM *a, *b;

	assert_int_equal(generate(t->dir, NULL, 0, err, sizeof(err)), 0);
	ca = load_cert(t->dir, "ca.crt");
	srv = load_cert(t->dir, "server.crt");
	key = load_key(t->dir, "ca.key");
	assert_int_equal(X509_check_ca(ca), 1);
	assert_true(X509_get_extension_flags(ca) & EXFLAG_CA);
	assert_true(X509_get_extension_flags(ca) & EXFLAG_SS); /* self-signed */
	assert_int_equal(X509_get_pathlen(ca), 0);
	assert_int_equal(X509_get_key_usage(ca), KU_KEY_CERT_SIGN | KU_CRL_SIGN);
	assert_int_equal(X509_verify(ca, X509_get0_pubkey(ca)), 1);
	assert_int_equal(verify(ca, ca, X509_PURPOSE_ANY), X509_V_OK);
	assert_key_ids(ca, ca);
	assert_p256_pair(ca, key);
	assert_days(ca, 100);
	assert_int_equal(mode_of(t->dir, "ca.key"), 0600);
	/* random 128-bit serials: two of them differ and are long */
	a = ASN1_INTEGER_to_BN(X509_get0_serialNumber(ca), NULL);
	b = ASN1_INTEGER_to_BN(X509_get0_serialNumber(srv), NULL);
	assert_true(BN_cmp(a, b) != 0);
	assert_true(BN_num_bits(a) > 96 && BN_num_bits(a) <= 128);
	assert_false(BN_is_negative(a));
	BN_free(a);
	BN_free(b);
	X509_free(ca);
	X509_free(srv);
	EVP_PKEY_free(key);
}

static void test_client_certificate(void **state)
{
	struct tmp *t = *state;
	char err[512], san[64];
	X509 *ca, *cli;
	EVP_PKEY *key;

	assert_int_equal(generate(t->dir, "Émile", 0, err, sizeof(err)), 0);
	assert_int_equal(entries(t->dir), 6);
	ca = load_cert(t->dir, "ca.crt");
	cli = load_cert(t->dir, "client.crt");
	key = load_key(t->dir, "client.key");
	assert_int_equal(verify(ca, cli, X509_PURPOSE_SSL_CLIENT), X509_V_OK);
	assert_int_equal(verify(ca, cli, X509_PURPOSE_SSL_SERVER), X509_V_ERR_INVALID_PURPOSE);
	assert_cn(cli, "Émile");
	san_text(cli, san, sizeof(san));
	assert_string_equal(san, "");
	assert_p256_pair(cli, key);
	assert_leaf(cli, XKU_SSL_CLIENT);
	assert_key_ids(ca, cli);
	assert_days(cli, 30);
	assert_int_equal(mode_of(t->dir, "client.key"), 0600);
	X509_free(ca);
	X509_free(cli);
	EVP_PKEY_free(key);
}

static void test_creates_directory(void **state)
{
	struct tmp *t = *state;
	char sub[128], deep[128], err[512];

	path_in(t->dir, "certs", sub, sizeof(sub));
	assert_int_equal(generate(sub, NULL, 0, err, sizeof(err)), 0);
	assert_int_equal(mode_of(t->dir, "certs"), 0700);
	assert_int_equal(entries(sub), 4);
	/* one level only: a missing parent is an error, and nothing is made */
	path_in(t->dir, "no/such", deep, sizeof(deep));
	assert_int_equal(generate(deep, NULL, 0, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "cannot create the directory"));
	assert_false(exists(t->dir, "no"));
	/* a file where the directory should be */
	assert_int_equal(generate("/dev/null", NULL, 0, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "not a directory"));
}

static void test_refuses_to_overwrite(void **state)
{
	struct tmp *t = *state;
	char *before = malloc(SNAPSHOT_MAX), *after = malloc(SNAPSHOT_MAX), err[512];

	assert_int_equal(generate(t->dir, "alice", 0, err, sizeof(err)), 0);
	snapshot(t->dir, before, SNAPSHOT_MAX);
	assert_int_equal(generate(t->dir, "alice", 0, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "server.crt already exists"));
	assert_non_null(strstr(err, "nothing written"));
	snapshot(t->dir, after, SNAPSHOT_MAX);
	assert_string_equal(before, after);
	assert_int_equal(entries(t->dir), 6);
	/* force: every file new, the CA included, modes as they should be */
	assert_int_equal(generate(t->dir, "alice", 1, err, sizeof(err)), 0);
	snapshot(t->dir, after, SNAPSHOT_MAX);
	assert_string_not_equal(before, after);
	assert_int_equal(entries(t->dir), 6); /* no .NAME.new left */
	assert_int_equal(mode_of(t->dir, "ca.key"), 0600);
	assert_int_equal(mode_of(t->dir, "client.key"), 0600);
	free(before);
	free(after);
}

/* One leaf file in the way, even a dangling symbolic link: refused,
 * and nothing else appears. */
static void test_one_file_in_the_way(void **state)
{
	struct tmp *t = *state;
	char path[256], err[512];
	X509 *ca, *srv;
	struct stat st;

	path_in(t->dir, "client.key", path, sizeof(path));
	assert_int_equal(symlink("/nonexistent/agora-test", path), 0);
	assert_int_equal(generate(t->dir, "bob", 0, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "client.key already exists"));
	assert_int_equal(entries(t->dir), 1);
	/* without a client certificate asked for, client.key is not in the way */
	assert_int_equal(generate(t->dir, NULL, 0, err, sizeof(err)), 0);
	assert_int_equal(entries(t->dir), 5);
	/* force replaces the link itself, writing nothing through it */
	assert_int_equal(generate(t->dir, "bob", 1, err, sizeof(err)), 0);
	assert_int_equal(lstat(path, &st), 0);
	assert_true(S_ISREG(st.st_mode));
	assert_int_equal(st.st_mode & 07777, 0600);
	ca = load_cert(t->dir, "ca.crt");
	srv = load_cert(t->dir, "server.crt");
	assert_int_equal(verify(ca, srv, X509_PURPOSE_SSL_SERVER), X509_V_OK);
	X509_free(ca);
	X509_free(srv);
}

static void unlink_in(const char *dir, const char *name)
{
	char path[256];

	path_in(dir, name, path, sizeof(path));
	assert_int_equal(unlink(path), 0);
}

static void test_keeps_existing_ca(void **state)
{
	struct tmp *t = *state;
	char *before = malloc(SNAPSHOT_MAX), *after = malloc(SNAPSHOT_MAX), err[512];
	X509 *ca, *srv, *cli;

	assert_int_equal(generate(t->dir, NULL, 0, err, sizeof(err)), 0);
	snapshot(t->dir, before, SNAPSHOT_MAX);
	unlink_in(t->dir, "server.crt");
	unlink_in(t->dir, "server.key");
	assert_int_equal(generate(t->dir, "carol", 0, err, sizeof(err)), 1);
	snapshot(t->dir, after, SNAPSHOT_MAX);
	/* ca.crt and ca.key byte for byte: the first 2 of 6 entries */
	assert_memory_equal(before, after, (size_t)(strstr(before, "[server.crt]") - before));
	assert_string_not_equal(before, after);
	ca = load_cert(t->dir, "ca.crt");
	srv = load_cert(t->dir, "server.crt");
	cli = load_cert(t->dir, "client.crt");
	assert_int_equal(verify(ca, srv, X509_PURPOSE_SSL_SERVER), X509_V_OK);
	assert_int_equal(verify(ca, cli, X509_PURPOSE_SSL_CLIENT), X509_V_OK);
	X509_free(ca);
	X509_free(srv);
	X509_free(cli);
	free(before);
	free(after);
}

/* ca.crt without ca.key (or the other way round), a key that is not the
 * CA's, a CA that expires before the certificate would: refused, nothing
 * written. */
static void test_unusable_ca(void **state)
{
	struct tmp *t = *state;
	char other[128], from[256], to[256], err[512];
	struct certgen_request r = { .dir = t->dir, .dns = default_dns, .ips = default_ips,
				     .days = 20, .ca_days = 100 };

	assert_int_equal(generate(t->dir, NULL, 0, err, sizeof(err)), 0);
	unlink_in(t->dir, "server.crt");
	unlink_in(t->dir, "server.key");
	unlink_in(t->dir, "ca.key");
	assert_int_equal(generate(t->dir, NULL, 0, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "ca.crt exists without ca.key"));
	assert_int_equal(entries(t->dir), 1);
	/* another CA's key */
	path_in(t->dir, "other", other, sizeof(other));
	assert_int_equal(generate(other, NULL, 0, err, sizeof(err)), 0);
	path_in(other, "ca.key", from, sizeof(from));
	path_in(t->dir, "ca.key", to, sizeof(to));
	assert_int_equal(rename(from, to), 0);
	assert_int_equal(generate(t->dir, NULL, 0, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "is not the key of"));
	assert_int_equal(entries(t->dir), 3); /* ca.crt, ca.key, other */
	/* a CA of 10 days cannot sign a certificate of 20 */
	r.dir = other;
	r.ca_days = 10;
	r.days = 10;
	unlink_in(other, "ca.crt");
	unlink_in(other, "server.crt");
	unlink_in(other, "server.key");
	assert_int_equal(certgen_init(&r, err, sizeof(err)), 0);
	unlink_in(other, "server.crt");
	unlink_in(other, "server.key");
	r.days = 20;
	r.ca_days = 100;
	assert_int_equal(certgen_init(&r, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "would outlive the CA"));
	assert_int_equal(entries(other), 2);
}

/* A file size limit (SIGXFSZ ignored) lets the CA's files through but
 * not the server certificate, long with its many names: what this call
 * wrote is removed, the directory it made too. */
static void test_failed_write_leaves_nothing(void **state)
{
	struct tmp *t = *state;
	const char *const dns[] = { "localhost", "a-rather-long-name-for-a-test.agora.test",
				    "another-rather-long-name-for-a-test.agora.test",
				    "and-a-third-one-to-be-sure.agora.test", NULL };
	char sub[128], err[512];
	struct certgen_request r = { .dir = sub, .dns = dns, .ips = default_ips, .days = 1,
				     .ca_days = 1 };
	void (*old_handler)(int) = signal(SIGXFSZ, SIG_IGN);
	struct rlimit old, lim;
	int ret;

	path_in(t->dir, "certs", sub, sizeof(sub));
	assert_int_equal(getrlimit(RLIMIT_FSIZE, &old), 0);
	lim = old;
	lim.rlim_cur = 760; /* ca.crt is about 650 bytes, server.crt above 850 */
	assert_int_equal(setrlimit(RLIMIT_FSIZE, &lim), 0);
	ret = certgen_init(&r, err, sizeof(err));
	assert_int_equal(setrlimit(RLIMIT_FSIZE, &old), 0);
	signal(SIGXFSZ, old_handler);
	assert_int_equal(ret, -1);
	assert_non_null(strstr(err, "cannot write"));
	assert_non_null(strstr(err, "server.crt"));
	assert_false(exists(t->dir, "certs"));
}

static void expect_refused(struct certgen_request r, const char *why)
{
	char err[512] = "";

	if (certgen_check_request(&r, err, sizeof(err)) != -1)
		fail_msg("accepted, expected refused: %s", why);
	assert_true(err[0] != '\0');
	assert_int_equal(certgen_init(&r, err, sizeof(err)), -1);
}

static void test_requests_refused(void **state)
{
	static const char *const bad_dns[] = { "a,b", "", "-a.example", "a-.example", "a..b",
					       "a.", "a b", "*", "a.*.example", "127.0.0.1", "::1",
					       "x\x1b[2J" };
	static const char *const bad_ips[] = { "1.2.3", "1.2.3.256", "::g", "localhost", "" };
	static const char *const bad_cn[] = { "", "a\nb", "\xff", "tab\there", "\xc2\x85" };
	struct tmp *t = *state;
	struct certgen_request ok = { .dir = t->dir, .dns = default_dns, .ips = default_ips,
				      .days = 1, .ca_days = 1 }, r;
	const char *one[2] = { NULL, NULL };
	char label[65], longcn[CERTGEN_CN_MAX + 2], err[512];

	assert_int_equal(certgen_check_request(&ok, err, sizeof(err)), 0);
	for (size_t i = 0; i < sizeof(bad_dns) / sizeof(bad_dns[0]); i++) {
		r = ok;
		one[0] = bad_dns[i];
		r.dns = one;
		expect_refused(r, bad_dns[i]);
	}
	memset(label, 'a', 64);
	label[64] = '\0';
	one[0] = label;
	r = ok;
	r.dns = one;
	expect_refused(r, "a label of 64");
	for (size_t i = 0; i < sizeof(bad_ips) / sizeof(bad_ips[0]); i++) {
		r = ok;
		one[0] = bad_ips[i];
		r.ips = one;
		expect_refused(r, bad_ips[i]);
	}
	for (size_t i = 0; i < sizeof(bad_cn) / sizeof(bad_cn[0]); i++) {
		r = ok;
		r.client_cn = bad_cn[i];
		expect_refused(r, bad_cn[i]);
	}
	memset(longcn, 'c', sizeof(longcn) - 1);
	longcn[sizeof(longcn) - 1] = '\0';
	r = ok;
	r.client_cn = longcn;
	expect_refused(r, "a CN of 65 bytes");
	r = ok;
	r.days = 0;
	expect_refused(r, "0 days");
	r = ok;
	r.days = 2;
	expect_refused(r, "longer than the CA");
	r = ok;
	r.ca_days = CERTGEN_DAYS_MAX + 1;
	expect_refused(r, "a CA of more than 100 years");
	r = ok;
	r.dns = NULL;
	r.ips = NULL;
	expect_refused(r, "no name at all");
	r = ok;
	r.dir = "";
	expect_refused(r, "no directory");
	assert_int_equal(entries(t->dir), 0);
}

static void test_requests_accepted(void **state)
{
	static const char *const dns[] = { "xn--bcher-kva.example", "_mqtt._tcp.example",
					   "*.example.org", "a", "UPPER.example", "x1-y2.z3",
					   NULL };
	static const char *const ips[] = { "192.0.2.1", "2001:db8::1", "::ffff:10.0.0.1", NULL };
	struct tmp *t = *state;
	struct certgen_request r = { .dir = t->dir, .dns = dns, .ips = ips, .days = 1,
				     .ca_days = CERTGEN_DAYS_MAX, .client_cn = "Émile Zola" };
	char err[512], label[64];
	const char *const only_ip[] = { "192.0.2.7", NULL };
	X509 *srv;

	assert_int_equal(certgen_check_request(&r, err, sizeof(err)), 0);
	memset(label, 'a', 63);
	label[63] = '\0';
	r.dns = (const char *const[]){ label, NULL };
	assert_int_equal(certgen_check_request(&r, err, sizeof(err)), 0);
	/* addresses only: the first is the CN */
	r.dns = NULL;
	r.ips = only_ip;
	assert_int_equal(certgen_init(&r, err, sizeof(err)), 0);
	srv = load_cert(t->dir, "server.crt");
	assert_cn(srv, "192.0.2.7");
	assert_int_equal(X509_check_ip_asc(srv, "192.0.2.7", 0), 1);
	X509_free(srv);
}

#define T(f) cmocka_unit_test_setup_teardown(f, setup_tmp, teardown_tmp)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_server_certificate),
		T(test_ca_certificate),
		T(test_client_certificate),
		T(test_creates_directory),
		T(test_refuses_to_overwrite),
		T(test_one_file_in_the_way),
		T(test_keeps_existing_ca),
		T(test_unusable_ca),
		T(test_failed_write_leaves_nothing),
		T(test_requests_refused),
		T(test_requests_accepted),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
