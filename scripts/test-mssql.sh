#!/usr/bin/env bash
# make test-mssql: every test that needs a T-SQL engine (their names end in
# OnTSQL), run against the server MSSQL_TEST_DSN names. With a DSN nothing may
# be skipped: a skip fails the run. Without one, one line says what was not run.
set -uo pipefail
cd "$(dirname "$0")/.."
if [ -z "${MSSQL_TEST_DSN:-}" ]; then
  echo "make test-mssql: MSSQL_TEST_DSN is not set: skipped every T-SQL suite (catalog conformance, schema apply twice, finalize, payload isolation, file and publish procedures called for real through sp_invoke_external_rest_endpoint (also MSSQL_TEST_CA_FILE), migrated atoms read back from T-SQL, outbox, whole job and short chaos on T-SQL, catalog faults and a 30 s outage through the TDS proxy)"
  exit 0
fi
log=$(mktemp)
trap 'rm -f "$log"' EXIT
go test -count=1 -timeout 45m -v -run 'OnTSQL' ./... >"$log" 2>&1
rc=$?
grep -E '^(ok|FAIL|---|\s+--- (FAIL|SKIP))' "$log" | grep -vE '^\s*--- PASS' 
grep -E -B2 -A20 -- '--- FAIL' "$log" | head -200
pass=$(grep -cE -- '--- PASS' "$log")
fail=$(grep -cE -- '--- FAIL' "$log")
skip=$(grep -cE -- '--- SKIP' "$log")
echo "test-mssql: $pass passed, $fail failed, $skip skipped"
if [ "$skip" -gt 0 ]; then
  echo "test-mssql: a T-SQL test skipped although MSSQL_TEST_DSN is set:"
  grep -E -A2 -- '--- SKIP' "$log"
  exit 1
fi
exit $rc
