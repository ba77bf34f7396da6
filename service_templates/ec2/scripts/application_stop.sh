#!/usr/bin/env bash
# ApplicationStop: stop the running server. CodeDeploy runs this hook from the
# previously deployed revision; nothing running (first deployment) is fine.
set -euo pipefail
# shellcheck source=scripts/common.sh
. "$(dirname "$0")/common.sh"
app_settings

if use_systemd && unit_installed; then
    log "stopping systemd unit $APP_UNIT"
    systemctl stop "$APP_UNIT.service" || die "systemctl stop $APP_UNIT failed"
fi
# Also a server started without systemd (pid file), if any.
stop_background
