/*
 * fuzz_config.c - libFuzzer target for the configuration parser (and so for
 * the facility, vehicle and tariff parsers under it).  Oracle: the
 * sanitizers, and an error always comes with a message.
 */
#include <stdint.h>
#include <stdlib.h>

#include "config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char err[512];
	struct config *c = config_parse((const char *)data, size, err, sizeof(err));

	if (c == NULL && err[0] == '\0')
		abort();
	config_free(c);
	return 0;
}
