#!/usr/bin/env bash
# Debian's headless Chromium, its WebDriver and the CJK fonts (without them Japanese renders as
# boxes in screenshots), for the console's browser tests and `make screenshots`. Installed from
# Debian's packages when missing; never a downloaded browser build.
set -euo pipefail

missing=()
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
command -v chromedriver >/dev/null 2>&1 || missing+=(chromium-driver)
[ -d /usr/share/fonts/opentype/noto ] || missing+=(fonts-noto-cjk)
if [ "${#missing[@]}" -eq 0 ]; then
    exit 0
fi
echo "installing ${missing[*]} (Debian packages)"
if [ "$(id -u)" -ne 0 ]; then
    SUDO=sudo
else
    SUDO=
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends chromium chromium-driver fonts-noto-cjk >/dev/null
chromium --version
