# Sourced by .ci/run: Debian's chromium and chromedriver for the server's browser test
# (crates/apps/tests/server_browser.rs), installed when missing; exports their paths.
if ! command -v chromium >/dev/null 2>&1 || ! command -v chromedriver >/dev/null 2>&1; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium chromium-driver >/dev/null
fi
export LOAM_CHROMIUM="$(command -v chromium)"
export LOAM_CHROMEDRIVER="$(command -v chromedriver)"
