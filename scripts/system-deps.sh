#!/bin/sh
# System packages the book needs beside its Python environments:
# - Debian's headless Chromium, which the browser tests drive through Playwright;
# - Debian's fonts-lmodern for Latin Modern Math, the OpenType math font the
#   HTML book serves from its own _static/fonts (MathML needs a font with a
#   MATH table to stretch radicals and brackets). The font file is pinned by
#   its SHA-256: it has not changed since 2014, whatever the Debian release.
# Quiet and quick when they are already there.
set -e
MATH_FONT=/usr/share/texmf/fonts/opentype/public/lm-math/latinmodern-math.otf
MATH_FONT_SHA256=6075562b771f8b82f0c179e363389684f2dd09de30038269e2628e504bd7be0f

missing=""
command -v chromium >/dev/null 2>&1 || missing="$missing chromium chromium-driver"
[ -f "$MATH_FONT" ] || missing="$missing fonts-lmodern"
if [ -n "$missing" ]; then
  if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
    echo "missing Debian packages:$missing (as root: apt-get install$missing), then run 'make setup' again" >&2
    exit 1
  fi
  echo "installing Debian packages:$missing"
  apt-get update -qq
  # shellcheck disable=SC2086
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $missing >/dev/null
fi
echo "$MATH_FONT_SHA256  $MATH_FONT" | sha256sum -c --quiet - || {
  echo "$MATH_FONT is not the pinned Latin Modern Math (sha256 $MATH_FONT_SHA256)" >&2
  exit 1
}
