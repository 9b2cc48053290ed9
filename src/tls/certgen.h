/*
 * certgen.h - a local certificate authority and a server certificate for
 * development and tests (`agora tls init`, issue 15): ECDSA P-256 keys,
 * SHA-256 signatures, with OpenSSL's C API (no openssl(1) run).
 *
 * The CA is self-signed (basicConstraints CA:TRUE, keyUsage keyCertSign,
 * cRLSign); the server certificate is signed by it (CA:FALSE, keyUsage
 * digitalSignature, extendedKeyUsage serverAuth) for the names and
 * addresses given (subjectAltName DNS and IP entries, CN the first name).
 * An optional client certificate (extendedKeyUsage clientAuth, CN the
 * given identity) serves the tests of require_certificate and
 * use_identity_as_username. Serial numbers are random 128-bit numbers; every
 * certificate carries subjectKeyIdentifier and authorityKeyIdentifier, and
 * starts 5 minutes before it is made (a client whose clock is a little
 * behind still accepts it).
 *
 * Errors: -1 with a sentence naming the file or step in err (errlen bytes,
 * always NUL-terminated). No global state beyond OpenSSL's own.
 *
 * Ownership: the request's strings and arrays are the caller's, read
 * during the call only.
 */
#ifndef AGORA_CERTGEN_H
#define AGORA_CERTGEN_H

#include <stddef.h>

#define CERTGEN_DAYS_MAX 36500u /* 100 years: the largest days or ca_days */
#define CERTGEN_CN_MAX 64       /* X.509's upper bound on a commonName */

struct certgen_request {
	const char *dir;          /* where the files go (created 0700 if missing;
				   * its parent must exist) */
	const char *const *dns;   /* server names, e.g. {"localhost", NULL}: letters,
				   * digits, '-' and '_' in dot-separated labels, a
				   * leading "*." for a wildcard */
	const char *const *ips;   /* server addresses, e.g. {"127.0.0.1", "::1", NULL} */
	unsigned days;            /* validity of the server (and client) certificate,
				   * 1 to ca_days */
	unsigned ca_days;         /* validity of the CA, 1 to CERTGEN_DAYS_MAX */
	const char *client_cn;    /* also a client certificate with this CN (UTF-8, 1 to
				   * CERTGEN_CN_MAX bytes, no control character); NULL:
				   * none */
	int force;                /* replace existing files (else refuse to overwrite) */
};

/* Checks the request alone, touching no file: at least one name or
 * address, each name and address well formed, the days in range, the
 * client CN. certgen_init does it first; the command line calls it to tell
 * a usage error from a failure. 0, or -1 with a sentence in err. */
int certgen_check_request(const struct certgen_request *r, char *err, size_t errlen);

/* Writes dir/ca.crt, dir/ca.key, dir/server.crt, dir/server.key (and
 * dir/client.crt, dir/client.key when client_cn is set). Keys are written
 * 0600, certificates 0644 (less the umask).
 *
 * Refuses (-1, nothing written) when one of them exists and force is 0.
 * An existing CA (ca.crt and ca.key both present, the key that of the
 * certificate) is reused to sign a new server certificate when force is 0
 * and only the server (and client) files are missing: clients that trust
 * ca.crt keep working. A certificate that would outlive its CA is refused.
 *
 * Everything is made in memory before the first file is written. Without
 * force each file is created exclusively (O_EXCL), and a failure removes
 * those this call created; with force each is written beside its final
 * name and renamed over it, so a failure part-way may leave some files
 * replaced but none half-written.
 *
 * Returns 0 when it made a new CA, 1 when it kept the existing one (and
 * wrote the server and client files), -1 on error. */
int certgen_init(const struct certgen_request *r, char *err, size_t errlen);

#endif
