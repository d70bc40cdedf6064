/*
 * tls.c - the OpenSSL client context of a run: CA, client certificate,
 * verification mode. Connections (conn.c) make one SSL per socket from it.
 */
#include "io/tls.h"

#include <errno.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "io/tls_impl.h"

/* OpenSSL's reason for the last failure, or fallback; clears the queue. */
const char *sp_tls_reason(char *buf, size_t len, const char *fallback)
{
	unsigned long e = ERR_get_error(), last = e;

	while (e != 0) { /* the earliest is usually the root cause */
		last = e;
		e = ERR_get_error();
		if (e == 0)
			break;
	}
	if (last == 0) {
		snprintf(buf, len, "%s", fallback);
		return buf;
	}
	ERR_error_string_n(last, buf, len);
	return buf;
}

static sp_err file_error(const char *what, const char *path, sp_error *err)
{
	char why[256];

	if (access(path, R_OK) != 0) {
		ERR_clear_error();
		return sp_seterr(err, SP_ERR_USAGE, "%s %s: %s", what, path,
				 strerror(errno));
	}
	return sp_seterr(err, SP_ERR_USAGE, "%s %s: %s", what, path,
			 sp_tls_reason(why, sizeof(why), "unreadable"));
}

static sp_err load_trust(SSL_CTX *ctx, const sp_tls_opts *o, sp_error *err)
{
	if (o->cacert == NULL && o->cacertdir == NULL) {
		if (SSL_CTX_set_default_verify_paths(ctx) != 1)
			return file_error("--tls: the system's CA store",
					  "(openssl's default paths)", err);
		return SP_OK;
	}
	if (SSL_CTX_load_verify_locations(ctx, o->cacert, o->cacertdir) != 1)
		return file_error(o->cacert ? "--cacert" : "--cacertdir",
				  o->cacert ? o->cacert : o->cacertdir, err);
	return SP_OK;
}

static sp_err load_identity(SSL_CTX *ctx, const sp_tls_opts *o, sp_error *err)
{
	if (o->cert == NULL && o->key == NULL)
		return SP_OK;
	if (o->cert == NULL || o->key == NULL)
		return sp_seterr(err, SP_ERR_USAGE,
				 "--cert and --key go together (a client "
				 "certificate and its private key)");
	if (SSL_CTX_use_certificate_chain_file(ctx, o->cert) != 1)
		return file_error("--cert", o->cert, err);
	if (SSL_CTX_use_PrivateKey_file(ctx, o->key, SSL_FILETYPE_PEM) != 1)
		return file_error("--key", o->key, err);
	if (SSL_CTX_check_private_key(ctx) != 1)
		return sp_seterr(err, SP_ERR_USAGE,
				 "--key %s is not the private key of --cert %s",
				 o->key, o->cert);
	return SP_OK;
}

/*
 * Called in the handshake when the node asks for a client certificate
 * and we have none: we go on without one (tls-auth-clients optional
 * accepts that), but remember it. Under TLS 1.3 a node that requires one
 * refuses only after the handshake, and its alert can be lost to the
 * reset that follows; the error then still says what the node wanted.
 */
static int no_client_cert(SSL *ssl, X509 **x509, EVP_PKEY **pkey)
{
	int *asked = SSL_get_app_data(ssl);

	(void)x509;
	(void)pkey;
	if (asked != NULL)
		*asked = 1;
	return 0;
}

sp_err sp_tls_new(const sp_tls_opts *o, sp_tls **out, sp_error *err)
{
	sp_tls *t;
	sp_err rc;

	*out = NULL;
	if ((t = calloc(1, sizeof(*t))) == NULL)
		return sp_seterr(err, SP_ERR_OOM, "out of memory");
	ERR_clear_error();
	if ((t->ctx = SSL_CTX_new(TLS_client_method())) == NULL) {
		free(t);
		return sp_seterr(err, SP_ERR_OOM, "TLS: no client context");
	}
	SSL_CTX_set_min_proto_version(t->ctx, TLS1_2_VERSION);
	/* Redis nodes do not resume sessions across connections we make;
	 * a plain full handshake each time keeps the code simple. */
	SSL_CTX_set_session_cache_mode(t->ctx, SSL_SESS_CACHE_OFF);
	t->insecure = o->insecure;
	SSL_CTX_set_verify(
	    t->ctx, o->insecure ? SSL_VERIFY_NONE : SSL_VERIFY_PEER, NULL);
	if ((!o->insecure && (rc = load_trust(t->ctx, o, err)) != SP_OK) ||
	    (rc = load_identity(t->ctx, o, err)) != SP_OK) {
		sp_tls_free(t);
		return rc;
	}
	if (o->cert == NULL)
		SSL_CTX_set_client_cert_cb(t->ctx, no_client_cert);
	if (o->sni != NULL)
		snprintf(t->sni, sizeof(t->sni), "%s", o->sni);
	*out = t;
	return SP_OK;
}

void sp_tls_free(sp_tls *t)
{
	if (t == NULL)
		return;
	SSL_CTX_free(t->ctx);
	free(t);
}

int sp_tls_insecure(const sp_tls *t)
{
	return t != NULL && t->insecure;
}
