#!/bin/sh
# Runs cmocka unit-test binaries, each in its own process with a time limit;
# prints "unit: N passed, M failed" and fails if any test failed.
passed=0; failed=0; bad=""
for t in "$@"; do
  out=$(timeout 300 "$t" 2>&1); rc=$?
  p=$(printf '%s\n' "$out" | sed -n 's/^\[  PASSED  \] \([0-9]*\) test.*/\1/p' | tail -1)
  f=$(printf '%s\n' "$out" | sed -n 's/^\[  FAILED  \] \([0-9]*\) test.*/\1/p' | tail -1)
  passed=$((passed + ${p:-0})); failed=$((failed + ${f:-0}))
  if [ $rc -ne 0 ] || [ -z "$p" ]; then
    printf '%s\n' "$out" | tail -40
    echo "FAIL $(basename "$t") (exit $rc)"
    bad="$bad $(basename "$t")"
    [ -z "$f" ] && failed=$((failed + 1))
  else
    echo "ok   $(basename "$t"): ${p} tests"
  fi
done
echo "unit: $passed passed, $failed failed"
[ -z "$bad" ]
