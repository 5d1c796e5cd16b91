#!/usr/bin/env bash
# Installs the pinned tools that the Kubernetes manifest checks (test/k8s)
# use, into .tools/ at the repository root, and the load generator of the
# benchmarks. Idempotent: a tool already present in the pinned version is
# left alone, so repeated runs are fast.
#
#   kustomize   .tools/bin/kustomize: renders k8s/base and k8s/overlays/*   (needs Go)
#   validator   .tools/venv: kubernetes-validate, upstream Kubernetes JSON
#               schemas, strict mode                                     (needs Python 3)
#   wrk         the Debian package `wrk` (scripts/bench/wrk.mjs)  (needs apt-get and root or sudo)
#   chromium    the Debian package `chromium`, the headless browser of the
#               console tests (test/console)             (needs apt-get and root or sudo)
#
# Usage: scripts/install-tools.sh [kustomize|validator|wrk|chromium ...]   (default: all)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
TOOLS="$ROOT/.tools"
KUSTOMIZE_VERSION="v5.7.1"
PY_REQUIREMENTS="$ROOT/test/k8s/requirements.txt"

log() { printf 'install-tools: %s\n' "$*" >&2; }

install_kustomize() {
  local bin="$TOOLS/bin/kustomize"
  if [[ -x "$bin" ]] && [[ "$("$bin" version 2>/dev/null)" == "$KUSTOMIZE_VERSION" ]]; then
    return 0
  fi
  if ! command -v go >/dev/null 2>&1; then
    log "go is required to install kustomize $KUSTOMIZE_VERSION"
    exit 1
  fi
  log "installing kustomize $KUSTOMIZE_VERSION"
  mkdir -p "$TOOLS/bin"
  GOBIN="$TOOLS/bin" go install "sigs.k8s.io/kustomize/kustomize/v5@$KUSTOMIZE_VERSION"
  [[ "$("$bin" version)" == "$KUSTOMIZE_VERSION" ]] || { log "kustomize reports an unexpected version"; exit 1; }
}

install_validator() {
  local venv="$TOOLS/venv"
  local stamp="$venv/.requirements.sha256"
  local want
  want="$(sha256sum "$PY_REQUIREMENTS" | cut -d' ' -f1)"
  if [[ -x "$venv/bin/python" ]] && [[ -f "$stamp" ]] && [[ "$(cat "$stamp")" == "$want" ]] \
     && "$venv/bin/python" -c 'import kubernetes_validate' >/dev/null 2>&1; then
    return 0
  fi
  if ! command -v python3 >/dev/null 2>&1; then
    log "python3 is required to install kubernetes-validate"
    exit 1
  fi
  log "installing kubernetes-validate into .tools/venv"
  rm -rf "$venv"
  python3 -m venv "$venv"
  "$venv/bin/python" -m pip install --quiet --disable-pip-version-check --no-input \
    -r "$PY_REQUIREMENTS"
  printf '%s\n' "$want" > "$stamp"
}

# Installs a Debian package that provides `command` when the command is missing.
install_debian_package() {
  local command="$1" package="$2"
  command -v "$command" >/dev/null 2>&1 && return 0
  local run=()
  if [[ "$(id -u)" -ne 0 ]]; then
    if ! command -v sudo >/dev/null 2>&1; then
      log "$command is missing and installing it needs root: run as root, install sudo, or install the Debian package '$package' yourself"
      exit 1
    fi
    # -n: fail at once rather than wait for a password nobody will type during a test run.
    run=(sudo -n)
  fi
  if ! command -v apt-get >/dev/null 2>&1; then
    log "$command is missing and apt-get is not available: install $package by hand"
    exit 1
  fi
  log "installing $package from the Debian packages"
  "${run[@]}" apt-get update -qq >&2
  "${run[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$package" >&2
  command -v "$command" >/dev/null 2>&1 || { log "$command is still missing after installing the package $package"; exit 1; }
}

# The benchmarks measure throughput with wrk: a native load generator, not one sharing Node's
# costs with the server it measures. Not pinned: Debian's package is the reference build.
install_wrk() { install_debian_package wrk wrk; }

# The console tests drive Debian's Chromium with playwright-core, which downloads no browser of
# its own. Without it test/console counts one failure.
install_chromium() { install_debian_package chromium chromium; }

tools=("$@")
[[ ${#tools[@]} -gt 0 ]] || tools=(kustomize validator wrk chromium)
for tool in "${tools[@]}"; do
  case "$tool" in
    kustomize) install_kustomize ;;
    validator) install_validator ;;
    wrk) install_wrk ;;
    chromium) install_chromium ;;
    *) log "unknown tool '$tool' (kustomize, validator, wrk or chromium)"; exit 2 ;;
  esac
done
log "tools ready: ${tools[*]}"
