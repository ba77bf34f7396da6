#!/usr/bin/env bash
# ValidateService: the deployment succeeds only if the server answers its health check.
set -euo pipefail
# shellcheck source=scripts/common.sh
. "$(dirname "$0")/common.sh"
app_settings

url="http://127.0.0.1:$APP_PORT$APP_HEALTH_PATH"
attempt=1
while :; do
    if check_health "$url"; then
        log "healthy: $url answered 200 (attempt $attempt)"
        exit 0
    fi
    if [ "$attempt" -ge "$APP_HEALTH_RETRIES" ]; then
        break
    fi
    sleep "$APP_HEALTH_INTERVAL"
    attempt=$((attempt + 1))
done

if use_systemd && unit_installed; then
    systemctl status --no-pager "$APP_UNIT.service" >&2 || true
    journalctl --no-pager -n 30 -u "$APP_UNIT.service" >&2 || true
elif [ -f "$APP_LOG_FILE" ]; then
    tail -n 30 "$APP_LOG_FILE" >&2 || true
fi
die "unhealthy: $url did not answer 200 after $APP_HEALTH_RETRIES attempt(s)"
