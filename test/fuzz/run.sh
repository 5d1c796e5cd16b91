#!/usr/bin/env bash
# Runs the OpenAPI fuzz test (test_openapi.py) in a user and network namespace of its own, where
# the only interface is loopback: the tasks and health checks the fuzzer declares name arbitrary
# addresses, and Miko must not reach any of them outside this machine. Arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/../.."
python="${MIKO_FUZZ_PYTHON:-.venv/bin/python}"
exec unshare --map-root-user --net "$python" -m pytest test/fuzz -p no:cacheprovider "$@"
