#!/usr/bin/env bash
# BeforeInstall: check the host can run the app and prepare its directories.
set -euo pipefail
# shellcheck source=scripts/common.sh
. "$(dirname "$0")/common.sh"
app_settings

log "deployment ${DEPLOYMENT_ID:-local} (${APPLICATION_NAME:-?}/${DEPLOYMENT_GROUP_NAME:-?}): installing into $APP_ROOT"
python="$(command -v "$APP_PYTHON")" || die "'$APP_PYTHON' not found: install Python 3 on the instance (user data)"
"$python" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 9) else 1)' ||
    die "the app needs Python 3.9 or later, $python is $("$python" -V 2>&1)"
mkdir -p "$APP_ROOT" "$APP_RUN_DIR"
# The port is the app's from now on (the first deployment on an instance; a no-op afterwards).
stop_placeholder
# Bytecode compiled for the previous revision is no part of the new one.
if [ -d "$APP_ROOT/app" ]; then
    find "$APP_ROOT/app" -type d -name __pycache__ -prune -exec rm -rf {} +
fi
log "ready: $("$python" -V 2>&1), port $APP_PORT"
