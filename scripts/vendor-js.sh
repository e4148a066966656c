#!/bin/sh
# The browser libraries the PDF books and slide decks use, pinned in
# scripts/js/package-lock.json: Paged.js (pages, page numbers, running heads)
# and reveal.js (slides). npm installs them into scripts/js/node_modules
# (git-ignored); the built books load them from there or copy them, and never
# fetch anything at view time. Quick when the lock file has not changed.
set -e
cd "$(dirname "$0")/js"
if [ -f node_modules/.package-lock.json ] && cmp -s package-lock.json node_modules/.tabbook-lock.json; then
  exit 0
fi
echo "vendoring Paged.js and reveal.js (npm ci in scripts/js)"
npm ci --ignore-scripts --no-audit --no-fund --loglevel=error
cp package-lock.json node_modules/.tabbook-lock.json
