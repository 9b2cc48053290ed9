/*
 * certgen.c - see certgen.h. One call runs three steps: plan (which files
 * exist: refuse, keep the CA, or replace everything), make (keys and
 * certificates, as PEM in memory) and write (each file, or none of them).
 */
#include "tls/certgen.h"

#include "base/fdio.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#define BACKDATE_SECONDS 300 /* certgen.h: a client's clock a little behind */
#define DNS_NAME_MAX 253     /* RFC 1035, in its dotted text form */
#define DNS_LABEL_MAX 63
#define SERIAL_BYTES 16      /* 128 random bits (CA/B Forum asks for 64 at least) */
#define SHOWN_MAX 80         /* of a refused name, in an error sentence */

enum file_id {
	F_CA_CRT,
	F_CA_KEY,
	F_SERVER_CRT,
	F_SERVER_KEY,
	F_CLIENT_CRT,
	F_CLIENT_KEY,
	F_COUNT
};

static const struct {
	const char *name;
	mode_t mode;
} files[F_COUNT] = {
	{ "ca.crt", 0644 },     { "ca.key", 0600 },     { "server.crt", 0644 },
	{ "server.key", 0600 }, { "client.crt", 0644 }, { "client.key", 0600 },
};

/* One certgen_init call: what it decided, made and wrote. */
struct run {
	const struct certgen_request *r;
	char *err;
	size_t errlen;
	time_t now;            /* one instant for every validity period */
	bool dir_missing;      /* created by the write step (removed on failure) */
	bool keep_ca;          /* ca.crt and ca.key exist and sign the rest */
	X509 *ca;
	EVP_PKEY *ca_key;
	BIO *pem[F_COUNT];     /* what to write; NULL: not this file */
	bool created[F_COUNT]; /* created by this call: removed if a later one fails */
};

/* ---- errors ---- */

static int say(char *err, size_t errlen, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int say(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
	return -1;
}

/* "WHAT: OpenSSL's reason", and OpenSSL's error queue emptied (the next
 * call must not report this one's error). */
static int say_ssl(struct run *g, const char *what, const char *file)
{
	unsigned long e = ERR_peek_last_error();
	const char *reason = e ? ERR_reason_error_string(e) : NULL;

	say(g->err, g->errlen, "%s%s%s: %s", what, file ? " " : "", file ? file : "",
	    reason ? reason : "failed in OpenSSL");
	ERR_clear_error();
	return -1;
}

/* s as it may be printed in an error: printable ASCII, others as '?',
 * cut at SHOWN_MAX (a refused name may hold terminal escapes). */
static const char *shown(const char *s, char *buf, size_t cap)
{
	size_t i;

	for (i = 0; s[i] && i + 1 < cap && i < SHOWN_MAX; i++)
		buf[i] = (s[i] >= 0x20 && s[i] < 0x7f) ? s[i] : '?';
	buf[i] = '\0';
	return buf;
}

/* ---- the request ---- */

static bool dns_label_ok(const char *s, size_t n)
{
	if (n == 0 || n > DNS_LABEL_MAX || s[0] == '-' || s[n - 1] == '-')
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '-' || c == '_'))
			return false;
	}
	return true;
}

static int check_dns(const char *name, char *err, size_t errlen)
{
	unsigned char addr[16];
	char buf[SHOWN_MAX + 1];
	const char *p = name, *dot;

	if (inet_pton(AF_INET, name, addr) == 1 || inet_pton(AF_INET6, name, addr) == 1)
		return say(err, errlen, "'%s' is an IP address, not a DNS name",
			   shown(name, buf, sizeof(buf)));
	if (strlen(name) > DNS_NAME_MAX)
		goto out_bad;
	if (strncmp(p, "*.", 2) == 0) /* a wildcard: any one label in front */
		p += 2;
	for (;;) {
		dot = strchr(p, '.');
		if (!dns_label_ok(p, dot ? (size_t)(dot - p) : strlen(p)))
			goto out_bad;
		if (!dot)
			return 0;
		p = dot + 1;
	}
out_bad:
	return say(err, errlen,
		   "'%s' is not a DNS name (labels of 1 to %d letters, digits, '-' or '_', "
		   "joined by dots, %d characters at most)",
		   shown(name, buf, sizeof(buf)), DNS_LABEL_MAX, DNS_NAME_MAX);
}

static int check_ip(const char *ip, char *err, size_t errlen)
{
	ASN1_OCTET_STRING *bin = a2i_IPADDRESS(ip);
	char buf[SHOWN_MAX + 1];

	ERR_clear_error(); /* a2i_IPADDRESS leaves one when it fails */
	if (!bin)
		return say(err, errlen, "'%s' is not an IPv4 or IPv6 address",
			   shown(ip, buf, sizeof(buf)));
	ASN1_OCTET_STRING_free(bin);
	return 0;
}

/* UTF-8 with no C0 or C1 control character, 1 to CERTGEN_CN_MAX bytes. */
static int check_cn(const char *cn, char *err, size_t errlen)
{
	const unsigned char *p = (const unsigned char *)cn;
	int len = (int)strnlen(cn, CERTGEN_CN_MAX + 1), n;
	unsigned long c;

	if (len == 0 || len > CERTGEN_CN_MAX)
		return say(err, errlen, "a client CN has 1 to %d bytes", CERTGEN_CN_MAX);
	for (; len > 0; p += n, len -= n) {
		n = UTF8_getc(p, len, &c);
		if (n <= 0 || c < 0x20 || (c >= 0x7f && c < 0xa0))
			return say(err, errlen,
				   "a client CN is UTF-8 text without control characters");
	}
	return 0;
}

static int check_days(const struct certgen_request *r, char *err, size_t errlen)
{
	if (r->ca_days < 1 || r->ca_days > CERTGEN_DAYS_MAX)
		return say(err, errlen, "the CA's validity is 1 to %u days, not %u",
			   CERTGEN_DAYS_MAX, r->ca_days);
	if (r->days < 1 || r->days > r->ca_days)
		return say(err, errlen,
			   "the certificate's validity is 1 day to the CA's %u, not %u "
			   "(a certificate cannot outlive its CA)", r->ca_days, r->days);
	return 0;
}

int certgen_check_request(const struct certgen_request *r, char *err, size_t errlen)
{
	const char *const *dns = r->dns, *const *ips = r->ips;

	if (!r->dir || !r->dir[0])
		return say(err, errlen, "no directory given");
	if ((!dns || !dns[0]) && (!ips || !ips[0]))
		return say(err, errlen, "the server certificate needs a name or an address");
	for (; dns && *dns; dns++)
		if (check_dns(*dns, err, errlen))
			return -1;
	for (; ips && *ips; ips++)
		if (check_ip(*ips, err, errlen))
			return -1;
	if (r->client_cn && check_cn(r->client_cn, err, errlen))
		return -1;
	return check_days(r, err, errlen);
}

/* ---- plan: what exists, what to do ---- */

static int path_of(struct run *g, enum file_id f, const char *prefix, const char *suffix,
		   char *buf, size_t cap)
{
	int n = snprintf(buf, cap, "%s/%s%s%s", g->r->dir, prefix, files[f].name, suffix);

	if (n < 0 || (size_t)n >= cap)
		return say(g->err, g->errlen, "the path %s/... is too long", g->r->dir);
	return 0;
}

/* Whether the name is taken, by a file, a directory or a dangling
 * symbolic link alike: none of them is written over without force. */
static int look_at(struct run *g, const char *path, bool *taken)
{
	struct stat st;

	*taken = lstat(path, &st) == 0;
	if (!*taken && errno != ENOENT)
		return say(g->err, g->errlen, "cannot look at %s: %s", path, strerror(errno));
	return 0;
}

static int look_at_dir(struct run *g)
{
	struct stat st;

	if (stat(g->r->dir, &st) == 0) {
		if (!S_ISDIR(st.st_mode))
			return say(g->err, g->errlen, "%s is not a directory", g->r->dir);
		return 0;
	}
	if (errno != ENOENT)
		return say(g->err, g->errlen, "cannot use %s: %s", g->r->dir, strerror(errno));
	g->dir_missing = true;
	return 0;
}

static int refuse(struct run *g, enum file_id f, const char *why)
{
	return say(g->err, g->errlen, "%s/%s %s: nothing written (--force replaces every file)",
		   g->r->dir, files[f].name, why);
}

/* Without force: the leaf files must all be missing; the CA is kept when
 * both of its files are there, refused when only one is. */
static int plan(struct run *g)
{
	enum file_id last = g->r->client_cn ? F_CLIENT_KEY : F_SERVER_KEY;
	bool have[F_COUNT] = { false };
	char path[PATH_MAX];

	if (look_at_dir(g))
		return -1;
	for (enum file_id f = F_CA_CRT; f <= last && !g->dir_missing; f++) {
		if (path_of(g, f, "", "", path, sizeof(path)) || look_at(g, path, &have[f]))
			return -1;
	}
	if (g->r->force)
		return 0;
	for (enum file_id f = F_SERVER_CRT; f <= last; f++)
		if (have[f])
			return refuse(g, f, "already exists");
	if (have[F_CA_CRT] != have[F_CA_KEY])
		return refuse(g, have[F_CA_CRT] ? F_CA_CRT : F_CA_KEY,
			      have[F_CA_CRT] ? "exists without ca.key" : "exists without ca.crt");
	g->keep_ca = have[F_CA_CRT];
	return 0;
}

/* ---- make: keys and certificates ---- */

static EVP_PKEY *new_key(struct run *g)
{
	EVP_PKEY *k = EVP_EC_gen("P-256");

	if (!k)
		say_ssl(g, "cannot make a P-256 key", NULL);
	return k;
}

static int set_serial(X509 *x)
{
	unsigned char bytes[SERIAL_BYTES];
	BIGNUM *bn = NULL;
	int ret = -1;

	if (RAND_bytes(bytes, sizeof(bytes)) != 1)
		goto out;
	bytes[0] |= 0x01; /* never 0 (a serial is positive); 127 random bits remain */
	bn = BN_bin2bn(bytes, sizeof(bytes), NULL);
	if (bn && BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(x)))
		ret = 0;
	BN_free(bn);
out:
	return ret;
}

/* Serial, validity (g->now - BACKDATE_SECONDS to g->now + days), subject
 * CN=cn and key; the issuer and extensions are the caller's. */
static X509 *new_cert(struct run *g, EVP_PKEY *key, const char *cn, unsigned days)
{
	X509 *x = X509_new();
	X509_NAME *name = X509_NAME_new();

	if (!x || !name || !X509_set_version(x, X509_VERSION_3) || set_serial(x) ||
	    !X509_time_adj(X509_getm_notBefore(x), -BACKDATE_SECONDS, &g->now) ||
	    !X509_time_adj_ex(X509_getm_notAfter(x), (int)days, 0, &g->now) ||
	    !X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8, (const unsigned char *)cn,
					-1, -1, 0) ||
	    !X509_set_subject_name(x, name) || !X509_set_pubkey(x, key))
		goto out_free_cert;
	X509_NAME_free(name);
	return x;
out_free_cert:
	say_ssl(g, "cannot make the certificate of", cn);
	X509_NAME_free(name);
	X509_free(x);
	return NULL;
}

/* One extension in openssl.cnf's syntax (trusted strings only: the names
 * the user gives go through add_san). issuer may be x itself. */
static int add_ext(struct run *g, X509 *x, X509 *issuer, int nid, const char *value)
{
	X509V3_CTX ctx;
	X509_EXTENSION *ext;
	int ok;

	X509V3_set_ctx_nodb(&ctx);
	X509V3_set_ctx(&ctx, issuer, x, NULL, NULL, 0);
	ext = X509V3_EXT_conf_nid(NULL, &ctx, nid, value);
	ok = ext && X509_add_ext(x, ext, -1);
	X509_EXTENSION_free(ext);
	return ok ? 0 : say_ssl(g, "cannot add the extension", OBJ_nid2sn(nid));
}

/* Appends a DNS or IP entry, unless the same one is there already (the
 * defaults and a --name may repeat each other). */
static int push_name(GENERAL_NAMES *names, int type, const char *s)
{
	GENERAL_NAME *gn = GENERAL_NAME_new();
	ASN1_STRING *v = type == GEN_DNS ? ASN1_IA5STRING_new() : a2i_IPADDRESS(s);

	if (!gn || !v || (type == GEN_DNS && !ASN1_STRING_set(v, s, -1))) {
		GENERAL_NAME_free(gn);
		ASN1_STRING_free(v);
		return -1;
	}
	GENERAL_NAME_set0_value(gn, type, v);
	for (int i = 0; i < sk_GENERAL_NAME_num(names); i++) {
		if (GENERAL_NAME_cmp(gn, sk_GENERAL_NAME_value(names, i)) == 0) {
			GENERAL_NAME_free(gn);
			return 0;
		}
	}
	if (!sk_GENERAL_NAME_push(names, gn)) {
		GENERAL_NAME_free(gn);
		return -1;
	}
	return 0;
}

/* subjectAltName built entry by entry, not from a "DNS:a,IP:b" string: a
 * name is then only ever one entry. */
static int add_san(struct run *g, X509 *x)
{
	GENERAL_NAMES *names = sk_GENERAL_NAME_new_null();
	const char *const *p;
	int ret = -1;

	if (!names)
		goto out;
	for (p = g->r->dns; p && *p; p++)
		if (push_name(names, GEN_DNS, *p))
			goto out;
	for (p = g->r->ips; p && *p; p++)
		if (push_name(names, GEN_IPADD, *p))
			goto out;
	if (X509_add1_ext_i2d(x, NID_subject_alt_name, names, 0, X509V3_ADD_DEFAULT) == 1)
		ret = 0;
out:
	GENERAL_NAMES_free(names);
	return ret ? say_ssl(g, "cannot add the server's names", NULL) : 0;
}

static BIO *pem_of(struct run *g, X509 *x, EVP_PKEY *k, const char *what)
{
	BIO *b = BIO_new(BIO_s_mem());
	int ok = b && (x ? PEM_write_bio_X509(b, x)
			 : PEM_write_bio_PrivateKey(b, k, NULL, NULL, 0, NULL, NULL));

	if (!ok) {
		BIO_free(b);
		say_ssl(g, "cannot encode", what);
		return NULL;
	}
	return b;
}

/* A passphrase callback that never gives one: an encrypted ca.key fails
 * to load instead of prompting on the terminal. */
static int no_passphrase(char *buf, int size, int rwflag, void *u)
{
	(void)buf;
	(void)size;
	(void)rwflag;
	(void)u;
	return -1;
}

static int load_ca(struct run *g)
{
	char crt[PATH_MAX], key[PATH_MAX];
	BIO *b;

	if (path_of(g, F_CA_CRT, "", "", crt, sizeof(crt)) ||
	    path_of(g, F_CA_KEY, "", "", key, sizeof(key)))
		return -1;
	if ((b = BIO_new_file(crt, "r")))
		g->ca = PEM_read_bio_X509(b, NULL, no_passphrase, NULL);
	BIO_free(b);
	if (!g->ca)
		return say_ssl(g, "cannot read the CA certificate", crt);
	if ((b = BIO_new_file(key, "r")))
		g->ca_key = PEM_read_bio_PrivateKey(b, NULL, no_passphrase, NULL);
	BIO_free(b);
	if (!g->ca_key)
		return say_ssl(g, "cannot read the CA key (unencrypted PEM)", key);
	if (X509_check_ca(g->ca) < 1)
		return say(g->err, g->errlen, "%s is not a CA certificate", crt);
	if (X509_check_private_key(g->ca, g->ca_key) != 1) {
		ERR_clear_error();
		return say(g->err, g->errlen, "%s is not the key of %s", key, crt);
	}
	return 0;
}

/* A fresh self-signed CA, its CN made unique by 32 random bits so that
 * two of them can be told apart in a trust store. */
static int make_ca(struct run *g)
{
	unsigned char id[4];
	char cn[CERTGEN_CN_MAX];

	if (g->keep_ca)
		return load_ca(g);
	if (RAND_bytes(id, sizeof(id)) != 1)
		return say_ssl(g, "cannot draw random bytes", NULL);
	snprintf(cn, sizeof(cn), "Agora development CA %02x%02x%02x%02x", id[0], id[1], id[2],
		 id[3]);
	if (!(g->ca_key = new_key(g)) || !(g->ca = new_cert(g, g->ca_key, cn, g->r->ca_days)))
		return -1;
	if (!X509_set_issuer_name(g->ca, X509_get_subject_name(g->ca)))
		return say_ssl(g, "cannot make the CA", NULL);
	/* the subject key identifier first: the authority one copies it */
	if (add_ext(g, g->ca, g->ca, NID_basic_constraints, "critical,CA:TRUE,pathlen:0") ||
	    add_ext(g, g->ca, g->ca, NID_key_usage, "critical,keyCertSign,cRLSign") ||
	    add_ext(g, g->ca, g->ca, NID_subject_key_identifier, "hash") ||
	    add_ext(g, g->ca, g->ca, NID_authority_key_identifier, "keyid:always"))
		return -1;
	if (!X509_sign(g->ca, g->ca_key, EVP_sha256()))
		return say_ssl(g, "cannot sign the CA certificate", NULL);
	g->pem[F_CA_CRT] = pem_of(g, g->ca, NULL, "ca.crt");
	g->pem[F_CA_KEY] = pem_of(g, NULL, g->ca_key, "ca.key");
	return g->pem[F_CA_CRT] && g->pem[F_CA_KEY] ? 0 : -1;
}

/* The extensions and signature of a server or client certificate. */
static int finish_leaf(struct run *g, X509 *x, bool server)
{
	if (!X509_set_issuer_name(x, X509_get_subject_name(g->ca)))
		return say_ssl(g, "cannot name the issuer", NULL);
	if (add_ext(g, x, g->ca, NID_basic_constraints, "critical,CA:FALSE") ||
	    add_ext(g, x, g->ca, NID_key_usage, "critical,digitalSignature") ||
	    add_ext(g, x, g->ca, NID_ext_key_usage, server ? "serverAuth" : "clientAuth") ||
	    add_ext(g, x, g->ca, NID_subject_key_identifier, "hash") ||
	    add_ext(g, x, g->ca, NID_authority_key_identifier, "keyid:always") ||
	    (server && add_san(g, x)))
		return -1;
	if (ASN1_TIME_compare(X509_get0_notAfter(x), X509_get0_notAfter(g->ca)) > 0)
		return say(g->err, g->errlen,
			   "a certificate for %u days would outlive the CA in %s/ca.crt "
			   "(--force makes a new one)", g->r->days, g->r->dir);
	if (!X509_sign(x, g->ca_key, EVP_sha256()))
		return say_ssl(g, "cannot sign the certificate of",
			       server ? "the server" : "the client");
	return 0;
}

/* The server's CN: its first name, else its first address. */
static const char *server_cn(const struct certgen_request *r)
{
	return r->dns && r->dns[0] ? r->dns[0] : r->ips[0];
}

static int make_leaf(struct run *g, bool server)
{
	enum file_id crt = server ? F_SERVER_CRT : F_CLIENT_CRT;
	enum file_id keyf = server ? F_SERVER_KEY : F_CLIENT_KEY;
	EVP_PKEY *key = new_key(g);
	X509 *x = NULL;
	int ret = -1;

	if (!key)
		goto out;
	x = new_cert(g, key, server ? server_cn(g->r) : g->r->client_cn, g->r->days);
	if (!x || finish_leaf(g, x, server))
		goto out;
	g->pem[crt] = pem_of(g, x, NULL, files[crt].name);
	g->pem[keyf] = pem_of(g, NULL, key, files[keyf].name);
	if (g->pem[crt] && g->pem[keyf])
		ret = 0;
out:
	X509_free(x);
	EVP_PKEY_free(key);
	return ret;
}

/* ---- write: every file, or none ---- */

/* Without force, the file itself, created exclusively (never through a
 * symbolic link); with force, ".NAME.new" beside it, renamed over it once
 * complete. Either way the mode is set at creation: a key is never
 * readable by others, not even for a moment. */
static int write_file(struct run *g, enum file_id f)
{
	char path[PATH_MAX], tmp[PATH_MAX];
	const char *target = path;
	char *data;
	long len = BIO_get_mem_data(g->pem[f], &data);
	int fd, ret = -1;

	if (path_of(g, f, "", "", path, sizeof(path)) ||
	    path_of(g, f, ".", ".new", tmp, sizeof(tmp)))
		return -1;
	if (g->r->force) {
		target = tmp;
		unlink(tmp); /* left by a run that was interrupted */
	}
	fd = open(target, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, files[f].mode);
	if (fd < 0) {
		say(g->err, g->errlen, "cannot create %s: %s", target, strerror(errno));
		goto out;
	}
	g->created[f] = !g->r->force;
	if (len < 0 || fd_write_all(fd, data, (size_t)len) || fsync(fd)) {
		say(g->err, g->errlen, "cannot write %s: %s", target, strerror(errno));
		goto out_close;
	}
	if (g->r->force && rename(tmp, path)) {
		say(g->err, g->errlen, "cannot rename %s to %s: %s", tmp, path, strerror(errno));
		goto out_close;
	}
	ret = 0;
out_close:
	close(fd);
	if (ret && g->r->force)
		unlink(tmp);
out:
	return ret;
}

/* After a failure: removes what this call created (without force). */
static void undo(struct run *g)
{
	char path[PATH_MAX];

	for (enum file_id f = F_CA_CRT; f < F_COUNT; f++)
		if (g->created[f] && path_of(g, f, "", "", path, sizeof(path)) == 0)
			unlink(path);
	if (g->dir_missing)
		rmdir(g->r->dir);
}

static int write_all(struct run *g)
{
	if (g->dir_missing && mkdir(g->r->dir, 0700))
		return say(g->err, g->errlen, "cannot create the directory %s: %s", g->r->dir,
			   strerror(errno));
	for (enum file_id f = F_CA_CRT; f < F_COUNT; f++) {
		if (g->pem[f] && write_file(g, f)) {
			undo(g);
			return -1;
		}
	}
	return 0;
}

int certgen_init(const struct certgen_request *r, char *err, size_t errlen)
{
	struct run g = { .r = r, .err = err, .errlen = errlen, .now = time(NULL) };
	int ret = -1;

	if (errlen)
		err[0] = '\0';
	if (certgen_check_request(r, err, errlen) || plan(&g) || make_ca(&g) ||
	    make_leaf(&g, true) || (r->client_cn && make_leaf(&g, false)) || write_all(&g))
		goto out_free;
	ret = g.keep_ca ? 1 : 0;
out_free:
	for (enum file_id f = F_CA_CRT; f < F_COUNT; f++)
		BIO_free(g.pem[f]);
	X509_free(g.ca);
	EVP_PKEY_free(g.ca_key);
	return ret;
}
