#!/usr/bin/env bash
# Installs what the browser tests drive: Debian's chromium and chromium-driver (headless, with
# Selenium from the tests' venv). Nothing downloads a browser of its own. Idempotent; needs root
# (CI runs as root) the first time. Prints the chromium path.
set -euo pipefail
if [ ! -x /usr/bin/chromium ] || [ ! -x /usr/bin/chromedriver ]; then
  if [ "$(id -u)" != 0 ]; then
    echo "setup-browser.sh: chromium and chromium-driver are missing; install them as root (apt-get install chromium chromium-driver)" >&2
    exit 1
  fi
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q >&2
  apt-get install -y -q chromium chromium-driver >&2
fi
echo /usr/bin/chromium
