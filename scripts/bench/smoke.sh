#!/usr/bin/env bash
# Runs every benchmark in scripts/bench/ once in smoke mode (MIKO_BENCH_SMOKE=1: the smallest
# sizes, a few seconds each, nothing written to docs/benchmarks.md; each fails unless it measured
# its figures), so that none of them stops working unnoticed. `npm test` runs it. One result per
# benchmark; the last line is "N passed, N failed".
#
#   scripts/bench/smoke.sh [--counts FILE] [--logs DIR] [NAME ...]
#
# NAME is a benchmark as listed by the run (endpoints, ha, sdk/go, ...); default: all of them.
# --counts writes "passed failed" to FILE; --logs keeps each benchmark's output in DIR/NAME.log
# (otherwise the output of a failed benchmark is shown and the rest is dropped).
#
# Needs the build (npm run build), wrk (installed with scripts/install-tools.sh wrk when missing),
# Go, the Python SDK in .venv (npm test makes it) and, for ha, PostgreSQL (MIKO_TEST_POSTGRES_URL,
# else the server scripts/postgres.sh starts). MIKO_BENCH_SMOKE_TIMEOUT: seconds per benchmark (60).
set -uo pipefail
cd "$(dirname "$0")/../.."
root=$PWD
limit="${MIKO_BENCH_SMOKE_TIMEOUT:-60}"
counts=""
logs=""
names=()
while [[ $# -gt 0 ]]; do
  case "$1" in
    --counts) counts="$2"; shift 2 ;;
    --logs) logs="$2"; shift 2 ;;
    *) names+=("$1"); shift ;;
  esac
done
export MIKO_BENCH_SMOKE=1
passed=0
failed=0

# Modules the benchmarks share (bare-server.mjs is the baseline server they start); every other .mjs file here is a benchmark.
shared="lib.mjs wrk.mjs bare-server.mjs"

# Every benchmark: the .mjs scripts in scripts/bench/ and each SDK's directory under sdk/.
all_benches() {
  local file name
  for file in scripts/bench/*.mjs; do
    name="$(basename "$file" .mjs)"
    [[ " $shared " == *" $name.mjs "* ]] || echo "$name"
  done
  for file in scripts/bench/sdk/*/; do echo "sdk/$(basename "$file")"; done
}

# Runs one benchmark in smoke mode, from the directory it expects, within the time limit.
run_bench() {
  local dir="$root" cmd
  case "$1" in
    sdk/go) dir="$root/scripts/bench/sdk/go"; cmd=(go run . -smoke) ;;
    sdk/python)
      if [[ ! -x "$root/.venv/bin/python" ]]; then
        echo "no Python virtual environment in .venv: npm test makes it (python3 -m venv .venv && .venv/bin/pip install -e sdk/python)"
        return 1
      fi
      cmd=("$root/.venv/bin/python" scripts/bench/sdk/python/bench.py --smoke) ;;
    sdk/*) cmd=(node "scripts/bench/$1/bench.mjs" --smoke) ;;
    *) cmd=(node "scripts/bench/$1.mjs" --smoke) ;;
  esac
  (cd "$dir" && timeout --kill-after=5 "$limit" "${cmd[@]}")
  local rc=$?
  [[ $rc -eq 124 ]] && echo "did not finish within ${limit}s"
  return $rc
}

# Whether a benchmark measures throughput with wrk.
uses_wrk() {
  local file="scripts/bench/$1.mjs"
  [[ -f "$file" ]] && grep -q '"./wrk.mjs"' "$file"
}

record() {
  local name="$1" ok="$2" seconds="$3" log="$4"
  if [[ "$ok" == 1 ]]; then
    passed=$((passed + 1))
    printf 'bench smoke: ok   %-12s %3ss\n' "$name" "$seconds"
  else
    failed=$((failed + 1))
    printf 'bench smoke: FAIL %-12s %3ss; its output:\n' "$name" "$seconds"
    tail -n 40 "$log" | sed 's/^/    /'
  fi
}

if [[ ! -f dist/miko.mjs ]]; then
  echo "bench smoke: Miko is not built (npm run build)"
fi
have_wrk=1
if ! command -v wrk >/dev/null 2>&1 && ! bash scripts/install-tools.sh wrk; then
  have_wrk=0
fi
[[ ${#names[@]} -gt 0 ]] || mapfile -t names < <(all_benches)
logdir="${logs:-$(mktemp -d)}"
mkdir -p "$logdir"
started=$SECONDS
skipped=()
for name in "${names[@]}"; do
  if [[ $have_wrk == 0 ]] && uses_wrk "$name"; then
    skipped+=("$name")
    continue
  fi
  log="$logdir/${name//\//-}.log"
  t0=$SECONDS
  if run_bench "$name" > "$log" 2>&1; then ok=1; else ok=0; fi
  record "$name" "$ok" "$((SECONDS - t0))" "$log"
done
# One failure, with the reason, for the throughput benchmarks that could not run.
if [[ ${#skipped[@]} -gt 0 ]]; then
  failed=$((failed + 1))
  echo "bench smoke: FAIL wrk is not installed and could not be installed (Debian package wrk, scripts/install-tools.sh wrk); not run: ${skipped[*]}"
fi
[[ -n "$logs" ]] || rm -rf "$logdir"
echo "bench smoke: $((SECONDS - started))s in all"
[[ -n "$counts" ]] && echo "$passed $failed" > "$counts"
echo "$passed passed, $failed failed"
[[ $failed -eq 0 ]]
