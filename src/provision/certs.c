/*
 * certs.c - a local TLS cluster's CA and certificates, made by running
 * openssl (base/proc: an argument vector, never a shell), with a
 * configuration file of ours so that the system's openssl.cnf adds
 * nothing (Debian's would make every certificate a CA).
 */
#include "provision/certs.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/files.h"
#include "base/proc.h"

#define OPENSSL_MS 30000

/* Our openssl configuration: the extensions of each certificate. */
static const char cnf_text[] = "[req]\n"
			       "distinguished_name = dn\n"
			       "prompt = no\n"
			       "[dn]\n"
			       "CN = slotpilot local CA\n"
			       "[ca]\n"
			       "basicConstraints = critical, CA:TRUE\n"
			       "keyUsage = critical, keyCertSign, cRLSign\n"
			       "subjectKeyIdentifier = hash\n"
			       "[client]\n"
			       "basicConstraints = critical, CA:FALSE\n"
			       "keyUsage = critical, digitalSignature\n"
			       "extendedKeyUsage = clientAuth\n"
			       "[node]\n"
			       "basicConstraints = critical, CA:FALSE\n"
			       "keyUsage = critical, digitalSignature\n"
			       "extendedKeyUsage = serverAuth, clientAuth\n";

static void join(char *buf, const char *dir, const char *name)
{
	snprintf(buf, SP_CERTS_PATH, "%.1080s/%.12s", dir, name);
}

void sp_certs_paths(const char *dir, sp_certs *c)
{
	char real[SP_CERTS_PATH];

	if (realpath(dir, real) == NULL)
		snprintf(real, sizeof(real), "%s", dir);
	snprintf(c->dir, sizeof(c->dir), "%.1000s/tls", real);
	join(c->ca_crt, c->dir, "ca.crt");
	join(c->ca_key, c->dir, "ca.key");
	join(c->node_crt, c->dir, "node.crt");
	join(c->node_key, c->dir, "node.key");
	join(c->client_crt, c->dir, "client.crt");
	join(c->client_key, c->dir, "client.key");
}

int sp_certs_present(const sp_certs *c)
{
	const char *files[] = {c->ca_crt,   c->ca_key,	   c->node_crt,
			       c->node_key, c->client_crt, c->client_key};

	for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++)
		if (access(files[i], R_OK) != 0)
			return 0;
	return 1;
}

/* Runs one openssl step; the message names it. */
static sp_err openssl(const char *step, const char *const *argv, sp_error *err)
{
	sp_proc_spec spec = {.argv = argv, .timeout_ms = OPENSSL_MS};
	int code;
	sp_err rc;

	if ((rc = sp_proc_run(&spec, &code, NULL, err)) != SP_OK) {
		sp_error_prefix(err, "openssl, %s", step);
		return rc;
	}
	if (code != 0)
		return sp_seterr(err, SP_ERR_SYSTEM,
				 "openssl failed %s (exit %d; its message is "
				 "above)",
				 step, code);
	return SP_OK;
}

/* A new EC P-256 key at path, mode 0600. */
static sp_err make_key(const char *path, const char *step, sp_error *err)
{
	const char *argv[] = {"openssl", "genpkey",  "-algorithm",
			      "EC",	 "-pkeyopt", "ec_paramgen_curve:P-256",
			      "-out",	 path,	     NULL};
	sp_err rc = openssl(step, argv, err);

	if (rc == SP_OK && chmod(path, 0600) != 0)
		return sp_seterr(err, SP_ERR_SYSTEM, "chmod 0600 %s: %s", path,
				 strerror(errno));
	return rc;
}

/* The self-signed CA certificate of c->ca_key. */
static sp_err make_ca(const sp_certs *c, const char *cnf, sp_error *err)
{
	const char *argv[] = {
	    "openssl", "req",	      "-x509",	 "-new",
	    "-key",    c->ca_key,     "-subj",	 "/CN=slotpilot local CA",
	    "-days",   "3650",	      "-sha256", "-config",
	    cnf,       "-extensions", "ca",	 "-out",
	    c->ca_crt, NULL};

	return openssl("making the CA certificate (req -x509)", argv, err);
}

/* The certificate of key, signed by the CA, with section's extensions. */
static sp_err make_leaf(const sp_certs *c, const char *cnf, const char *key,
			const char *crt, const char *cn, const char *section,
			sp_error *err)
{
	char subj[64], step[96];
	const char *argv[] = {
	    "openssl", "req",	  "-x509",   "-new",	"-key",	 key,
	    "-CA",     c->ca_crt, "-CAkey",  c->ca_key, "-subj", subj,
	    "-days",   "825",	  "-sha256", "-config", cnf,	 "-extensions",
	    section,   "-out",	  crt,	     NULL};

	snprintf(subj, sizeof(subj), "/CN=%s", cn);
	snprintf(step, sizeof(step), "signing the %s certificate (req -CA)",
		 section);
	return openssl(step, argv, err);
}

/* ", IP:addr" or ", DNS:name" for a bind address other than loopback. */
static sp_err extra_san(const char *bind, char *buf, size_t len, sp_error *err)
{
	unsigned char a[16];

	buf[0] = '\0';
	if (bind == NULL || strcmp(bind, "127.0.0.1") == 0 ||
	    strcmp(bind, "::1") == 0 || strcmp(bind, "localhost") == 0)
		return SP_OK;
	if (inet_pton(AF_INET, bind, a) == 1 ||
	    inet_pton(AF_INET6, bind, a) == 1) {
		snprintf(buf, len, ", IP:%s", bind);
		return SP_OK;
	}
	if (bind[0] == '\0' || bind[0] == '-' || strlen(bind) > 253 ||
	    strspn(bind, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
			 "0123456789.-") != strlen(bind))
		return sp_seterr(err, SP_ERR_USAGE,
				 "the bind address \"%s\" cannot be named in "
				 "a certificate",
				 bind);
	snprintf(buf, len, ", DNS:%s", bind);
	return SP_OK;
}

/* Writes our openssl configuration to path (0600). */
static sp_err write_cnf(const char *path, const char *san, sp_error *err)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	FILE *f = fd >= 0 ? fdopen(fd, "w") : NULL;
	int bad;

	if (f == NULL) {
		if (fd >= 0)
			close(fd);
		return sp_seterr(err, SP_ERR_SYSTEM, "cannot write %s: %s",
				 path, strerror(errno));
	}
	bad = fputs(cnf_text, f) < 0 ||
	      fprintf(f,
		      "subjectAltName = IP:127.0.0.1, IP:::1, "
		      "DNS:localhost%s\n",
		      san) < 0;
	if (fclose(f) != 0 || bad)
		return sp_seterr(err, SP_ERR_SYSTEM, "cannot write %s: %s",
				 path, strerror(errno));
	return SP_OK;
}

/* DIR (as mkdir -p) and DIR/tls, mode 0700. */
static sp_err make_dir(const char *dir, sp_certs *c, sp_error *err)
{
	sp_err rc;

	if ((rc = sp_mkdirs(dir, err)) != SP_OK)
		return rc;
	sp_certs_paths(dir, c);
	if (mkdir(c->dir, 0700) != 0 && errno != EEXIST)
		return sp_seterr(err, SP_ERR_SYSTEM, "cannot create %s: %s",
				 c->dir, strerror(errno));
	if (chmod(c->dir, 0700) != 0)
		return sp_seterr(err, SP_ERR_SYSTEM, "chmod 0700 %s: %s",
				 c->dir, strerror(errno));
	return SP_OK;
}

sp_err sp_certs_make(const char *dir, const char *bind, sp_certs *c,
		     sp_error *err)
{
	char san[300], cnf[SP_CERTS_PATH];
	sp_err rc;

	if ((rc = extra_san(bind, san, sizeof(san), err)) != SP_OK ||
	    (rc = make_dir(dir, c, err)) != SP_OK)
		return rc;
	join(cnf, c->dir, "openssl.cnf");
	if ((rc = write_cnf(cnf, san, err)) != SP_OK)
		return rc;
	if ((rc = make_key(c->ca_key, "making the CA key (genpkey)", err)) ||
	    (rc = make_ca(c, cnf, err)) ||
	    (rc =
		 make_key(c->node_key, "making the node key (genpkey)", err)) ||
	    (rc = make_leaf(c, cnf, c->node_key, c->node_crt, "slotpilot-node",
			    "node", err)) ||
	    (rc = make_key(c->client_key, "making the client key (genpkey)",
			   err)) ||
	    (rc = make_leaf(c, cnf, c->client_key, c->client_crt,
			    "slotpilot-client", "client", err)))
		sp_error_prefix(err, "making the certificates in %s", c->dir);
	unlink(cnf);
	return rc;
}

sp_tls_opts sp_certs_client(const sp_certs *c)
{
	sp_tls_opts o = {.enabled = 1,
			 .cacert = c->ca_crt,
			 .cert = c->client_crt,
			 .key = c->client_key};
	return o;
}

sp_err sp_certs_client_tls(const sp_certs *c, sp_tls **out, sp_error *err)
{
	sp_tls_opts o = sp_certs_client(c);

	return sp_tls_new(&o, out, err);
}

sp_err sp_certs_remove(const char *dir, sp_error *err)
{
	static const char *const names[] = {
	    "ca.crt",	  "ca.key",	"node.crt",   "node.key",
	    "client.crt", "client.key", "openssl.cnf"};
	char tls[SP_CERTS_PATH], path[SP_CERTS_PATH];

	snprintf(tls, sizeof(tls), "%.1000s/tls", dir);
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		join(path, tls, names[i]);
		if (unlink(path) != 0 && errno != ENOENT)
			return sp_seterr(err, SP_ERR_SYSTEM,
					 "cannot remove %s: %s", path,
					 strerror(errno));
	}
	if (rmdir(tls) != 0 && errno != ENOENT && errno != ENOTEMPTY &&
	    errno != EEXIST)
		return sp_seterr(err, SP_ERR_SYSTEM, "cannot remove %s: %s",
				 tls, strerror(errno));
	return SP_OK;
}
