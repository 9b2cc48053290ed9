#!/bin/sh
# run.sh - run every unit test binary given as argument, then the pytest
# integration suite, and end with one line: "N passed, M failed".
#
# Environment: AGORA_BIN (the binary under test), PYTHON (Debian's python3).
set -u

passed=0
failed=0
skipped=0
log=$(mktemp)
trap 'rm -f "$log"' EXIT

count() { # pattern file -> first number on the matching line, or 0
	sed -n "s/$1/\1/p" "$2" | head -n 1 | grep -E '^[0-9]+$' || echo 0
}

for t in "$@"; do
	echo "== unit: $(basename "$t")"
	"$t" >"$log" 2>&1
	rc=$?
	cat "$log"
	p=$(count '.*\[  PASSED  \] \([0-9]*\) test.*' "$log")
	f=$(count '.*\[  FAILED  \] \([0-9]*\) test.*' "$log")
	if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
		echo "!! $(basename "$t") exited with status $rc (crash or sanitizer report)"
		f=1
	fi
	passed=$((passed + p))
	failed=$((failed + f))
done

echo "== integration (pytest)"
"${PYTHON:-/usr/bin/python3}" -m pytest -q -rfEs -p no:cacheprovider tests/integration 2>&1 | tee "$log"
summary=$(grep -E '^(=+ )?[0-9]+ (passed|failed|error|skipped)' "$log" | tail -n 1)
p=$(echo "$summary" | sed -n 's/.*\b\([0-9][0-9]*\) passed.*/\1/p')
f=$(echo "$summary" | sed -n 's/.*\b\([0-9][0-9]*\) failed.*/\1/p')
e=$(echo "$summary" | sed -n 's/.*\b\([0-9][0-9]*\) error.*/\1/p')
s=$(echo "$summary" | sed -n 's/.*\b\([0-9][0-9]*\) skipped.*/\1/p')
if [ -z "$summary" ]; then
	echo "!! pytest produced no summary"
	f=1
fi
passed=$((passed + ${p:-0}))
failed=$((failed + ${f:-0} + ${e:-0}))
skipped=$((skipped + ${s:-0}))

echo
if [ "$skipped" -gt 0 ]; then
	echo "$passed passed, $failed failed, $skipped skipped"
else
	echo "$passed passed, $failed failed"
fi
[ "$failed" -eq 0 ] && [ "$passed" -gt 0 ]
