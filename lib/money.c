/* money.c - amounts for people (see money.h). */
#include "money.h"

#include <stdio.h>
#include <string.h>

/*
 * ISO 4217 codes whose minor unit is not the hundredth.  The list is
 * short and stable; everything else has two decimals.
 */
static const char *const zero_decimals[] = { "BIF", "CLP", "DJF", "GNF",
    "ISK", "JPY", "KMF", "KRW", "PYG", "RWF", "UGX", "UYI", "VND", "VUV",
    "XAF", "XOF", "XPF", NULL };
static const char *const three_decimals[] = { "BHD", "IQD", "JOD", "KWD",
    "LYD", "OMR", "TND", NULL };

static int
listed(const char *const *list, const char *cur)
{
	for (size_t i = 0; list[i] != NULL; i++)
		if (strcmp(list[i], cur) == 0)
			return 1;
	return 0;
}

int
money_decimals(const char *cur)
{
	if (listed(zero_decimals, cur))
		return 0;
	if (listed(three_decimals, cur))
		return 3;
	return 2;
}

char *
money_format(char buf[MONEY_BUFSZ], int64_t amount, const char *cur)
{
	int d = money_decimals(cur);
	uint64_t scale = d == 0 ? 1 : d == 2 ? 100 : 1000;
	/* The magnitude in unsigned arithmetic: INT64_MIN has no positive twin. */
	uint64_t mag = amount < 0 ? 0 - (uint64_t)amount : (uint64_t)amount;

	if (d == 0)
		snprintf(buf, MONEY_BUFSZ, "%s%llu %.3s", amount < 0 ? "-" : "",
		    (unsigned long long)mag, cur);
	else
		snprintf(buf, MONEY_BUFSZ, "%s%llu.%0*llu %.3s",
		    amount < 0 ? "-" : "", (unsigned long long)(mag / scale), d,
		    (unsigned long long)(mag % scale), cur);
	return buf;
}
