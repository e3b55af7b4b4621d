/*
 * fuzz_record.c - libFuzzer target for what recovery reads from disk: the
 * WAL framing over the whole input, and every framed (or, failing that,
 * the whole) payload applied as a journal record to a small garage;
 * recovery's search for a later batch past where the framing stopped; and
 * the audit shipper's record_peek over the input.
 * Oracles: the sanitizers, and the allocation counts stay coherent.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "garage.h"
#include "record.h"
#include "wal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char cfgtext[] =
"{\"facility\":{\"name\":\"F\",\"timezone\":\"UTC\",\"gates\":["
"{\"id\":\"north\",\"role\":\"both\",\"level\":0,\"x\":0,\"y\":0}],"
"\"rows\":[{\"level\":0,\"zone\":\"B\",\"type\":\"regular\",\"count\":6,\"x\":5,\"y\":20,\"dx\":3,\"dy\":0},"
"{\"level\":0,\"zone\":\"C\",\"type\":\"oversized\",\"count\":2,\"x\":5,\"y\":40,\"dx\":4,\"dy\":0}]},"
"\"tariff\":{\"free_minutes\":15,\"increment_minutes\":15,\"overage_per_hour\":200,"
"\"tiers\":[{\"upto_minutes\":60,\"amount\":300}],\"lost_ticket\":5000,\"grace_minutes\":15}}";

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char err[256];
	struct config *cfg = config_parse(cfgtext, sizeof(cfgtext) - 1,
	    &(struct jerr){ err, sizeof(err), 0 });
	struct alloc_counts k;
	struct wal_rec rec;
	size_t off = 0;
	int framed = 0;
	garage *g;

	if (cfg == NULL)
		abort();
	g = garage_new(cfg->fac, cfg->tariff, NULL, NULL, ALLOC_NEAREST, 3);
	cfg->fac = NULL;
	cfg->tariff = NULL;
	config_free(cfg);
	if (g == NULL)
		return 0;
	while (wal_next(data, size, &off, &rec) == WAL_OK) {
		framed = 1;
		record_apply(g, rec.payload, rec.len,
		    &(struct jerr){ err, sizeof(err), 0 });
	}
	/* Recovery's question about what follows damage, at every offset. */
	if (off < size)
		(void)wal_batch_after(data, size, off, 0, UINT64_MAX);
	{
		/* The shipper's reader of the same bytes. */
		const char *id, *subj[8];
		char buf[512];
		size_t used = 0;

		if (record_peek((const char *)data, size, buf, sizeof(buf), &used,
		    &id, subj, 8) >= 0 && used > sizeof(buf))
			abort();
	}
	if (!framed) {
		/* Most inputs are not framed: apply lines as records directly. */
		size_t start = 0;

		for (size_t i = 0; i <= size; i++) {
			if (i < size && data[i] != '\n')
				continue;
			record_apply(g, (const char *)data + start, i - start,
			    &(struct jerr){ err, sizeof(err), 0 });
			start = i + 1;
		}
	}
	alloc_counts(garage_alloc(g), &k);
	if (k.free + k.occupied + k.out_of_service + k.held != k.total)
		abort();
	garage_free(g);
	return 0;
}
