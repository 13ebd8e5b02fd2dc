#!/usr/bin/env bash
# Installs the QuickFIX Python binding, the third-party FIX engine the FIX
# tests drive the venue with, and extracts its FIX44.xml data dictionary
# (the wheel does not ship it; the source distribution does).
#
# The binding is a C++ library compiled by pip: several minutes on 2 cores.
# The built wheel is kept in a cache directory, which can be deleted at any
# time: the next run builds it again.
set -euo pipefail
VERSION=1.16.0
CACHE="${VENUE_QUICKFIX_CACHE:-$HOME/.cache/venue-quickfix}"
mkdir -p "$CACHE"
if ! ls "$CACHE"/quickfix-"$VERSION"-*.whl >/dev/null 2>&1; then
  echo "building the quickfix $VERSION wheel (several minutes)..."
  python3 -m pip wheel "quickfix==$VERSION" --no-deps -w "$CACHE"
fi
python3 -m pip install --quiet --no-index --find-links "$CACHE" "quickfix==$VERSION"
if [ ! -f "$CACHE/FIX44.xml" ]; then
  python3 -m pip download --quiet "quickfix==$VERSION" --no-deps --no-binary :all: -d "$CACHE/sdist"
  tar -xzf "$CACHE/sdist/quickfix-$VERSION.tar.gz" -C "$CACHE/sdist" "quickfix-$VERSION/spec/FIX44.xml"
  cp "$CACHE/sdist/quickfix-$VERSION/spec/FIX44.xml" "$CACHE/FIX44.xml"
fi
python3 -c 'import quickfix' && echo "quickfix $VERSION ready; dictionary $CACHE/FIX44.xml"
