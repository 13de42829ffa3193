# CPU cap for the proxies of scripts/bench and scripts/bench-balance, sourced by both: a cgroup
# that every proxy process joins before it executes anything. Expects PROXY_CPU (% of one core; 0
# or 100: no cap), PROXY_CPU_PERIOD_MS, and the functions log and start_pinned CORE OUTFILE CMD...
# (which starts CMD in the background and records it) from the script that sources it.
# shellcheck shell=bash
# CAP_DIR: the cgroup every proxy process runs in, "" when there is no cap. CAP_PCT is the cap in
# effect (100: none); CAP_DESC says how it is applied, for the log and the report.
CAP_DIR=${CAP_DIR:-}
CAP_NAME="rproxy-bench-$$"
CAP_PERIOD_US=$((PROXY_CPU_PERIOD_MS * 1000))
CAP_PCT=100
CAP_DESC="none"

# cap_stale_groups DIR: removes empty groups left in DIR by earlier runs that were killed before
# their cleanup (the pid in the name is gone). rmdir removes only a group with no process in it.
cap_stale_groups() {
    local d owner
    for d in "$1"/rproxy-bench-*; do
        [ -d "$d" ] || continue
        owner=${d##*-}
        [[ "$owner" =~ ^[0-9]+$ ]] || continue
        kill -0 "$owner" 2>/dev/null && continue
        rmdir "$d" 2>/dev/null || true
    done
}

# cap_setup: creates the group and sets its quota: cgroup v2 where a unified hierarchy has the cpu
# controller enabled for its children, else cgroup v1; otherwise warns and leaves CAP_DIR empty.
# cap_set PCT: changes the proxies' cap (the group's quota) to PCT% of a core for what follows;
# nothing without a group.
cap_set() {
    local quota=$(($1 * CAP_PERIOD_US / 100))
    [ -n "$CAP_DIR" ] || return 0
    if [ -f "$CAP_DIR/cpu.max" ]; then
        echo "$quota $CAP_PERIOD_US" > "$CAP_DIR/cpu.max"
    else
        echo "$quota" > "$CAP_DIR/cpu.cfs_quota_us"
    fi
    CAP_PCT=$1
}

cap_setup() {
    local mnt type opts quota d
    if [ "$PROXY_CPU" = 0 ] || [ "$PROXY_CPU" = 100 ]; then
        CAP_DESC="none (--proxy-cpu $PROXY_CPU)"
        return 0
    fi
    if [ "$(id -u)" != 0 ]; then
        log "warning: not root, so no cgroup for the proxies: they run uncapped, and the load core may limit the rates"
        CAP_DESC="none (not root)"
        return 0
    fi
    quota=$((PROXY_CPU * CAP_PERIOD_US / 100))
    while read -r _ mnt type _ _; do
        [ "$type" = cgroup2 ] || continue
        grep -qw cpu "$mnt/cgroup.subtree_control" 2>/dev/null || continue
        cap_stale_groups "$mnt"
        d="$mnt/$CAP_NAME"
        mkdir "$d" 2>/dev/null || continue
        if echo "$quota $CAP_PERIOD_US" > "$d/cpu.max" 2>/dev/null; then
            CAP_DIR=$d
            CAP_DESC="cgroup v2 $d, cpu.max $quota $CAP_PERIOD_US"
            break
        fi
        rmdir "$d" 2>/dev/null || true
    done < /proc/mounts
    if [ -z "$CAP_DIR" ]; then
        while read -r _ mnt type opts _; do
            [ "$type" = cgroup ] || continue
            [[ ",$opts," == *,cpu,* ]] || continue
            cap_stale_groups "$mnt"
            d="$mnt/$CAP_NAME"
            mkdir "$d" 2>/dev/null || continue
            if echo "$CAP_PERIOD_US" > "$d/cpu.cfs_period_us" 2>/dev/null &&
                echo "$quota" > "$d/cpu.cfs_quota_us" 2>/dev/null; then
                CAP_DIR=$d
                CAP_DESC="cgroup v1 $d, cpu.cfs_quota_us $quota of $CAP_PERIOD_US"
                break
            fi
            rmdir "$d" 2>/dev/null || true
        done < /proc/mounts
    fi
    if [ -z "$CAP_DIR" ]; then
        log "warning: no cgroup with a CPU quota could be set up (neither a cgroup v2 hierarchy with the cpu controller enabled nor a cgroup v1 cpu hierarchy): the proxies run uncapped, and the load core may limit the rates"
        CAP_DESC="none (no usable cgroup)"
        return 0
    fi
    CAP_PCT=$PROXY_CPU
}

# cap_remove: removes the group once its processes are gone. Only processes this script started
# are ever moved into it, so any still there after the others were stopped are killed first.
cap_remove() {
    local i pid
    [ -n "$CAP_DIR" ] && [ -d "$CAP_DIR" ] || return 0
    for i in $(seq 1 30); do
        [ -z "$(cat "$CAP_DIR/cgroup.procs" 2>/dev/null)" ] && break
        sleep 0.1
    done
    while read -r pid; do
        kill -KILL "$pid" 2>/dev/null || true
    done < <(cat "$CAP_DIR/cgroup.procs" 2>/dev/null)
    for i in $(seq 1 30); do
        rmdir "$CAP_DIR" 2>/dev/null && return 0
        sleep 0.1
    done
    log "warning: could not remove the cgroup $CAP_DIR"
}

# start_capped CORE OUTFILE CMD...: as start_pinned, for a proxy process: it first writes its own
# pid into the group and then executes CMD in place, so nothing runs before the cap applies and
# all its children inherit the group. The pid stays the same throughout.
start_capped() {
    local core=$1 out=$2; shift 2
    if [ -n "$CAP_DIR" ]; then
        # shellcheck disable=SC2016
        start_pinned "$core" "$out" sh -c 'echo $$ > "$0" || exit 111; exec "$@"' "$CAP_DIR/cgroup.procs" "$@"
    else
        start_pinned "$core" "$out" "$@"
    fi
}

# in_cap PID...: true when every pid given is in the group (or there is no cap).
in_cap() {
    local pid
    [ -n "$CAP_DIR" ] || return 0
    for pid in "$@"; do
        grep -q ":/$CAP_NAME\$" "/proc/$pid/cgroup" 2>/dev/null || return 1
    done
}

