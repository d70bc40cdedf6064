/*
 * fuzz_cluster_slots.c - libFuzzer target for the cluster client's reading
 * of the network: the input is fed to hiredis's reader as RESP, and every
 * CLUSTER SLOTS entry of each reply is applied to a slot map (which must
 * only ever point at a known node); the input is also read, as text, as a
 * MOVED and an ASK redirect and sorted as a server error. Includes
 * cluster/client.c to reach its statics.
 */
#include "cluster/client.c"

#include "fuzz.h"

/* Aborts unless every slot maps to nothing or a node of the table. */
static void check_map(const sp_client *cl)
{
	int s;

	for (s = 0; s < SP_SLOTS; s++)
		if (cl->map[s] < -1 || cl->map[s] >= (int)cl->n)
			abort();
	if (cl->n > MAX_NODES)
		abort();
}

static void slots_reply(sp_client *cl, const sp_conn *from, const redisReply *r)
{
	size_t j;

	if (r->type != REDIS_REPLY_ARRAY)
		return;
	for (j = 0; j < r->elements; j++)
		apply_range(cl, from, r->element[j]);
	check_map(cl);
}

/*
 * 1 if the input announces an array of more than 1M elements. hiredis
 * 0.14's reader allocates the announced count up front (it has no
 * maxelements), and under ASan the shadow of a multi-GB calloc alone
 * trips libFuzzer's memory limit. In production that calloc fails or is
 * lazily mapped and the read then times out: hiredis's behaviour, not a
 * parser of ours, so such inputs are not fed.
 */
static int announces_huge_array(const uint8_t *data, size_t size)
{
	size_t i, j;
	unsigned long long n;

	for (i = 0; i < size; i++) {
		if (data[i] != '*')
			continue;
		for (j = i + 1, n = 0; j < size && data[j] >= '0' &&
				       data[j] <= '9' && n <= 1000000;
		     j++)
			n = n * 10 + (unsigned)(data[j] - '0');
		if (n > 1000000)
			return 1;
	}
	return 0;
}

static void read_replies(sp_client *cl, const sp_conn *from,
			 const uint8_t *data, size_t size)
{
	redisReader *rd = redisReaderCreate();
	void *r = NULL;
	int n = 0;

	if (rd == NULL)
		return;
	if (announces_huge_array(data, size)) {
		redisReaderFree(rd);
		return;
	}
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
	sp_client cl;
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
