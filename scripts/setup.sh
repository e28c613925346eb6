#!/usr/bin/env bash
# Set up everything forecourt needs on a Debian machine: system packages (as root,
# with apt-get, only those missing), a virtual environment in .venv and the pinned
# Python packages (constraints.txt). Safe to run again: it skips what is done.
set -euo pipefail
cd "$(dirname "$0")/.."

# Debian packages: Python with venv and headers, a C compiler and the PC/SC headers
# (pyscard builds from source), pkg-config; and the software peers the tests start
# themselves: pcscd with the vpcd virtual reader (smart cards), mosquitto (sync),
# openssl (test certificates for MQTT over TLS), dosfstools, exfatprogs and exfat-fuse
# (the "USB stick" images the flash-drive tests loop-mount: FAT where the kernel has
# it, else exFAT through FUSE).
APT_PACKAGES=(python3 python3-venv python3-dev gcc pkg-config libpcsclite-dev
              pcscd vsmartcard-vpcd mosquitto openssl dosfstools exfatprogs exfat-fuse)

missing=()
for pkg in "${APT_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" \
        || missing+=("$pkg")
done
# A Python 3.11+ that is already on PATH (pyenv, a newer Debian) covers python3*.
if command -v python3 >/dev/null && python3 -c 'import sys, venv; assert sys.version_info >= (3, 11)' 2>/dev/null \
    && [ -f "$(python3 -c 'import sysconfig; print(sysconfig.get_paths()["include"])')/Python.h" ]; then
    filtered=()
    for pkg in "${missing[@]}"; do
        case "$pkg" in python3|python3-venv|python3-dev) ;; *) filtered+=("$pkg") ;; esac
    done
    missing=("${filtered[@]+"${filtered[@]}"}")
fi
if [ "${#missing[@]}" -gt 0 ]; then
    if [ "$(id -u)" -eq 0 ]; then
        echo "setup: installing Debian packages: ${missing[*]}"
        export DEBIAN_FRONTEND=noninteractive
        apt-get update -qq
        apt-get install -y -qq "${missing[@]}" >/dev/null
    else
        echo "setup: please install these Debian packages first: sudo apt-get install ${missing[*]}" >&2
        exit 1
    fi
fi

PY=${PYTHON:-python3}
if ! "$PY" -c 'import sys; assert sys.version_info >= (3, 11)' 2>/dev/null; then
    echo "setup: forecourt needs Python 3.11 or newer; $PY is $("$PY" --version 2>&1)" >&2
    exit 1
fi
if [ ! -x .venv/bin/python ]; then
    echo "setup: creating .venv"
    "$PY" -m venv .venv
fi
# Reinstall only when the project's requirements changed.
stamp=.venv/.forecourt-installed
want=$(cat pyproject.toml constraints.txt | sha256sum | cut -d' ' -f1)
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
    echo "setup: installing Python packages (pinned by constraints.txt)"
    log=.venv/pip-install.log
    if ! { .venv/bin/python -m pip install --disable-pip-version-check --upgrade "pip>=23.2" \
           && .venv/bin/python -m pip install --disable-pip-version-check -c constraints.txt \
                  -e ".[test,dev]"; } > "$log" 2>&1; then
        tail -n 40 "$log" >&2
        echo "setup: pip install failed; the whole log is in $log" >&2
        exit 1
    fi
    echo "$want" > "$stamp"
fi
