# shellcheck shell=bash
# Settings and helpers shared by the CodeDeploy hook scripts. Sourced, not run.
#
# CodeDeploy runs the hooks as root from its copy of the revision; the same scripts
# also run anywhere else (a laptop, the unit tests) when these variables say where:
#
#   APP_ENV_FILE         KEY=VALUE file the instance's user data writes (PORT, SERVICE_NAME,
#                        ENVIRONMENT); read if present. Default /etc/app/environment
#   APP_ROOT             where the revision is installed (appspec.yml "destination"). Default /opt/app
#   APP_PORT             port to serve and check. Default: PORT from the env file, else 8080
#   APP_RUN_DIR          pid and log file of a background server. Default /run/app as root,
#                        else $APP_ROOT/run
#   APP_LOG_FILE         log of a background server. Default $APP_RUN_DIR/app.log
#   APP_PYTHON           interpreter. Default python3 (a venv in $APP_ROOT/.venv wins if present)
#   APP_SYSTEMD          auto (default): use systemd when it runs this host and we are root;
#                        0: never (always a background process with a pid file)
#   APP_UNIT             systemd unit name. Default app
#   APP_PLACEHOLDER_UNIT the unit the instance's user data starts to answer the health check until
#                        the first deployment. Default app-placeholder
#   APP_START_GRACE      seconds a fresh background server must stay up. Default 1
#   APP_STOP_TIMEOUT     seconds to wait after SIGTERM before SIGKILL. Default 20
#   APP_HEALTH_PATH      Default /health
#   APP_HEALTH_RETRIES   health checks before ValidateService gives up. Default 30
#   APP_HEALTH_INTERVAL  seconds between checks. Default 2
#   APP_HEALTH_TIMEOUT   seconds for one check. Default 2
#
# The environment file is read first and its lines are exported, so it may set these too.

log() {
    printf '%s %s: %s\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "${LIFECYCLE_EVENT:-${0##*/}}" "$*"
}

die() {
    log "ERROR: $*" >&2
    exit 1
}

# Export the KEY=VALUE lines of the environment file. Not sourced as shell code:
# comments, blank lines, "export " prefixes and surrounding quotes are handled.
load_env_file() {
    local file="$1" line key value
    if [ ! -f "$file" ]; then
        log "no environment file at $file: using defaults"
        return 0
    fi
    while IFS= read -r line || [ -n "$line" ]; do
        line="${line%$'\r'}"
        line="${line#"${line%%[![:space:]]*}"}"
        case "$line" in '' | '#'*) continue ;; esac
        line="${line#export }"
        key="${line%%=*}"
        value="${line#*=}"
        if [ "$key" = "$line" ] || ! [[ "$key" =~ ^[A-Za-z_][A-Za-z0-9_]*$ ]]; then
            log "ignoring malformed line in $file: $line"
            continue
        fi
        if [ "${#value}" -ge 2 ]; then
            case "$value" in
                \"*\" | \'*\') value="${value:1:${#value}-2}" ;;
            esac
        fi
        export "$key=$value"
    done <"$file"
}

is_number() {
    [[ "${1:-}" =~ ^[0-9]+([.][0-9]+)?$ ]]
}

app_settings() {
    APP_ENV_FILE="${APP_ENV_FILE:-/etc/app/environment}"
    load_env_file "$APP_ENV_FILE"
    APP_ROOT="${APP_ROOT:-/opt/app}"
    APP_PORT="${APP_PORT:-${PORT:-8080}}"
    if [ -z "${APP_RUN_DIR:-}" ]; then
        if [ "$(id -u)" = 0 ]; then APP_RUN_DIR=/run/app; else APP_RUN_DIR="$APP_ROOT/run"; fi
    fi
    APP_PID_FILE="$APP_RUN_DIR/app.pid"
    APP_LOG_FILE="${APP_LOG_FILE:-$APP_RUN_DIR/app.log}"
    APP_PYTHON="${APP_PYTHON:-python3}"
    APP_SYSTEMD="${APP_SYSTEMD:-auto}"
    APP_UNIT="${APP_UNIT:-app}"
    APP_PLACEHOLDER_UNIT="${APP_PLACEHOLDER_UNIT:-app-placeholder}"
    APP_PLACEHOLDER_PID_FILE="$APP_RUN_DIR/placeholder.pid"
    APP_START_GRACE="${APP_START_GRACE:-1}"
    APP_STOP_TIMEOUT="${APP_STOP_TIMEOUT:-20}"
    APP_HEALTH_PATH="${APP_HEALTH_PATH:-/health}"
    APP_HEALTH_RETRIES="${APP_HEALTH_RETRIES:-30}"
    APP_HEALTH_INTERVAL="${APP_HEALTH_INTERVAL:-2}"
    APP_HEALTH_TIMEOUT="${APP_HEALTH_TIMEOUT:-2}"

    [[ "$APP_PORT" =~ ^[0-9]+$ ]] && [ "$APP_PORT" -ge 1 ] && [ "$APP_PORT" -le 65535 ] ||
        die "port must be a number from 1 to 65535, got '$APP_PORT' (APP_PORT, or PORT in $APP_ENV_FILE)"
    [[ "$APP_HEALTH_RETRIES" =~ ^[0-9]+$ ]] && [ "$APP_HEALTH_RETRIES" -ge 1 ] ||
        die "APP_HEALTH_RETRIES must be a positive integer, got '$APP_HEALTH_RETRIES'"
    local name
    for name in APP_START_GRACE APP_STOP_TIMEOUT APP_HEALTH_INTERVAL APP_HEALTH_TIMEOUT; do
        is_number "${!name}" || die "$name must be a number of seconds, got '${!name}'"
    done
    case "$APP_SYSTEMD" in
        auto | 0) ;;
        *) die "APP_SYSTEMD must be auto or 0, got '$APP_SYSTEMD'" ;;
    esac
}

# systemd manages the server only on a real host: systemd running, and we are root.
use_systemd() {
    [ "$APP_SYSTEMD" = auto ] && [ -d /run/systemd/system ] && [ "$(id -u)" = 0 ] &&
        command -v systemctl >/dev/null 2>&1
}

unit_installed() {
    [ -f "/etc/systemd/system/$APP_UNIT.service" ]
}

# The interpreter that runs the app: the revision's venv if AfterInstall made one.
app_python() {
    local venv_python="$APP_ROOT/.venv/bin/python"
    if [ -x "$venv_python" ]; then
        printf '%s\n' "$venv_python"
    else
        command -v "$APP_PYTHON" || die "'$APP_PYTHON' not found: install Python 3 on the instance (user data)"
    fi
}

# True if the pid is a live process (a zombie is not alive).
is_alive() {
    local pid="$1" state
    kill -0 "$pid" 2>/dev/null || return 1
    if [ -r "/proc/$pid/stat" ]; then
        state="$(sed -e 's/^.*) //' "/proc/$pid/stat" 2>/dev/null | cut -d' ' -f1)" || state=""
        [ "$state" != Z ] || return 1
    fi
    return 0
}

# Print the pid of the background server if it is running.
running_pid() {
    local pid
    [ -f "$APP_PID_FILE" ] || return 1
    pid="$(head -n1 "$APP_PID_FILE" 2>/dev/null)" || return 1
    [[ "$pid" =~ ^[0-9]+$ ]] || return 1
    is_alive "$pid" || return 1
    # A recycled pid belongs to another program: leave it alone.
    if [ -r "/proc/$pid/cmdline" ] && ! tr '\0' ' ' <"/proc/$pid/cmdline" | grep -q 'app/server\.py'; then
        return 1
    fi
    printf '%s\n' "$pid"
}

start_background() {
    local python pid waited=0 grace_ticks
    if pid="$(running_pid)"; then
        log "server already running (pid $pid): restarting it"
        stop_background
    fi
    python="$(app_python)"
    mkdir -p "$APP_RUN_DIR" "$(dirname "$APP_LOG_FILE")"
    log "starting $python $APP_ROOT/app/server.py --port $APP_PORT (log: $APP_LOG_FILE)"
    cd "$APP_ROOT"
    # Detached (own session) and with no inherited stdio: CodeDeploy waits for the hook's
    # output to close, so a server holding it would hang the hook until its timeout.
    if command -v setsid >/dev/null 2>&1; then
        PORT="$APP_PORT" setsid "$python" "$APP_ROOT/app/server.py" --port "$APP_PORT" \
            </dev/null >>"$APP_LOG_FILE" 2>&1 &
    else
        PORT="$APP_PORT" nohup "$python" "$APP_ROOT/app/server.py" --port "$APP_PORT" \
            </dev/null >>"$APP_LOG_FILE" 2>&1 &
    fi
    pid=$!
    printf '%s\n' "$pid" >"$APP_PID_FILE"
    # Fail here, with the log, if the server dies at once (port taken, bad code).
    grace_ticks="$(awk -v s="$APP_START_GRACE" 'BEGIN { printf "%d", s * 10 }')"
    while [ "$waited" -lt "$grace_ticks" ]; do
        if ! is_alive "$pid"; then
            rm -f "$APP_PID_FILE"
            tail -n 20 "$APP_LOG_FILE" >&2 || true
            die "the server exited right after starting (see the log above)"
        fi
        sleep 0.1
        waited=$((waited + 1))
    done
    log "server started (pid $pid)"
}

stop_background() {
    local pid waited=0 limit
    if ! pid="$(running_pid)"; then
        log "no background server running"
        rm -f "$APP_PID_FILE"
        return 0
    fi
    log "stopping server pid $pid"
    kill -TERM "$pid" 2>/dev/null || true
    limit="$(awk -v s="$APP_STOP_TIMEOUT" 'BEGIN { printf "%d", s * 10 }')"
    while is_alive "$pid"; do
        if [ "$waited" -ge "$limit" ]; then
            log "pid $pid still running after ${APP_STOP_TIMEOUT}s: killing it"
            kill -KILL "$pid" 2>/dev/null || true
            sleep 0.5
            break
        fi
        sleep 0.1
        waited=$((waited + 1))
    done
    if is_alive "$pid"; then
        die "could not stop pid $pid"
    fi
    rm -f "$APP_PID_FILE"
    log "server stopped"
}

# The instance's user data starts a placeholder on the app's port that answers the load
# balancer's health check until the first deployment (so new instances count as healthy and the
# rollback alarms stay quiet). The app takes the port from here on: the placeholder is stopped and
# disabled, so it does not come back at the next boot either.
stop_placeholder() {
    local pid waited=0
    if use_systemd; then
        [ -f "/etc/systemd/system/$APP_PLACEHOLDER_UNIT.service" ] || return 0
        log "stopping and disabling the health-check placeholder $APP_PLACEHOLDER_UNIT"
        systemctl disable --now "$APP_PLACEHOLDER_UNIT.service" >/dev/null 2>&1 ||
            die "systemctl disable --now $APP_PLACEHOLDER_UNIT failed"
        return 0
    fi
    # Without systemd (local runs, the template's tests): a placeholder started with a pid file.
    [ -f "$APP_PLACEHOLDER_PID_FILE" ] || return 0
    pid="$(head -n1 "$APP_PLACEHOLDER_PID_FILE" 2>/dev/null)" || pid=""
    if [[ "$pid" =~ ^[0-9]+$ ]] && is_alive "$pid"; then
        log "stopping the health-check placeholder (pid $pid)"
        kill -TERM "$pid" 2>/dev/null || true
        while is_alive "$pid" && [ "$waited" -lt 100 ]; do
            sleep 0.1
            waited=$((waited + 1))
        done
        is_alive "$pid" && kill -KILL "$pid" 2>/dev/null
    fi
    rm -f "$APP_PLACEHOLDER_PID_FILE"
}

# One health check: 0 if the URL answers HTTP 200.
check_health() {
    local url="$1" code
    if command -v curl >/dev/null 2>&1; then
        code="$(curl -sS -o /dev/null -w '%{http_code}' --max-time "$APP_HEALTH_TIMEOUT" "$url" 2>/dev/null)" || code=000
        [ "$code" = 200 ]
    else
        "$(app_python)" - "$url" "$APP_HEALTH_TIMEOUT" <<'PY' >/dev/null 2>&1
import sys
import urllib.request

with urllib.request.urlopen(sys.argv[1], timeout=float(sys.argv[2])) as response:
    sys.exit(0 if response.status == 200 else 1)
PY
    fi
}

# Write the systemd unit for this host from the revision's deploy/app.service template.
render_unit() {
    local template="$1" output="$2" python="$3" content
    [ -f "$template" ] || die "unit template $template missing"
    content="$(<"$template")"
    shopt -u patsub_replacement 2>/dev/null || true # bash 5.2: '&' in a replacement is literal
    content="${content//@APP_ROOT@/$APP_ROOT}"
    content="${content//@APP_PORT@/$APP_PORT}"
    content="${content//@APP_ENV_FILE@/$APP_ENV_FILE}"
    content="${content//@PYTHON@/$python}"
    content="${content//@SERVICE_NAME@/${SERVICE_NAME:-app}}"
    if printf '%s\n' "$content" | grep -Eq '@[A-Z_]+@'; then
        die "unknown @PLACEHOLDER@ left in $template: $(printf '%s\n' "$content" | grep -Eo '@[A-Z_]+@' | sort -u | tr '\n' ' ')"
    fi
    mkdir -p "$(dirname "$output")"
    printf '%s\n' "$content" >"$output.tmp"
    mv -f "$output.tmp" "$output"
}
