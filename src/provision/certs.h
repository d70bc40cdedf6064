/*
 * certs.h - the throwaway certificates of a local TLS cluster
 * (`local up --tls`): a CA, one node certificate every node uses as
 * server and as cluster-bus client, and one client certificate, made by
 * Debian's openssl command in DIR/tls (0700; every key 0600).
 *
 * Keys are EC P-256 (fast to make). The node certificate names
 * IP:127.0.0.1, IP:::1 and DNS:localhost, plus the bind address when it
 * is another one; the client certificate's CN is slotpilot-client.
 */
#ifndef SP_CERTS_H
#define SP_CERTS_H

#include "base/error.h"
#include "io/tls.h"

#define SP_CERTS_PATH 1100

typedef struct sp_certs {
	char dir[SP_CERTS_PATH]; /* DIR/tls */
	char ca_crt[SP_CERTS_PATH], ca_key[SP_CERTS_PATH];
	char node_crt[SP_CERTS_PATH], node_key[SP_CERTS_PATH];
	char client_crt[SP_CERTS_PATH], client_key[SP_CERTS_PATH];
} sp_certs;

/*
 * The paths of DIR/tls and its files into *c, absolute when DIR exists
 * (nodes run in DIR/<port>, and the paths are printed for the operator).
 */
void sp_certs_paths(const char *dir, sp_certs *c);

/* 1 when every file of c is there. */
int sp_certs_present(const sp_certs *c);

/*
 * Makes DIR/tls (mode 0700) and, with openssl, a new CA and the node and
 * client certificates in it, replacing any there; bind is the nodes'
 * address (a name or an IP besides the loopback ones is added to the
 * node certificate). Fills *c. SP_ERR_SYSTEM naming the openssl step
 * that failed (openssl's own message is on stderr), or the file;
 * SP_ERR_USAGE for a bind address that cannot be a name in a certificate.
 */
sp_err sp_certs_make(const char *dir, const char *bind, sp_certs *c,
		     sp_error *err);

/* The client options of c: --tls --cacert ca.crt --cert client.crt --key
 * client.key; they point into c. */
sp_tls_opts sp_certs_client(const sp_certs *c);

/* The client context of c (sp_tls_new of sp_certs_client). */
sp_err sp_certs_client_tls(const sp_certs *c, sp_tls **out, sp_error *err);

/* Removes the files sp_certs_make writes under DIR/tls and the directory
 * when it is then empty; a missing directory is not an error. */
sp_err sp_certs_remove(const char *dir, sp_error *err);

#endif
