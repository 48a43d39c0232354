# shellcheck shell=bash
# Shared helpers for the real-service scripts in tests/infra/ (kafka, elasticsearch, opensearch).
# Sourced, not run. Everything downloaded or written lives outside the clone:
#   SPOOR_INFRA_CACHE  artifacts (default ~/.cache/spoor-infra): kafka-<v>/libs, elasticsearch-<v>/, ...
#   SPOOR_INFRA_RUN    state of running services (default $SPOOR_INFRA_CACHE/run): <svc>/{data,logs,*.pid}
#   SPOOR_INFRA_M2     optional Maven local repository (default: Maven's own, ~/.m2/repository)
#   SPOOR_INFRA_USER   unprivileged user that runs Elasticsearch/OpenSearch when we are root (default spoor-infra)
# Progress goes to stderr; the scripts print their KEY=VALUE result as the last line on stdout.

set -euo pipefail

SPOOR_INFRA_CACHE="${SPOOR_INFRA_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/spoor-infra}"
SPOOR_INFRA_RUN="${SPOOR_INFRA_RUN:-$SPOOR_INFRA_CACHE/run}"
SPOOR_INFRA_USER="${SPOOR_INFRA_USER:-spoor-infra}"
# maven-dependency-plugin pinned, so a cold machine does not pick whatever is newest (3.8.1 runs on Maven 3.6.3+).
SPOOR_MVN_DEP_PLUGIN="${SPOOR_MVN_DEP_PLUGIN:-org.apache.maven.plugins:maven-dependency-plugin:3.8.1}"

_infra_svc="${_infra_svc:-infra}"

# temporary paths removed when the script exits, however it exits
_infra_tmp_paths=()
_infra_cleanup() {
  local p
  for p in "${_infra_tmp_paths[@]}"; do rm -rf "$p"; done
}
trap _infra_cleanup EXIT
tmp_path() { _infra_tmp_paths+=("$1"); }

log() { printf '[spoor-infra %s] %s\n' "$_infra_svc" "$*" >&2; }
die() {
  printf '[spoor-infra %s] ERROR: %s\n' "$_infra_svc" "$*" >&2
  exit 1
}

# die with the tail of a log file attached.
die_with_log() {
  local msg="$1" file="$2" lines="${3:-80}"
  {
    printf '[spoor-infra %s] ERROR: %s\n' "$_infra_svc" "$msg"
    if [[ -s "$file" ]]; then
      printf -- '----- last %s lines of %s -----\n' "$lines" "$file"
      tail -n "$lines" "$file" | sed 's/\x1b\[[0-9;]*m//g'
      printf -- '----- end of %s -----\n' "$file"
    else
      printf '(log %s is empty or missing)\n' "$file"
    fi
  } >&2
  exit 1
}

need_cmd() {
  local c
  for c in "$@"; do
    command -v "$c" >/dev/null 2>&1 || die "'$c' is needed but not installed"
  done
}

# ---------------------------------------------------------------------------------------------------------------
# Java

# java_major HOME -> prints the feature version (17, 21, 25, ...) of the JDK at HOME, or nothing.
java_major() {
  local home="$1" v
  [[ -x "$home/bin/java" ]] || return 0
  if [[ -r "$home/release" ]]; then
    v="$(sed -n 's/^JAVA_VERSION="\([0-9]*\).*/\1/p' "$home/release")"
  fi
  if [[ -z "${v:-}" ]]; then
    v="$("$home/bin/java" -version 2>&1 | sed -n '1s/.*version "\([0-9]*\).*/\1/p')"
  fi
  printf '%s' "$v"
}

# find_java MIN [MAX] -> prints a JAVA_HOME whose major version is within [MIN, MAX] (MAX optional).
# Honours SPOOR_JAVA_HOME_<MIN> (e.g. SPOOR_JAVA_HOME_17, SPOOR_JAVA_HOME_21) first, then JAVA_HOME,
# then the java on PATH, then whatever lies in /usr/lib/jvm (preferring the lowest version that fits).
find_java() {
  local min="$1" max="${2:-999}" var="SPOOR_JAVA_HOME_$1" cand m
  local -a cands=()
  [[ -n "${!var:-}" ]] && cands+=("${!var}")
  [[ -n "${JAVA_HOME:-}" ]] && cands+=("$JAVA_HOME")
  if command -v java >/dev/null 2>&1; then
    cands+=("$(dirname "$(dirname "$(readlink -f "$(command -v java)")")")")
  fi
  if [[ -d /usr/lib/jvm ]]; then
    while IFS= read -r cand; do cands+=("$cand"); done < <(
      for cand in /usr/lib/jvm/*/; do
        cand="${cand%/}"
        [[ -L "$cand" ]] && continue
        m="$(java_major "$cand")"
        [[ -n "$m" ]] && printf '%s %s\n' "$m" "$cand"
      done | sort -n | cut -d' ' -f2-
    )
  fi
  for cand in "${cands[@]}"; do
    m="$(java_major "$cand")"
    if [[ -n "$m" ]] && ((m >= min && m <= max)); then
      printf '%s' "$cand"
      return 0
    fi
  done
  return 1
}

# ---------------------------------------------------------------------------------------------------------------
# Maven

_mvn() {
  need_cmd mvn
  local -a args=(-q -B -ntp -Dstyle.color=never)
  [[ -n "${SPOOR_INFRA_M2:-}" ]] && args+=("-Dmaven.repo.local=$SPOOR_INFRA_M2")
  # Maven itself runs on whatever JDK is the default; it only downloads here.
  mvn "${args[@]}" "$@"
}

# mvn_copy_deps DEST G:A:V [G:A:V ...]
# Resolves the runtime classpath of the given artifacts into DEST/libs (a throw-away pom +
# dependency:copy-dependencies). Skipped when DEST/.complete exists (warm cache: no Maven at all).
mvn_copy_deps() {
  local dest="$1"
  shift
  [[ -f "$dest/.complete" ]] && return 0
  local tmp="$dest.tmp.$$" gav g a v
  rm -rf "$dest".tmp.* # left by an interrupted run (callers hold the service's lock)
  tmp_path "$tmp"
  mkdir -p "$tmp"
  {
    printf '<project xmlns="http://maven.apache.org/POM/4.0.0">\n'
    printf '  <modelVersion>4.0.0</modelVersion>\n'
    printf '  <groupId>local.spoor.infra</groupId><artifactId>fetch</artifactId><version>0</version>\n'
    printf '  <packaging>pom</packaging>\n  <dependencies>\n'
    for gav in "$@"; do
      IFS=: read -r g a v <<<"$gav"
      printf '    <dependency><groupId>%s</groupId><artifactId>%s</artifactId><version>%s</version></dependency>\n' \
        "$g" "$a" "$v"
    done
    printf '  </dependencies>\n</project>\n'
  } >"$tmp/pom.xml"
  log "resolving $* with Maven into $dest (first run only)"
  if ! (cd "$tmp" && _mvn "$SPOOR_MVN_DEP_PLUGIN:copy-dependencies" -DincludeScope=runtime \
    -DoutputDirectory="$tmp/libs") >"$tmp/mvn.log" 2>&1; then
    die_with_log "Maven could not resolve $*" "$tmp/mvn.log" 40
  fi
  rm -rf "$dest"
  mkdir -p "$(dirname "$dest")"
  mv "$tmp" "$dest"
  touch "$dest/.complete"
}

# mvn_fetch_zip G:A:V:zip DEST_FILE  -> downloads one artifact (no transitive deps) to DEST_FILE.
mvn_fetch_artifact() {
  local coords="$1" dest_file="$2" tmp
  tmp="$(mktemp -d "${TMPDIR:-/tmp}/spoor-mvn.XXXXXX")"
  tmp_path "$tmp"
  # a minimal pom so the goal runs the same with any Maven 3.x
  printf '<project xmlns="http://maven.apache.org/POM/4.0.0"><modelVersion>4.0.0</modelVersion><groupId>local.spoor.infra</groupId><artifactId>fetch</artifactId><version>0</version><packaging>pom</packaging></project>\n' \
    >"$tmp/pom.xml"
  log "downloading $coords with Maven (first run only)"
  if ! (cd "$tmp" && _mvn "$SPOOR_MVN_DEP_PLUGIN:copy" -Dartifact="$coords" -DoutputDirectory="$tmp/out" \
    -Dmdep.stripVersion=false) >"$tmp/mvn.log" 2>&1; then
    die_with_log "Maven could not download $coords" "$tmp/mvn.log" 40
  fi
  local f
  f="$(find "$tmp/out" -type f | head -n1)"
  [[ -n "$f" ]] || die "Maven reported success but produced no file for $coords"
  mkdir -p "$(dirname "$dest_file")"
  mv "$f" "$dest_file"
  rm -rf "$tmp"
}

# ---------------------------------------------------------------------------------------------------------------
# processes, ports, locks

# take_lock NAME: serialises start/stop of one service (and its cache fill) across concurrent callers.
# The lock is released when the calling script exits.
take_lock() {
  mkdir -p "$SPOOR_INFRA_RUN"
  exec 8>"$SPOOR_INFRA_RUN/$1.lock"
  if ! flock -w "${SPOOR_INFRA_LOCK_TIMEOUT:-900}" 8; then
    die "timed out waiting for the lock $SPOOR_INFRA_RUN/$1.lock (another start/stop still running?)"
  fi
}

# pid_alive PIDFILE MARKER: true if PIDFILE names a live process whose command line contains MARKER.
pid_alive() {
  local pidfile="$1" marker="$2" pid
  [[ -s "$pidfile" ]] || return 1
  pid="$(tr -dc '0-9' <"$pidfile")"
  [[ -n "$pid" ]] || return 1
  kill -0 "$pid" 2>/dev/null || return 1
  tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -qF -- "$marker"
}

pid_of() { tr -dc '0-9' <"$1"; }

# stop_pid PIDFILE MARKER TIMEOUT_S: SIGTERM, wait, then SIGKILL. No-op if not running.
stop_pid() {
  local pidfile="$1" marker="$2" timeout="$3" pid i
  if ! pid_alive "$pidfile" "$marker"; then
    rm -f "$pidfile"
    return 1
  fi
  pid="$(pid_of "$pidfile")"
  log "stopping pid $pid"
  kill -TERM "$pid" 2>/dev/null || true
  for ((i = 0; i < timeout * 4; i++)); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.25
  done
  if kill -0 "$pid" 2>/dev/null; then
    log "pid $pid still alive after ${timeout}s; sending SIGKILL"
    kill -KILL "$pid" 2>/dev/null || true
    sleep 0.5
  fi
  rm -f "$pidfile"
  return 0
}

# port_open PORT: something accepts TCP connections on 127.0.0.1:PORT.
port_open() {
  (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

check_port_free() {
  local port="$1" what="$2"
  if port_open "$port"; then
    die "127.0.0.1:$port ($what) is already in use by another process (not one started by this script); \
free it or pick another port with the env variable shown in '$0 --help'"
  fi
}

# wait_until TIMEOUT_S PID DESCRIPTION CMD...: polls CMD every second until it succeeds.
# Returns 1 on timeout, 2 if PID died meanwhile (PID may be empty).
wait_until() {
  local timeout="$1" pid="$2" desc="$3" start
  shift 3
  start=$SECONDS
  while ((SECONDS - start < timeout)); do
    if "$@" >/dev/null 2>&1; then
      return 0
    fi
    if [[ -n "$pid" ]] && ! kill -0 "$pid" 2>/dev/null; then
      log "process $pid exited while waiting for $desc"
      return 2
    fi
    sleep 1
  done
  log "timed out after ${timeout}s waiting for $desc"
  return 1
}

# ---------------------------------------------------------------------------------------------------------------
# the unprivileged user (Elasticsearch and OpenSearch refuse to run as root)

# service_user -> prints the user to run servers as: SPOOR_INFRA_USER (created on first use) when we
# are root, else the current user.
service_user() {
  if [[ "$(id -u)" != 0 ]]; then
    id -un
    return 0
  fi
  if ! id -u "$SPOOR_INFRA_USER" >/dev/null 2>&1; then
    need_cmd useradd
    log "creating unprivileged system user '$SPOOR_INFRA_USER' to run search servers (they refuse root)"
    useradd --system --user-group --no-create-home --home-dir /nonexistent \
      --shell /usr/sbin/nologin "$SPOOR_INFRA_USER" 2>/dev/null ||
      id -u "$SPOOR_INFRA_USER" >/dev/null 2>&1 || die "useradd $SPOOR_INFRA_USER failed"
  fi
  printf '%s' "$SPOOR_INFRA_USER"
}

# run_as USER CMD...: runs CMD as USER (directly if that is us).
run_as() {
  local user="$1"
  shift
  if [[ "$user" == "$(id -un)" ]]; then
    "$@"
  else
    runuser -u "$user" -- "$@"
  fi
}

# grant_traverse USER PATH...: makes sure USER can reach PATH (search permission on every ancestor).
# When root's home is private (drwx------), the cache under it is unreachable for the service user:
# add an ACL entry for that user alone when setfacl exists, else give others search (x, not read) permission.
grant_traverse() {
  local user="$1" path dir
  shift
  [[ "$user" == "$(id -un)" ]] && return 0
  for path in "$@"; do
    dir="$(readlink -f "$path")"
    local -a ancestors=()
    while [[ "$dir" != "/" && -n "$dir" ]]; do
      dir="$(dirname "$dir")"
      ancestors=("$dir" "${ancestors[@]}")
    done
    # from the top down, so only the directories that really block get changed
    for dir in "${ancestors[@]}"; do
      if ! runuser -u "$user" -- test -x "$dir" 2>/dev/null; then
        if command -v setfacl >/dev/null 2>&1 && setfacl -m "u:$user:x" "$dir" 2>/dev/null; then
          log "granted $user search permission on $dir (ACL)"
        else
          chmod o+x "$dir"
          log "granted others search permission (o+x, no listing) on $dir so $user can reach $path"
        fi
      fi
    done
  done
}

# http_ok URL: GET answers 2xx.
http_ok() {
  curl -fsS -o /dev/null --max-time "${2:-10}" "$1"
}
