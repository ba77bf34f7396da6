#!/usr/bin/env bash
# ApplicationStart: start the server (systemd unit, or a background process with a pid file).
set -euo pipefail
# shellcheck source=scripts/common.sh
. "$(dirname "$0")/common.sh"
app_settings

if use_systemd; then
    unit_installed || die "systemd unit $APP_UNIT is not installed (AfterInstall installs it)"
    log "restarting systemd unit $APP_UNIT"
    started=true
    systemctl restart "$APP_UNIT.service" || started=false
    if "$started"; then
        sleep "$APP_START_GRACE"
    fi
    if ! "$started" || ! systemctl is-active --quiet "$APP_UNIT.service"; then
        systemctl status --no-pager "$APP_UNIT.service" >&2 || true
        journalctl --no-pager -n 30 -u "$APP_UNIT.service" >&2 || true
        die "systemd unit $APP_UNIT is not active"
    fi
    log "systemd unit $APP_UNIT is active"
else
    start_background
fi
