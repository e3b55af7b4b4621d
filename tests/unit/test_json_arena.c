/*
 * test_json_arena.c - unit tests of the scratch arena behind json_parse
 * (lib/json.h): trees built in it are whole and independent, it starts
 * over only when nothing in it is left, and what does not fit goes to
 * malloc.  Its own program: the arena's hooks stay installed throughout.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "json.h"

static cJSON *
parse(const char *s)
{
	char buf[128];
	struct jerr e = { buf, sizeof(buf), 0 };
	cJSON *t = json_parse(s, strlen(s), "", &e);

	if (t == NULL)
		fail_msg("%s: %s", s, buf);
	return t;
}

/* The tree printed back, for comparisons (the caller frees it). */
/* The tree t is the text want, printed by cJSON. */
static void
expect_text(const cJSON *t, const char *want)
{
	char *s = cJSON_PrintUnformatted(t);

	assert_non_null(s);
	assert_string_equal(s, want);
	cJSON_free(s);
}

static int
setup(void **state)
{
	(void)state;
	json_arena_install();
	return 0;
}

/* One tree after another: each whole, the arena empty after each. */
static void
test_one_after_another(void **state)
{
	char line[200];

	(void)state;
	for (int i = 0; i < 5000; i++) {
		cJSON *t;

		snprintf(line, sizeof(line), "{\"jsonrpc\":\"2.0\",\"id\":%d,\"method\":\"entry\","
		    "\"params\":{\"gate\":\"north\",\"plate\":\"P-%d\",\"class\":\"car\","
		    "\"needs\":[\"ev\",\"wide\"]}}", i, i);
		t = parse(line);
		assert_true(json_arena_live() > 0);
		expect_text(t, line);
		cJSON_Delete(t);
		assert_int_equal(json_arena_live(), 0);
	}
}

/*
 * Trees alive together do not share memory, whichever is freed first; a
 * tree kept only keeps the arena from starting over.
 */
static void
test_trees_alive_together(void **state)
{
	const char *a = "{\"a\":[1,2,3],\"b\":{\"c\":\"kept\"}}";
	cJSON *ta, *tb;

	(void)state;
	ta = parse(a);
	for (int i = 0; i < 2000; i++) {
		char line[64];

		snprintf(line, sizeof(line), "{\"x\":\"%d\",\"y\":[%d]}", i, i);
		tb = parse(line);
		expect_text(tb, line);
		cJSON_Delete(tb);
		assert_true(json_arena_live() > 0);	/* ta is still in it */
	}
	expect_text(ta, a);
	/* The arena filled up meanwhile: it starts over once ta is gone. */
	cJSON_Delete(ta);
	assert_int_equal(json_arena_live(), 0);
	/* Freed in the other order. */
	ta = parse(a);
	tb = parse("[\"second\"]");
	assert_true(json_arena_live() > 0);
	cJSON_Delete(ta);
	assert_true(json_arena_live() > 0);
	expect_text(tb, "[\"second\"]");
	cJSON_Delete(tb);
	assert_int_equal(json_arena_live(), 0);
}

/* ["s0","s1",...] of n strings (the caller frees it). */
static char *
array_of(size_t n)
{
	char *big = malloc(n * 16 + 16);
	size_t len = 0;

	assert_non_null(big);
	big[len++] = '[';
	for (size_t i = 0; i < n; i++)
		len += (size_t)sprintf(big + len, "%s\"s%zu\"", i ? "," : "", i);
	big[len++] = ']';
	big[len] = '\0';
	return big;
}

/* A text bigger than the arena: the rest from malloc, all of it whole. */
static void
test_bigger_than_the_arena(void **state)
{
	size_t n = 4 * JSON_ARENA_BYTES / 16;
	char *big = array_of(n);
	cJSON *t;

	(void)state;
	t = parse(big);
	assert_int_equal(cJSON_GetArraySize(t), (int)n);
	expect_text(t, big);
	cJSON_Delete(t);
	assert_int_equal(json_arena_live(), 0);
	free(big);
}

/* Nodes of a parsed text in a tree made by hand (malloc) are freed right. */
static void
test_mixed_with_malloc(void **state)
{
	cJSON *o = cJSON_CreateObject(), *sub = parse("{\"k\":[true,null]}");

	(void)state;
	assert_non_null(o);
	assert_int_equal(json_arena_live() > 0, 1);
	cJSON_AddItemToObject(o, "sub", sub);
	cJSON_AddStringToObject(o, "name", "by hand");
	expect_text(o, "{\"sub\":{\"k\":[true,null]},\"name\":\"by hand\"}");
	cJSON_Delete(o);
	assert_int_equal(json_arena_live(), 0);
}

/* A refused text (a duplicate key) leaves nothing behind. */
static void
test_refused_text(void **state)
{
	char buf[64];
	struct jerr e = { buf, sizeof(buf), 0 };
	const char *d = "{\"a\":1,\"b\":{\"c\":1,\"c\":2}}";

	(void)state;
	assert_null(json_parse(d, strlen(d), "", &e));
	assert_string_equal(buf, "b.c: duplicate key");
	assert_int_equal(json_arena_live(), 0);
}

/*
 * json_tree_free: a tree that is all the arena holds goes at once, and
 * the next starts where the first did; any other tree is walked.
 */
static void
test_tree_free_at_once(void **state)
{
	const char *a = "{\"a\":[1,2,3],\"b\":{\"c\":\"x\"}}";
	cJSON *ta, *tb, *first;

	(void)state;
	first = ta = parse(a);
	assert_true(json_arena_live() > 0);
	json_tree_free(ta);
	assert_int_equal(json_arena_live(), 0);
	ta = parse(a);
	assert_ptr_equal(ta, first);	/* started over */
	/* Two alive: neither is all of it; freed in either order. */
	tb = parse("[\"second\",{\"k\":null}]");
	json_tree_free(ta);
	assert_true(json_arena_live() > 0);
	expect_text(tb, "[\"second\",{\"k\":null}]");
	json_tree_free(tb);
	assert_int_equal(json_arena_live(), 0);
	/* A member taken out and freed apart: the rest is walked, nothing lost. */
	ta = parse(a);
	cJSON_Delete(cJSON_DetachItemFromObjectCaseSensitive(ta, "b"));
	assert_true(json_arena_live() > 0);
	json_tree_free(ta);
	assert_int_equal(json_arena_live(), 0);
	/* Freed by cJSON_Delete instead: the arena is as empty. */
	ta = parse(a);
	cJSON_Delete(ta);
	assert_int_equal(json_arena_live(), 0);
	tb = parse("[1]");
	json_tree_free(tb);
	assert_int_equal(json_arena_live(), 0);
	json_tree_free(NULL);
}

/* A tree that spilled to malloc is walked: its malloc'd part is freed (ASan). */
static void
test_tree_free_spilled(void **state)
{
	size_t n = 2 * JSON_ARENA_BYTES / 16;
	char *big = array_of(n);
	cJSON *t;

	(void)state;
	t = parse(big);
	assert_int_equal(cJSON_GetArraySize(t), (int)n);
	json_tree_free(t);
	assert_int_equal(json_arena_live(), 0);
	free(big);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_one_after_another),
		cmocka_unit_test(test_trees_alive_together),
		cmocka_unit_test(test_bigger_than_the_arena),
		cmocka_unit_test(test_mixed_with_malloc),
		cmocka_unit_test(test_refused_text),
		cmocka_unit_test(test_tree_free_at_once),
		cmocka_unit_test(test_tree_free_spilled),
	};

	return cmocka_run_group_tests(tests, setup, NULL);
}
