/* perr.c - lookups into the error table of perr.h. */
#include "perr.h"

static const struct {
	int code;
	const char *reason;
	const char *message;
} pk_err_table[] = {
#define PK_ERR_ROW(name, code, reason, msg) { code, reason, msg },
	PK_ERRORS(PK_ERR_ROW)
#undef PK_ERR_ROW
};

static pk_err
clamp(pk_err e)
{
	return ((unsigned)e < PK_E__COUNT) ? e : PK_E_INTERNAL;
}

int
pk_err_code(pk_err e)
{
	return pk_err_table[clamp(e)].code;
}

const char *
pk_err_reason(pk_err e)
{
	return pk_err_table[clamp(e)].reason;
}

const char *
pk_err_message(pk_err e)
{
	return pk_err_table[clamp(e)].message;
}
