/*
 * money.h - amounts for people: integer minor units shown with the
 * currency's decimals (ISO 4217): 800 EUR is "8.00 EUR", 800 JPY is
 * "800 JPY", 8000 BHD is "8.000 BHD".  Machines get the integer.
 */
#ifndef PARKD_MONEY_H
#define PARKD_MONEY_H

#include <stddef.h>
#include <stdint.h>

/* "-9223372036854775808.000 XXX" and a NUL. */
#define MONEY_BUFSZ 32

/*
 * Decimals of the minor unit of currency code cur (three letters): 0, 2 or
 * 3 by ISO 4217; 2 for a code the table does not list.
 */
int money_decimals(const char *cur);

/* Writes amount (minor units) in cur as "8.00 EUR" into buf; returns buf. */
char *money_format(char buf[MONEY_BUFSZ], int64_t amount, const char *cur);

#endif
