/*
 * fuzz_cluster_slots.c - libFuzzer target for the traffic client's reading
 * of the network: the input is fed to hiredis's reader as RESP, and every
 * CLUSTER SLOTS entry of each reply is applied to a slot map (which must
 * only ever point at a known node); the input is also read, as text, as a
 * MOVED and an ASK redirect and sorted as a server error. Includes
 * traffic.c to reach its statics.
 */
#include "traffic/traffic.c"

#include "fuzz.h"

/* Aborts unless every slot maps to nothing or a node of the table. */
static void check_map(const ccl *cl)
{
	int s;

	for (s = 0; s < SP_SLOTS; s++)
		if (cl->map[s] < -1 || cl->map[s] >= (int)cl->n)
			abort();
	if (cl->n > MAX_NODES)
		abort();
}

static void slots_reply(ccl *cl, const sp_conn *from, const redisReply *r)
{
	size_t j;

	if (r->type != REDIS_REPLY_ARRAY)
		return;
	for (j = 0; j < r->elements; j++)
		apply_range(cl, from, r->element[j]);
	check_map(cl);
}

static void read_replies(ccl *cl, const sp_conn *from, const uint8_t *data,
			 size_t size)
{
	redisReader *rd = redisReaderCreate();
	void *r = NULL;
	int n = 0;

	if (rd == NULL)
		return;
	redisReaderFeed(rd, (const char *)data, size);
	while (n++ < 64 && redisReaderGetReply(rd, &r) == REDIS_OK &&
	       r != NULL) {
		slots_reply(cl, from, r);
		freeReplyObject(r);
		r = NULL;
	}
	redisReaderFree(rd);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	ccl cl;
	sp_conn from;
	char *msg;
	int s, i;

	memset(&cl, 0, sizeof(cl));
	memset(&from, 0, sizeof(from));
	snprintf(from.host, sizeof(from.host), "127.0.0.1");
	for (s = 0; s < SP_SLOTS; s++)
		cl.map[s] = -1;
	read_replies(&cl, &from, data, size);
	if ((msg = fuzz_text(data, size)) != NULL) {
		if ((i = parse_redirect(&cl, msg, "MOVED")) < -1 ||
		    i >= (int)cl.n)
			abort();
		if ((i = parse_redirect(&cl, msg, "ASK")) < -1 ||
		    i >= (int)cl.n)
			abort();
		if (sp_classify_server_error(msg) == SP_OK)
			abort();
		free(msg);
	}
	free(cl.nodes);
	return 0;
}
