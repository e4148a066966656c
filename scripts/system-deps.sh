#!/bin/sh
# System packages the book needs beside its Python environments: Debian's
# headless Chromium (browser tests, PDF books, slides), poppler-utils (the PDF
# tests read PDFs with pdftotext), fonts-lmodern (Latin Modern Math, the PDF's
# math font) and nodejs (npm vendors Paged.js and reveal.js, scripts/vendor-js.sh).
# Quiet and quick when they are already there.
set -e
missing=""
command -v chromium >/dev/null 2>&1 || missing="$missing chromium chromium-driver"
command -v pdftotext >/dev/null 2>&1 || missing="$missing poppler-utils"
command -v npm >/dev/null 2>&1 || missing="$missing nodejs"
[ -e /usr/share/texmf/fonts/opentype/public/lm-math/latinmodern-math.otf ] || missing="$missing fonts-lmodern"
[ -z "$missing" ] && exit 0
if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
  echo "missing system packages: install Debian's$missing (as root: apt-get install$missing), then run 'make setup' again" >&2
  exit 1
fi
echo "installing Debian packages:$missing"
apt-get update -qq
# shellcheck disable=SC2086
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $missing >/dev/null
