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
 * use_identity_as_username.
 *
 * Errors: 0 or -1 with a sentence naming the file or step in err.
 */
#ifndef AGORA_CERTGEN_H
#define AGORA_CERTGEN_H

#include <stddef.h>

struct certgen_request {
	const char *dir;          /* where the files go (created 0700 if missing) */
	const char *const *dns;   /* server names, e.g. {"localhost", NULL} */
	const char *const *ips;   /* server addresses, e.g. {"127.0.0.1", "::1", NULL} */
	unsigned days;            /* validity of the server (and client) certificate */
	unsigned ca_days;         /* validity of the CA */
	const char *client_cn;    /* also a client certificate with this CN; NULL: none */
	int force;                /* replace existing files (else refuse to overwrite) */
};

/* Writes dir/ca.crt, dir/ca.key, dir/server.crt, dir/server.key (and
 * dir/client.crt, dir/client.key when client_cn is set). Keys are written
 * 0600. Refuses (-1, nothing written) when one of them exists and force is
 * 0. An existing CA (ca.crt and ca.key both present) is reused to sign a
 * new server certificate when force is 0 and only the server files are
 * missing. */
int certgen_init(const struct certgen_request *r, char *err, size_t errlen);

#endif
