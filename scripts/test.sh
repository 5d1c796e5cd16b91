#!/usr/bin/env bash
# Runs every suite (TypeScript, Python SDK, Go SDK, manifests) and ends with one line:
# "N passed, N failed". Exits non-zero when anything failed. The TypeScript suites run
# on SQLite, and those that depend on storage once more on PostgreSQL (scripts/postgres.sh).
set -uo pipefail
cd "$(dirname "$0")/.."
root=$PWD
results="$root/.test-results"
rm -rf "$results" && mkdir -p "$results"
passed=0
failed=0
status=0

add() { passed=$((passed + $1)); failed=$((failed + $2)); }

# Adds the counts of a vitest JSON report; a missing report counts as one failure.
add_vitest() {
  if [ -f "$1" ]; then
    read -r p f < <(node -e 'const r=require(process.argv[1]);console.log(r.numPassedTests, r.numFailedTests + (r.numRuntimeErrorTestSuites ?? 0) + (r.numFailedTestSuites && !r.numFailedTests ? r.numFailedTestSuites : 0))' "$1")
    add "$p" "$f"
  else
    add 0 1
  fi
}

if [ ! -d node_modules ]; then
  npm ci --no-audit --no-fund || { echo "0 passed, 1 failed"; exit 1; }
fi
npm run build || { echo "0 passed, 1 failed"; exit 1; }
npm run typecheck || { echo "0 passed, 1 failed"; exit 1; }
[ -x scripts/install-tools.sh ] && { bash scripts/install-tools.sh || status=1; }

# PostgreSQL for the postgres storage driver: a private server on loopback
# (scripts/postgres.sh), unless MIKO_TEST_POSTGRES_URL names one already.
if [ -z "${MIKO_TEST_POSTGRES_URL:-}" ]; then
  if url=$(bash scripts/postgres.sh start | tail -n 1) && [ -n "$url" ]; then
    export MIKO_TEST_POSTGRES_URL="$url"
  else
    echo "PostgreSQL did not start: the postgres pass is skipped and counted as one failure"
    add 0 1
    status=1
  fi
fi

# The suite's Python virtual environment: the metrics tests (test/metrics) parse GET /metrics
# with prometheus_client's parser from it; the Python SDK and the fuzzing below use it too.
venv="$root/.venv"
[ -x "$venv/bin/python" ] || python3 -m venv "$venv"
"$venv/bin/pip" install -q -r test/metrics/requirements.txt || status=1

# TypeScript: vitest writes a JSON report; its counts are summed with the others.
# First pass: every suite on the default storage driver (SQLite).
MIKO_TEST_DRIVER=sqlite npx vitest run --reporter=default --reporter=json --outputFile="$results/vitest.json" || status=1
add_vitest "$results/vitest.json"

# Second pass: the suites that depend on storage, on the postgres driver. Only
# directories that exist are passed, so a suite not written yet is no error.
if [ -n "${MIKO_TEST_POSTGRES_URL:-}" ]; then
  dirs=()
  for d in test/registry test/scheduler test/websocket test/metrics test/kv; do [ -d "$d" ] && dirs+=("$d"); done
  if [ ${#dirs[@]} -gt 0 ]; then
    MIKO_TEST_DRIVER=postgres npx vitest run "${dirs[@]}" --reporter=default --reporter=json \
      --outputFile="$results/vitest-postgres.json" || status=1
    add_vitest "$results/vitest-postgres.json"
  fi
fi

# Adds the counts of a pytest JUnit report; a missing report counts as one failure.
add_junit() {
  if [ -f "$1" ]; then
    read -r p f < <(python3 - "$1" <<'PY'
import sys, xml.etree.ElementTree as ET
root = ET.parse(sys.argv[1]).getroot()
suites = [root] if root.tag == "testsuite" else list(root)
t = sum(int(s.get("tests", 0)) for s in suites)
bad = sum(int(s.get("failures", 0)) + int(s.get("errors", 0)) for s in suites)
skip = sum(int(s.get("skipped", 0)) for s in suites)
print(t - bad - skip, bad)
PY
)
    add "$p" "$f"
  else
    add 0 1
  fi
}

# Python SDK: in the suite's virtual environment.
if [ -f sdk/python/pyproject.toml ]; then
  [ -x "$venv/bin/python" ] || python3 -m venv "$venv"
  if "$venv/bin/pip" install -q -e "sdk/python[test]"; then
    "$venv/bin/python" -m pytest sdk/python/tests -q --junitxml="$results/pytest.xml" || status=1
    add_junit "$results/pytest.xml"
  else
    status=1
    add 0 1
  fi
fi

# OpenAPI fuzzing: schemathesis drives every operation of a real Miko, inside a network
# namespace that has only loopback (test/fuzz/run.sh); about a minute.
if [ -f test/fuzz/requirements.txt ]; then
  [ -x "$venv/bin/python" ] || python3 -m venv "$venv"
  if "$venv/bin/pip" install -q -r test/fuzz/requirements.txt; then
    MIKO_FUZZ_REPORT_DIR="$results" MIKO_FUZZ_PYTHON="$venv/bin/python" \
      bash test/fuzz/run.sh -q --junitxml="$results/fuzz.xml" || status=1
    add_junit "$results/fuzz.xml"
  else
    status=1
    add 0 1
  fi
fi

# Go SDK: standard library only, with the race detector.
if [ -f sdk/go/go.mod ]; then
  (cd sdk/go && go test -race -json ./... > "$results/go.json" 2> "$results/go.stderr")
  rc=$?
  [ $rc -ne 0 ] && status=1
  read -r p f < <(node -e '
    const lines = require("fs").readFileSync(process.argv[1], "utf8").split("\n").filter(Boolean)
    let p = 0, f = 0
    for (const l of lines) { try { const e = JSON.parse(l); if (e.Test && e.Action === "pass") p++; if (e.Test && e.Action === "fail") f++; if (!e.Test && e.Action === "fail") f += 0 } catch {} }
    console.log(p, f)' "$results/go.json")
  add "$p" "$f"
  [ $rc -ne 0 ] && [ "$f" -eq 0 ] && add 0 1
  grep -h '"Output"' "$results/go.json" | node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>{for(const l of s.split("\n")){try{const e=JSON.parse(l);if(e.Output&&/^(---|FAIL|ok|PASS)/.test(e.Output))process.stdout.write(e.Output)}catch{}}})'
  cat "$results/go.stderr"
fi

# Benchmarks: each script in scripts/bench/ once in smoke mode (smallest sizes, a few seconds),
# so that none stops working unnoticed; one count per benchmark. Output in $results/bench-smoke.
bash scripts/bench/smoke.sh --counts "$results/bench-smoke.counts" --logs "$results/bench-smoke" || status=1
if [ -f "$results/bench-smoke.counts" ]; then
  read -r p f < "$results/bench-smoke.counts"
  add "$p" "$f"
else
  add 0 1
fi

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ] && [ "$status" -eq 0 ]
