#!/usr/bin/env bash
# Set up everything forecourt needs on a Debian machine: system packages (as root,
# with apt-get, only those missing), a virtual environment in .venv and the pinned
# Python packages (constraints.txt). Safe to run again: it skips what is done.
set -euo pipefail
cd "$(dirname "$0")/.."

# Debian packages: Python with venv and headers, a C compiler and the PC/SC headers
# (pyscard builds from source), pkg-config; and the software peers the tests start
# themselves: pcscd with the vpcd virtual reader (smart cards), mosquitto (sync),
# nats-server (the second broker: sync tests over its MQTT 3.1.1 listener), openssl (test certificates for MQTT over TLS), dosfstools, exfatprogs and exfat-fuse
# (the "USB stick" images the flash-drive tests loop-mount: FAT where the kernel has
# it, else exFAT through FUSE). For the head office: postgresql (every office test runs
# on SQLite and on the local PostgreSQL server), chromium (the console's browser tests
# drive Debian's build through Playwright; Playwright's own browsers are never
# downloaded), chromium-driver (the same browser for Selenium's chromedriver, should a
# test need WebDriver) and gettext (xgettext and msgfmt: Django's makemessages and
# compilemessages for the console's translations; the compiled .mo files are committed,
# so running the office does not need it).
APT_PACKAGES=(python3 python3-venv python3-dev gcc pkg-config libpcsclite-dev
              pcscd vsmartcard-vpcd mosquitto nats-server openssl dosfstools exfatprogs exfat-fuse
              postgresql chromium chromium-driver gettext)

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

# PostgreSQL must be running for the office tests: start the newest installed version's
# "main" cluster when it is stopped (these machines have no systemd, hence
# --skip-systemctl-redirect), create that cluster when there is none, and make sure the
# user running the tests has a superuser role (the tests create and drop databases).
# FORECOURT_NO_PG=1 skips this (and lets the office tests skip PostgreSQL).
if [ "${FORECOURT_NO_PG:-}" != 1 ] && command -v pg_ctlcluster >/dev/null; then
    pg_version=$(ls /usr/lib/postgresql 2>/dev/null | sort -V | tail -n 1)
    if [ -d /etc/postgresql ] && [ -n "$(ls /etc/postgresql)" ]; then
        pg_version=$(ls /etc/postgresql | sort -V | tail -n 1)
    fi
    pg_me=$(id -un)
    if [ -z "$pg_version" ]; then
        echo "setup: PostgreSQL's server is not installed (no /usr/lib/postgresql/VERSION)" >&2
        exit 1
    elif [ "$(id -u)" -ne 0 ]; then
        pg_isready -q || echo "setup: PostgreSQL is not running; as root:" \
            "pg_ctlcluster --skip-systemctl-redirect $pg_version main start" >&2
    else
        if [ ! -f "/etc/postgresql/$pg_version/main/postgresql.conf" ]; then
            echo "setup: creating PostgreSQL $pg_version cluster main"
            pg_createcluster "$pg_version" main >/dev/null
        fi
        # status: 0 running, 3 stopped (4 would be "no such cluster", made just above).
        if ! pg_ctlcluster "$pg_version" main status >/dev/null 2>&1; then
            echo "setup: starting PostgreSQL $pg_version cluster main"
            pg_ctlcluster --skip-systemctl-redirect "$pg_version" main start
        fi
        for _ in $(seq 60); do
            pg_isready -q && break
            sleep 0.5
        done
        if ! pg_isready -q; then
            pg_isready >&2 || true
            echo "setup: PostgreSQL $pg_version main did not come up; see" \
                "/var/log/postgresql/postgresql-$pg_version-main.log" >&2
            exit 1
        fi
        if ! psql -d postgres -Atqc 'select 1' >/dev/null 2>&1 \
            && [ -z "$(runuser -u postgres -- psql -Atqc \
                        "select 1 from pg_roles where rolname = '$pg_me'")" ]; then
            echo "setup: creating PostgreSQL superuser role $pg_me"
            runuser -u postgres -- createuser -s "$pg_me"
        fi
    fi
    if pg_isready -q && ! psql -d postgres -Atqc 'select 1' >/dev/null 2>&1; then
        echo "setup: PostgreSQL refuses user $pg_me:" \
            "$(psql -d postgres -Atqc 'select 1' 2>&1 | head -n 1)" >&2
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
                  -e ".[test,dev,office]"; } > "$log" 2>&1; then
        tail -n 40 "$log" >&2
        echo "setup: pip install failed; the whole log is in $log" >&2
        exit 1
    fi
    echo "$want" > "$stamp"
fi
