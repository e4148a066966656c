#!/bin/sh
# JavaScript the browser tests inject into pages, from the npm registry, pinned,
# into .vendor/ (not committed). Nothing here is ever served by the book.
# - axe-core: the accessibility checker run on every page by tests/test_render_browser.py.
# Quiet and quick when it is already there.
set -e
AXE_VERSION=4.14.1
DIR=.vendor/npm
if [ -f "$DIR/node_modules/axe-core/axe.min.js" ] && grep -q "\"version\": \"$AXE_VERSION\"" "$DIR/node_modules/axe-core/package.json"; then
  exit 0
fi
if ! command -v npm >/dev/null 2>&1; then
  echo "npm is missing: install Debian's package 'npm' (as root: apt-get install npm), then run 'make setup' again" >&2
  exit 1
fi
echo "installing axe-core $AXE_VERSION (npm) into $DIR"
mkdir -p "$DIR"
npm install --silent --no-audit --no-fund --no-save --prefix "$DIR" "axe-core@$AXE_VERSION"
