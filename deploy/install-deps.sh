#!/usr/bin/env bash
# Installs what recoveryd needs to build and test and that a fresh Debian
# machine may lack: libpq's headers (the build links libpq), the PostgreSQL
# server programs (initdb, pg_ctl: tests start throwaway clusters of their own)
# and pg_auto_failover (the failover test runs a monitor and two nodes); the
# openssl command (TLS tests make a throwaway CA) and Python's cryptography
# package (the docs' verifier checks signed heads with it, and a test runs it);
# libfaketime (the scripted-week test moves the daemon's clock through a week);
# curl (the metrics test scrapes /metrics as Prometheus would); Prometheus's
# promtool (a test checks deploy/prometheus with it); Chromium (a test renders
# `recoveryctl report`'s page headless and checks the picture) and chromedriver
# (a test drives examples/frontline in it); Python's pip, then the Python
# packages below (they need pip, so they go after the system packages too).
set -euo pipefail

# Python's packages for the Python client and its tests (clients/python), the
# OpenAPI document's validator, and the browser test of examples/frontline.
pip_install() {
    python3 -m pip install -q "$@" 2>/dev/null || python3 -m pip install -q --break-system-packages "$@"
}
install_python_packages() {
    command -v python3 >/dev/null 2>&1 && python3 -m pip --version >/dev/null 2>&1 || return 0
    python_missing=()
    for module in cryptography:cryptography pytest:pytest yaml:pyyaml openapi_spec_validator:openapi-spec-validator \
        openapi_schema_validator:openapi-schema-validator selenium:selenium pandas:pandas; do
        python3 -c "import ${module%%:*}" 2>/dev/null || python_missing+=("${module#*:}")
    done
    if [ ${#python_missing[@]} -gt 0 ]; then
        echo "install-deps: installing Python's ${python_missing[*]}"
        pip_install "${python_missing[@]}" || true
    fi
    # The client itself, as its README says to.
    python3 -c "import recoveryd" 2>/dev/null || pip_install "$(dirname "$0")/../clients/python" || true
}

missing=()
command -v openssl >/dev/null 2>&1 || missing+=(openssl)
ls /usr/lib/*/faketime/libfaketime.so.1 >/dev/null 2>&1 || missing+=(libfaketime)
command -v curl >/dev/null 2>&1 || missing+=(curl)
command -v valgrind >/dev/null 2>&1 || missing+=(valgrind)  # recovery-bench: instructions per event (callgrind)
command -v promtool >/dev/null 2>&1 || missing+=(prometheus)
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
command -v chromedriver >/dev/null 2>&1 || missing+=(chromium-driver)
if ! command -v python3 >/dev/null 2>&1; then
    missing+=(python3 python3-pip python3-cryptography)
elif ! python3 -m pip --version >/dev/null 2>&1; then
    missing+=(python3-pip)
elif ! python3 -c "import cryptography" 2>/dev/null; then
    missing+=(python3-cryptography)
fi
pkg-config --exists libpq 2>/dev/null || missing+=(libpq-dev)
if ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 && ! command -v initdb >/dev/null 2>&1; then
    missing+=(postgresql)
fi
command -v pkg-config >/dev/null 2>&1 || missing+=(pkg-config)
if ! command -v pg_autoctl >/dev/null 2>&1; then
    missing+=(pg-auto-failover-cli)
    # The extension for the PostgreSQL major version that is (or will be) installed.
    major=$(ls /usr/lib/postgresql 2>/dev/null | sort -n | tail -1)
    missing+=("postgresql-${major:-15}-auto-failover")
fi

if [ ${#missing[@]} -eq 0 ]; then
    echo "install-deps: libpq-dev, postgresql, pg_auto_failover, openssl, libfaketime, curl, promtool, chromium and chromedriver are present"
    install_python_packages
    exit 0
fi

echo "install-deps: installing ${missing[*]}"
sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -q
$sudo apt-get install -y -q --no-install-recommends "${missing[@]}"
install_python_packages
