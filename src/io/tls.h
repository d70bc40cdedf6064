/*
 * tls.h - TLS for node connections: one OpenSSL client context, built from
 * redis-cli's options (--tls, --cacert, --cacertdir, --cert, --key, --sni,
 * --insecure), shared by every connection of a run.
 *
 * Verification is on unless insecure is set: the node's certificate must
 * chain to the CA (cacert/cacertdir, or the system's store when neither is
 * given) and name the address connected to (an IP address SAN for an IP,
 * a DNS name otherwise), or the sni name when one is given.
 */
#ifndef SP_IO_TLS_H
#define SP_IO_TLS_H

#include "base/error.h"

typedef struct sp_tls_opts {
	int enabled;	       /* --tls */
	const char *cacert;    /* --cacert FILE, or NULL */
	const char *cacertdir; /* --cacertdir DIR, or NULL */
	const char *cert;      /* --cert FILE: client certificate, or NULL */
	const char *key;       /* --key FILE: its private key, or NULL */
	const char *sni;       /* --sni NAME: sent, and verified, or NULL */
	int insecure;	       /* --insecure: no verification at all */
} sp_tls_opts;

/* An OpenSSL SSL_CTX and the names to verify; opaque. */
typedef struct sp_tls sp_tls;

/*
 * Builds the client context of o (o->enabled must be set). Unreadable or
 * mismatched files are SP_ERR_USAGE naming the file and OpenSSL's reason;
 * on success *out is owned by the caller (sp_tls_free).
 */
sp_err sp_tls_new(const sp_tls_opts *o, sp_tls **out, sp_error *err);

/* Frees t; accepts NULL. */
void sp_tls_free(sp_tls *t);

/* 1 when t verifies nothing (--insecure). */
int sp_tls_insecure(const sp_tls *t);

#endif
