/*
 * fuzz_repl.c - libFuzzer target for the replication stream as a peer
 * sends it (proto/repl.h): the input, cut in two at a place its first
 * byte chooses, is fed to a frame reader, and every frame is read as what
 * its type says (a hello, a welcome, a refusal, a snapshot header, an ack,
 * a run of journal records).  Oracle: the sanitizers; a frame never comes
 * out longer than REPL_MAX_FRAME, nor past the bytes fed; an error always
 * has a message.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "repl.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
read_frame(enum repl_type t, const unsigned char *body, size_t len)
{
	char err[256] = "";
	struct jerr e = { err, sizeof(err), 0 };
	union {
		struct repl_hello h;
		struct repl_info i;
		struct repl_refusal r;
		struct repl_snapshot s;
	} m;
	uint64_t lsn;
	size_t bad;
	int rc = 0;

	switch (t) {
	case REPL_HELLO:
		rc = repl_hello_read(body, len, &m.h, &e);
		break;
	case REPL_WELCOME:
	case REPL_STATUS:
		rc = repl_info_read(body, len, &m.i, &e);
		break;
	case REPL_REFUSED:
		rc = repl_refusal_read(body, len, &m.r, &e);
		break;
	case REPL_SNAPSHOT:
		rc = repl_snapshot_read(body, len, &m.s, &e);
		break;
	case REPL_ACK:
		(void)repl_ack_read(body, len, &lsn);
		return;
	case REPL_RECORDS:
		if (repl_records_check(body, len, 1, &bad) < 0 && bad > len)
			abort();
		return;
	case REPL_SIDE: {
		uint64_t last = 0;

		if (repl_side_check(body, len, 0, &last, &bad) < 0 && bad > len)
			abort();
		return;
	}
	case REPL_IMAGE: {
		uint64_t at = 0;

		if (repl_image_check(body, len, &at, &bad) < 0 && bad > len)
			abort();
		return;
	}
	case REPL_DATA:
		return;
	}
	if (rc != 0 && err[0] == '\0')
		abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct repl_reader r;
	size_t cut = size > 0 ? data[0] % (size + 1) : 0;
	enum repl_type t;
	const unsigned char *body;
	size_t len, out = 0;
	int rc = 0;

	memset(&r, 0, sizeof(r));
	for (int part = 0; part < 2 && rc >= 0; part++) {
		const uint8_t *p = part == 0 ? data : data + cut;
		size_t n = part == 0 ? cut : size - cut;

		if (repl_feed(&r, p, n) != 0)
			break;
		while ((rc = repl_next(&r, &t, &body, &len)) == 1) {
			if (len + 1 > REPL_MAX_FRAME)
				abort();
			out += REPL_HEADER + len;
			if (out > size)
				abort();
			read_frame(t, body, len);
		}
	}
	repl_reader_free(&r);
	return 0;
}
