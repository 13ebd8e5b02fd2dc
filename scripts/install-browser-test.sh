#!/usr/bin/env bash
# Installs what the web page test (crates/venue/tests/web.rs) drives the
# venue's page with: Debian's chromium (headless) and Playwright's
# `playwright-core` (the library only; it downloads no browser).
#
# chromium comes from apt, only when /usr/bin/chromium is missing (the
# download is large; it takes a while). playwright-core is installed with
# `npm ci` from the pinned package.json and package-lock.json in
# crates/venue/tests/web/ into a cache directory, reused while its version
# matches; delete the directory at any time and the next run installs it
# again. Building the venue needs neither: only this test does.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
SPEC="$ROOT/crates/venue/tests/web"
CACHE="${VENUE_PLAYWRIGHT_CACHE:-$HOME/.cache/venue-playwright}"

if [ ! -x /usr/bin/chromium ]; then
  echo "installing Debian's chromium (a large download)..."
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends chromium
fi
/usr/bin/chromium --version

command -v node >/dev/null || { echo "node (20 or newer) is required: apt-get install nodejs npm" >&2; exit 1; }
VERSION="$(node -p "require('$SPEC/package.json').dependencies['playwright-core']")"
INSTALLED="$(node -p "try { require('$CACHE/node_modules/playwright-core/package.json').version } catch { '' }")"
if [ "$INSTALLED" != "$VERSION" ] || ! cmp -s "$SPEC/package-lock.json" "$CACHE/package-lock.json"; then
  echo "installing playwright-core $VERSION into $CACHE..."
  mkdir -p "$CACHE"
  cp "$SPEC/package.json" "$SPEC/package-lock.json" "$CACHE/"
  # --ignore-scripts: playwright-core has no install script, and nothing
  # here should fetch a browser.
  (cd "$CACHE" && npm ci --ignore-scripts --no-audit --no-fund)
fi
echo "playwright-core $VERSION ready in $CACHE; chromium at /usr/bin/chromium"
