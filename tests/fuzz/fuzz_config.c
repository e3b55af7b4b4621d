/*
 * fuzz_config.c - libFuzzer target for the configuration file as the
 * daemon reads it (daemon/settings.h), and so for the parser and every
 * reader under it: core config, facility, vehicles, tariff, tokens.
 * Oracle: the sanitizers, and an error always comes with a message in
 * valid UTF-8.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "settings.h"
#include "utf8.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char err[512] = "";
	struct settings *s = settings_parse((const char *)data, size,
	    &(struct jerr){ err, sizeof(err), 0 });

	if (s == NULL && (err[0] == '\0' || !utf8_valid(err, strlen(err))))
		abort();
	settings_free(s);
	return 0;
}
