/*
 * fuzz_tzif.c - libFuzzer target for the TZif parser (zone files are read
 * from disk at start-up) and the local-time conversion over what it
 * accepts.  Oracle: the sanitizers, and local times stay in range.
 */
#include <stdint.h>
#include <stdlib.h>

#include "tz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const int64_t probes[] = { -1, 0, 1000000000, 1795000000,
	    2147483647, 4102444800LL, 253402300799LL };
	tz *z = tz_from_tzif(data, size);

	if (z == NULL)
		return 0;
	for (size_t i = 0; i < sizeof(probes) / sizeof(probes[0]); i++) {
		struct tz_local l;

		tz_localtime(z, probes[i], &l);
		if (l.month < 1 || l.month > 12 || l.mday < 1 || l.mday > 31 ||
		    l.wday < 0 || l.wday > 6 || l.hour < 0 || l.hour > 23 ||
		    l.minute < 0 || l.minute > 59 || l.second < 0 || l.second > 60)
			abort();
	}
	tz_free(z);
	return 0;
}
