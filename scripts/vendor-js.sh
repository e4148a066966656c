#!/bin/sh
# JavaScript from the npm registry, pinned, never fetched at view time:
# 1. The browser libraries the PDF books and slide decks use, pinned in
#    scripts/js/package-lock.json: Paged.js (pages, page numbers, running heads)
#    and reveal.js (slides). npm installs them into scripts/js/node_modules
#    (git-ignored); the built books load them from there or copy them.
# 2. axe-core, the accessibility checker the browser tests inject into every
#    page, into .vendor/npm (not committed). Nothing of it is served by the book.
# Quiet and quick when both are already there.
set -e
cd "$(dirname "$0")/.."
if ! command -v npm >/dev/null 2>&1; then
  echo "npm is missing: install Debian's package 'npm' (as root: apt-get install npm), then run 'make setup' again" >&2
  exit 1
fi
if ! { [ -f scripts/js/node_modules/.package-lock.json ] && cmp -s scripts/js/package-lock.json scripts/js/node_modules/.tabbook-lock.json; }; then
  echo "vendoring Paged.js and reveal.js (npm ci in scripts/js)"
  (cd scripts/js && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error && cp package-lock.json node_modules/.tabbook-lock.json)
fi
AXE_VERSION=4.14.1
DIR=.vendor/npm
if [ -f "$DIR/node_modules/axe-core/axe.min.js" ] && grep -q "\"version\": \"$AXE_VERSION\"" "$DIR/node_modules/axe-core/package.json"; then
  exit 0
fi
echo "installing axe-core $AXE_VERSION (npm) into $DIR"
mkdir -p "$DIR"
npm install --silent --no-audit --no-fund --no-save --prefix "$DIR" "axe-core@$AXE_VERSION"
