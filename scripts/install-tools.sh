#!/usr/bin/env bash
# Installs the pinned tools that the Kubernetes manifest checks (test/k8s)
# use, into .tools/ at the repository root. Idempotent: a tool already
# present in the pinned version is left alone, so repeated runs are fast.
#
#   .tools/bin/kustomize   renders k8s/base and k8s/overlays/*   (needs Go)
#   .tools/venv            kubernetes-validate: upstream Kubernetes JSON
#                          schemas, strict mode                (needs Python 3)
#
# Usage: scripts/install-tools.sh
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

install_kustomize
install_validator
log "tools ready in .tools/"
