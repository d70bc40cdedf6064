/*
 * tls_impl.h - the inside of sp_tls, shared by tls.c and conn.c only.
 */
#ifndef SP_IO_TLS_IMPL_H
#define SP_IO_TLS_IMPL_H

#include <openssl/ssl.h>
#include <stddef.h>

#include "io/tls.h"

struct sp_tls {
	SSL_CTX *ctx;
	int insecure;
	char sni[256]; /* empty: send and verify the address's host */
};

/* OpenSSL's reason for the last failure (or fallback), into buf; clears
 * OpenSSL's error queue. */
const char *sp_tls_reason(char *buf, size_t len, const char *fallback);

#endif
