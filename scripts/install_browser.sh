#!/usr/bin/env bash
# Install Debian's headless-capable Chromium for the browser test of the web page
# (tests/serving/test_browser.py). It is idempotent: nothing happens when /usr/bin/chromium exists.
# Needs root (as in CI); playwright drives this system browser, so `playwright install` is never run.
set -euo pipefail

if [ -x /usr/bin/chromium ]; then
    echo "chromium already installed: $(/usr/bin/chromium --version 2>/dev/null || echo /usr/bin/chromium)"
    exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
    SUDO=sudo
else
    SUDO=
fi

export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -q
$SUDO apt-get install -y -q --no-install-recommends chromium fonts-dejavu-core
echo "installed: $(/usr/bin/chromium --version 2>/dev/null || echo /usr/bin/chromium)"
