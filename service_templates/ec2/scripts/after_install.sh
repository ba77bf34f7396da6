#!/usr/bin/env bash
# AfterInstall: runtime dependencies, bytecode, and the systemd unit (when systemd runs the host).
set -euo pipefail
# shellcheck source=scripts/common.sh
. "$(dirname "$0")/common.sh"
app_settings

[ -f "$APP_ROOT/app/server.py" ] || die "$APP_ROOT/app/server.py is missing: was the revision installed?"
python="$(command -v "$APP_PYTHON")" || die "'$APP_PYTHON' not found"

# A venv only when requirements.txt lists something (the template needs none: stdlib only).
# pip runs on the instance, so it needs a package index it can reach (see README).
if [ -f "$APP_ROOT/requirements.txt" ] && grep -Eq '^[[:space:]]*[^#[:space:]]' "$APP_ROOT/requirements.txt"; then
    log "installing requirements.txt into $APP_ROOT/.venv"
    rm -rf "$APP_ROOT/.venv"
    "$python" -m venv "$APP_ROOT/.venv"
    "$APP_ROOT/.venv/bin/python" -m pip install --disable-pip-version-check --no-input -r "$APP_ROOT/requirements.txt"
    python="$APP_ROOT/.venv/bin/python"
else
    rm -rf "$APP_ROOT/.venv"
fi

# Compile now, as root: fails the deployment on syntax this Python lacks, and the
# service's user may not write bytecode next to the code.
"$python" -m compileall -q "$APP_ROOT/app" ||
    die "the app does not compile with $("$python" -V 2>&1)"

mkdir -p "$APP_RUN_DIR"
if use_systemd; then
    unit_file="/etc/systemd/system/$APP_UNIT.service"
    render_unit "$APP_ROOT/deploy/app.service" "$unit_file" "$python"
    systemctl daemon-reload
    systemctl enable "$APP_UNIT.service"
    log "installed and enabled $unit_file"
else
    log "no systemd (or not root): ApplicationStart runs the server in the background"
fi
