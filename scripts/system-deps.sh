#!/bin/sh
# System packages the book needs beside its Python environments: Debian's
# headless Chromium, which the browser tests drive through Playwright.
# Quiet and quick when they are already there.
set -e
command -v chromium >/dev/null 2>&1 && exit 0
if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
  echo "chromium is missing: install Debian's packages 'chromium' and 'chromium-driver' (as root: apt-get install chromium chromium-driver), then run 'make setup' again" >&2
  exit 1
fi
echo "installing chromium (Debian packages chromium, chromium-driver)"
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >/dev/null
