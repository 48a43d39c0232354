# shellcheck shell=bash
# Common start/stop/status for a single Elasticsearch or OpenSearch node from its integration-test zip
# on Maven Central. Sourced by tests/infra/elasticsearch and tests/infra/opensearch, which set:
#   _infra_svc       elasticsearch | opensearch (also the name of the run dir)
#   SN_PRODUCT       Elasticsearch | OpenSearch (for messages)
#   SN_COORDS        groupId:artifactId of the zip (version and :zip appended)
#   SN_VERSION       version
#   SN_PORT          HTTP port; SN_TRANSPORT_PORT transport port
#   SN_JAVA_MIN/MAX  acceptable Java feature versions
#   SN_ENV_PREFIX    ES | OPENSEARCH (for <P>_JAVA_HOME, <P>_PATH_CONF, <P>_JAVA_OPTS, <P>_TMPDIR)
#   SN_BIN           launcher name under bin/ (elasticsearch | opensearch)
#   SN_RESULT_VAR    ES_URL | OPENSEARCH_URL
#   SN_EXTRA_SETTINGS  array of extra "-E key=value" settings
#   SN_START_TIMEOUT seconds
#   SN_HEAP          JVM heap flags
# shellcheck source=lib.sh
source "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/lib.sh"

SN_HOME="$SPOOR_INFRA_CACHE/$_infra_svc-$SN_VERSION"
SN_RUN="$SPOOR_INFRA_RUN/$_infra_svc"
SN_PIDFILE="$SN_RUN/node.pid"
SN_STATE="$SN_RUN/instance" # "<version> <http port> <transport port>"
SN_LAUNCH_LOG="$SN_RUN/launcher.log"
# the server JVM's command line names this instance's temp dir (-Djava.io.tmpdir=<run>/tmp, from <P>_TMPDIR),
# which tells it apart from another instance of the same version started with another SPOOR_INFRA_RUN
SN_MARKER="java.io.tmpdir=$SN_RUN/tmp"

sn_usage() {
  sed -n '2,/^set -euo/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//'
}

sn_url() {
  local port
  port="$(cut -d' ' -f2 "$SN_STATE" 2>/dev/null || echo "$SN_PORT")"
  echo "$SN_RESULT_VAR=http://127.0.0.1:$port"
}

sn_fetch() {
  [[ -x "$SN_HOME/bin/$SN_BIN" && -f "$SN_HOME/.complete" ]] && return 0
  need_cmd unzip
  mkdir -p "$SPOOR_INFRA_CACHE"
  local tmp="$SN_HOME.tmp.$$" zip top
  rm -rf "$SN_HOME".tmp.* # left by an interrupted run (we hold the service's lock)
  tmp_path "$tmp"
  mkdir -p "$tmp"
  zip="$tmp/dist.zip"
  mvn_fetch_artifact "$SN_COORDS:$SN_VERSION:zip" "$zip"
  log "unpacking into $SN_HOME"
  unzip -q "$zip" -d "$tmp/x" || die "unzip of $SN_COORDS:$SN_VERSION:zip failed"
  top="$(find "$tmp/x" -mindepth 1 -maxdepth 1 -type d | head -n1)"
  [[ -x "$top/bin/$SN_BIN" ]] || die "the zip has no bin/$SN_BIN (unexpected layout: $(ls "$tmp/x"))"
  chmod -R a+rX "$top"
  rm -rf "$SN_HOME"
  mv "$top" "$SN_HOME"
  rm -rf "$tmp"
  touch "$SN_HOME/.complete"
}

sn_java_home() {
  local jh
  if jh="$(find_java "$SN_JAVA_MIN" "$SN_JAVA_MAX")"; then
    printf '%s' "$jh"
    return 0
  fi
  die "$SN_PRODUCT $SN_VERSION needs Java $SN_JAVA_MIN..$SN_JAVA_MAX and none was found \
(looked at SPOOR_JAVA_HOME_$SN_JAVA_MIN, JAVA_HOME, PATH, /usr/lib/jvm/*). ${SN_JAVA_HINT:-}"
}

sn_health() {
  curl -fsS -o /dev/null --max-time 10 \
    "http://127.0.0.1:$SN_PORT/_cluster/health?wait_for_status=yellow&timeout=5s"
}

sn_start() {
  take_lock "$_infra_svc"
  if pid_alive "$SN_PIDFILE" "$SN_MARKER"; then
    local running
    running="$(cat "$SN_STATE" 2>/dev/null || true)"
    if [[ "$running" != "$SN_VERSION $SN_PORT $SN_TRANSPORT_PORT" ]]; then
      log "note: already running as '$running' (version http-port transport-port), not '$SN_VERSION $SN_PORT $SN_TRANSPORT_PORT'; stop it first to change"
    else
      log "already running (pid $(pid_of "$SN_PIDFILE"))"
    fi
    # it may still be starting (e.g. an earlier start was interrupted)
    SN_PORT="$(cut -d' ' -f2 "$SN_STATE" 2>/dev/null || echo "$SN_PORT")"
    wait_until "$SN_START_TIMEOUT" "$(pid_of "$SN_PIDFILE")" "cluster health on 127.0.0.1:$SN_PORT" sn_health ||
      die_with_log "$SN_PRODUCT (pid $(pid_of "$SN_PIDFILE")) is running but not healthy" \
        "$SN_RUN/logs/spoor-test-$_infra_svc.log" 60
    sn_url
    return 0
  fi
  check_port_free "$SN_PORT" "HTTP port"
  check_port_free "$SN_TRANSPORT_PORT" "transport port"
  need_cmd curl
  local t0=$SECONDS jh user
  jh="$(sn_java_home)"
  sn_fetch
  user="$(service_user)"

  # a change of version means fresh data (test data only)
  if [[ -d "$SN_RUN/data" && "$(cut -d' ' -f1 "$SN_STATE" 2>/dev/null || true)" != "$SN_VERSION" ]]; then
    log "version changed since the data dir was made; wiping $SN_RUN/data"
    rm -rf "$SN_RUN/data"
  fi
  mkdir -p "$SN_RUN"/{data,logs,tmp}
  # config: the distribution's files, refreshed on every start, in a dir the service user owns
  rm -rf "$SN_RUN/config"
  cp -R "$SN_HOME/config" "$SN_RUN/config"
  # relative log/dump paths in jvm.options would land in the (read-only) distribution dir: make them absolute
  sed -i -e "s#file=logs/#file=$SN_RUN/logs/#; s#file=gc.log#file=$SN_RUN/logs/gc.log#" \
    -e "s#-Xloggc:logs/#-Xloggc:$SN_RUN/logs/#" \
    -e "s#ErrorFile=logs/#ErrorFile=$SN_RUN/logs/#; s#ErrorFile=hs_err#ErrorFile=$SN_RUN/logs/hs_err#" \
    -e "s#HeapDumpPath=data\$#HeapDumpPath=$SN_RUN/logs#" "$SN_RUN/config/jvm.options"
  mkdir -p "$SN_RUN/config/jvm.options.d"
  # shellcheck disable=SC2086
  printf '%s\n' $SN_HEAP >"$SN_RUN/config/jvm.options.d/spoor-heap.options"
  echo "$SN_VERSION $SN_PORT $SN_TRANSPORT_PORT" >"$SN_STATE"
  rm -f "$SN_PIDFILE"
  if [[ "$user" != "$(id -un)" ]]; then
    chown -R "$user:" "$SN_RUN"
    grant_traverse "$user" "$SN_HOME/bin/$SN_BIN" "$SN_RUN/data" "$jh/bin/java"
  fi

  local -a settings=(
    -E "cluster.name=spoor-test-$_infra_svc"
    -E "node.name=spoor-test-1"
    -E "discovery.type=single-node"
    -E "network.host=127.0.0.1"
    -E "http.port=$SN_PORT"
    -E "transport.port=$SN_TRANSPORT_PORT"
    -E "path.data=$SN_RUN/data"
    -E "path.logs=$SN_RUN/logs"
    # tests must not go read-only because the disk is fuller than the default watermarks
    -E "cluster.routing.allocation.disk.threshold_enabled=false"
    # let tests delete with wildcards
    -E "action.destructive_requires_name=false"
  )
  settings+=("${SN_EXTRA_SETTINGS[@]}")

  log "starting $SN_PRODUCT $SN_VERSION on 127.0.0.1:$SN_PORT (transport :$SN_TRANSPORT_PORT) as user $user, \
java $(java_major "$jh") ($jh), logs in $SN_RUN/logs"
  local p="$SN_ENV_PREFIX"
  : >"$SN_LAUNCH_LOG"
  [[ "$user" != "$(id -un)" ]] && chown "$user:" "$SN_LAUNCH_LOG"
  # -d: daemonize, -p: pid file. The launcher returns once the node has started (or failed).
  # fd 8 (our lock) is closed so the server does not hold it.
  local rc=0
  (
    cd "$SN_RUN"
    run_as "$user" env \
      "${p}_JAVA_HOME=$jh" "${p}_PATH_CONF=$SN_RUN/config" "${p}_TMPDIR=$SN_RUN/tmp" \
      "${p}_JAVA_OPTS=${SN_JAVA_OPTS:-}" JAVA_HOME="$jh" \
      "$SN_HOME/bin/$SN_BIN" -d -p "$SN_PIDFILE" "${settings[@]}"
  ) >>"$SN_LAUNCH_LOG" 2>&1 </dev/null 8>&- &
  local launcher=$!
  # the launcher exits once the node is up (ES 8+/OpenSearch) or on failure; give it the full timeout.
  local i
  for ((i = 0; i < SN_START_TIMEOUT; i++)); do
    kill -0 "$launcher" 2>/dev/null || break
    sleep 1
  done
  if kill -0 "$launcher" 2>/dev/null; then
    kill "$launcher" 2>/dev/null || true
    rc=1
  else
    wait "$launcher" || rc=$?
  fi
  ((rc == 0)) || sn_fail "the launcher failed (exit $rc)"
  # ES 8+ writes the pid file before its launcher returns; OpenSearch's -d returns at once and the server
  # writes it a little later. Wait for it while a server JVM of this home is alive.
  while [[ ! -s "$SN_PIDFILE" ]] && ((SECONDS - t0 < SN_START_TIMEOUT)); do
    pgrep -f -- "$SN_MARKER" >/dev/null || sn_fail "the server process exited before writing its pid file"
    sleep 1
  done
  local pid=""
  [[ -s "$SN_PIDFILE" ]] && pid="$(pid_of "$SN_PIDFILE")"
  [[ -n "$pid" ]] || sn_fail "no pid file $SN_PIDFILE after ${SN_START_TIMEOUT}s"
  local remaining=$((SN_START_TIMEOUT - (SECONDS - t0)))
  ((remaining < 30)) && remaining=30
  rc=0
  wait_until "$remaining" "$pid" "GET /_cluster/health?wait_for_status=yellow on 127.0.0.1:$SN_PORT" sn_health || rc=$?
  if ((rc != 0)); then
    sn_fail "the node did not become healthy (yellow) in time"
  fi
  log "ready after $((SECONDS - t0))s (pid $pid)"
  sn_url
}

sn_fail() {
  local msg="$1" server_log="$SN_RUN/logs/spoor-test-$_infra_svc.log"
  if [[ -s "$SN_LAUNCH_LOG" ]]; then
    printf -- '----- %s -----\n' "$SN_LAUNCH_LOG" >&2
    tail -n 40 "$SN_LAUNCH_LOG" >&2
  fi
  if ! stop_pid "$SN_PIDFILE" "$SN_MARKER" 20 >/dev/null 2>&1; then
    # no pid file yet: end the server JVM of this very instance, if one was left behind
    local orphan
    for orphan in $(pgrep -f -- "$SN_MARKER" || true); do kill -KILL "$orphan" 2>/dev/null || true; done
  fi
  die_with_log "$SN_PRODUCT $SN_VERSION did not start: $msg" "$server_log" 60
}

sn_stop() {
  take_lock "$_infra_svc"
  if stop_pid "$SN_PIDFILE" "$SN_MARKER" 60; then
    log "stopped"
  else
    log "not running"
  fi
}

sn_status() {
  if pid_alive "$SN_PIDFILE" "$SN_MARKER"; then
    log "running (pid $(pid_of "$SN_PIDFILE"), version/ports: $(cat "$SN_STATE" 2>/dev/null))"
    sn_url
  else
    log "not running"
    return 3
  fi
}

sn_clean() {
  sn_stop
  log "removing $SN_RUN"
  rm -rf "$SN_RUN"
}

sn_main() {
  case "${1:-}" in
  start) sn_start ;;
  stop) sn_stop ;;
  restart)
    (sn_stop)
    sn_start
    ;;
  status) sn_status ;;
  clean) sn_clean ;;
  fetch)
    take_lock "$_infra_svc"
    sn_fetch
    log "distribution in $SN_HOME"
    ;;
  -h | --help | help) sn_usage ;;
  *)
    sn_usage >&2
    exit 2
    ;;
  esac
}
