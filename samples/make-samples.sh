#!/usr/bin/env bash
#
# make-samples.sh: record sipscope's bundled sample captures from real SIP stacks on loopback.
#
# What it needs (it installs nothing itself):
#   - sipp      (Debian/Ubuntu package sip-tester)   caller and callee user agents
#   - kamailio  (package kamailio)                   the stateful proxy in the middle
#   - tcpdump   (package tcpdump)                    writes the captures
#     install all three with:  apt-get install -y sip-tester kamailio tcpdump
#   - permission to capture on the loopback interface "lo" (root, or CAP_NET_RAW on tcpdump).
#
# What it makes (in the directory holding this script, overwriting older copies):
#   answered-call-proxy.pcap  busy-486.pcap  cancel-487.pcap  notfound-404.pcap
#   register-401.pcap  options.pcap  call-tcp.pcap  decline-603.pcap
#   unavailable-503-retry-after.pcap  proxy-503-to-500.pcap  timeout-no-answer.pcap
#   missing-ack.pcap  reinvite.pcap  auth-invite-407.pcap  codec-mismatch-488.pcap
#   nat-sdp.pcap  fork-parallel.pcap  proxy-timeout-408.pcap
#   answered-call-rtp.pcap  one-way-rtp.pcap   (with real RTP: see below)
# (a full run takes about 3.5 minutes: three samples wait out 30-32 s SIP timers)
# Each is a classic pcap written by `tcpdump -i lo -w`, filtered on the sample's own addresses and
# SIP ports. README.md next to this script describes what each one shows.
#   ./make-samples.sh              make them all
#   ./make-samples.sh busy-486 ... make only the named ones (file name without .pcap)
#   KEEP_WORK=1 ./make-samples.sh  keep the sipp/Kamailio/tcpdump logs (path printed at the end)
#
# How: every sample gets its own loopback addresses 127.0.0.<N>1 (caller, sipp UAC, port 5070),
# 127.0.0.<N>2 (proxy, Kamailio, port 5060, UDP and TCP) and 127.0.0.<N>3 (callee, sipp UAS,
# port 5060), so runs never collide with each other or with anyone else's 127.0.0.1-3 lab.
# Direct samples (no proxy) leave <N>2 unused. Traffic only ever goes to 127.0.0.x. Only the two
# RTP samples send media: the caller plays sipp's own G.711 recording
# (/usr/share/sip-tester/g711a.pcap, 7 s) from its media port 6000 to the callee's, which echoes
# it back (sipp -rtp_echo) or not; elsewhere the SDP bodies are text only. Every process the
# script starts is stopped by its own pid.
# Running it again simply re-records the files (timestamps, tags and branches change).

set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
SCN="$HERE/scenarios"
OUT="$HERE"
KAM_TEMPLATE="$HERE/kamailio-proxy.cfg.in"
KAM_MODULES="/usr/lib/x86_64-linux-gnu/kamailio/modules"

# ---------------------------------------------------------------------------------------------
# Preconditions

missing=0
for tool in sipp:sip-tester kamailio:kamailio tcpdump:tcpdump; do
    bin="${tool%%:*}"
    pkg="${tool##*:}"
    if ! command -v "$bin" >/dev/null 2>&1 && ! [ -x "/usr/sbin/$bin" ]; then
        echo "make-samples: '$bin' not found; install it with: apt-get install -y $pkg" >&2
        missing=1
    fi
done
[ "$missing" -eq 0 ] || exit 1
PATH="$PATH:/usr/sbin:/sbin"
if ! [ -d "$KAM_MODULES" ]; then
    echo "make-samples: Kamailio modules not found in $KAM_MODULES (edit KAM_MODULES)" >&2
    exit 1
fi

WORK="$(mktemp -d /tmp/sipscope-samples.XXXXXX)"
UAC_OPTS=()    # extra sipp options for the caller of the current sample
UAS_OPTS=()    # extra sipp options for the callee of the current sample
STARTED=()     # pids of everything this script started and has not stopped yet

cleanup() {
    local pid
    for pid in "${STARTED[@]}"; do
        kill "$pid" 2>/dev/null || true
    done
    for pid in "${STARTED[@]}"; do
        wait "$pid" 2>/dev/null || true
    done
    if [ -n "${KEEP_WORK:-}" ]; then log "work files kept in $WORK"; else rm -rf "$WORK"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

log() { printf 'make-samples: %s\n' "$*" >&2; }

forget_pid() {
    local pid="$1" keep=() p
    for p in "${STARTED[@]}"; do
        [ "$p" = "$pid" ] || keep+=("$p")
    done
    STARTED=("${keep[@]}")
}

# Stop one process we started: TERM, wait up to 5 s, then KILL.
stop_pid() {
    local pid="$1" i
    if kill -0 "$pid" 2>/dev/null; then
        kill "$pid" 2>/dev/null || true
        for i in $(seq 50); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.1
        done
        kill -0 "$pid" 2>/dev/null && kill -KILL "$pid" 2>/dev/null
    fi
    wait "$pid" 2>/dev/null || true
    forget_pid "$pid"
}

# Wait up to $2 seconds for a process we started to exit by itself; stop it if it does not.
await_pid() {
    local pid="$1" secs="$2" i
    for i in $(seq $((secs * 10))); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    stop_pid "$pid"
}

# ---------------------------------------------------------------------------------------------
# Building blocks

# start_capture NAME FILTER: tcpdump on lo into $OUT/NAME.pcap (classic pcap, packet-buffered).
start_capture() {
    local name="$1" filter="$2" i
    rm -f "$OUT/$name.pcap"
    tcpdump -i lo -U -n -s 0 -w "$OUT/$name.pcap" "$filter" 2>"$WORK/$name.tcpdump.log" &
    CAP_PID=$!
    STARTED+=("$CAP_PID")
    for i in $(seq 50); do
        grep -q 'listening on' "$WORK/$name.tcpdump.log" 2>/dev/null && break
        sleep 0.1
    done
    sleep 0.3
}

stop_capture() {
    sleep 0.5                      # let the last packets reach the capture buffer
    stop_pid "$CAP_PID"
}

# start_proxy BASE TRANSPORT [kamailio -A defines...]: Kamailio on 127.0.0.${BASE}2:5060
# forwarding to 127.0.0.${BASE}3:5060 (and 127.0.0.${BASE}4 for the fork sample).
start_proxy() {
    local base="$1" transport="$2" i
    shift 2
    local dir="$WORK/kam-$base"
    mkdir -p "$dir"
    sed -e "s/@PROXY_IP@/127.0.0.${base}2/g" \
        -e "s/@UAS_IP@/127.0.0.${base}3/g" \
        -e "s/@UAS2_IP@/127.0.0.${base}4/g" \
        -e "s/@TRANSPORT@/$transport/g" \
        -e "s|^mpath=.*|mpath=\"$KAM_MODULES/\"|" \
        "$KAM_TEMPLATE" >"$dir/kamailio.cfg"
    local defs=() d
    for d in "$@"; do defs+=(-A "$d"); done
    # -DD: the main process stays our child, so $! is the pid that stops the whole proxy.
    kamailio -DD -E -f "$dir/kamailio.cfg" -P "$dir/kamailio.pid" -Y "$dir" -w "$dir" \
        -m 32 -M 8 "${defs[@]}" >"$dir/kamailio.log" 2>&1 &
    KAM_PID=$!
    STARTED+=("$KAM_PID")
    for i in $(seq 50); do
        [ -s "$dir/kamailio.pid" ] && break
        kill -0 "$KAM_PID" 2>/dev/null || { cat "$dir/kamailio.log" >&2; return 1; }
        sleep 0.1
    done
    sleep 0.5
}

stop_proxy() { stop_pid "$KAM_PID"; }

# start_uas BASE-IP SCENARIO CALLS [sipp options...]: sipp callee on BASE-IP:5060, in background.
start_uas() {
    local ip="$1" scenario="$2" calls="$3"
    shift 3
    (cd "$WORK" && exec sipp -sf "$SCN/$scenario" -i "$ip" -mi "$ip" -p 5060 -bind_local \
        -m "$calls" -nostdin "${UAS_OPTS[@]}" "$@") >"$WORK/uas-$ip.log" 2>&1 &
    UAS_PID=$!
    STARTED+=("$UAS_PID")
    sleep 0.5
}

# run_uac IP TARGET SCENARIO CALLS [sipp options...]: sipp caller on IP:5070, in foreground.
# A failed call is not an error for us: several samples record calls that are meant to fail.
run_uac() {
    local ip="$1" target="$2" scenario="$3" calls="$4"
    shift 4
    (cd "$WORK" && exec sipp "$target" -sf "$SCN/$scenario" -i "$ip" -mi "$ip" -p 5070 \
        -bind_local -s bob -m "$calls" -r 1 -rp 1500 -nostdin "${UAC_OPTS[@]}" "$@") \
        >"$WORK/uac-$ip.log" 2>&1 &
    local pid=$!
    STARTED+=("$pid")
    await_pid "$pid" 90
}

# filter for a sample's addresses on the SIP ports
sip_filter() {
    local base="$1"
    echo "(host 127.0.0.${base}1 or host 127.0.0.${base}2 or host 127.0.0.${base}3" \
        "or host 127.0.0.${base}4) and (port 5060 or port 5070)"
}

# rtp_call NAME BASE ECHO: a direct answered call with RTP; the callee echoes the caller's
# audio when ECHO is "echo". The capture takes the sample's SIP ports and media ports.
rtp_call() {
    local name="$1" base="$2" echo="$3" echo_opt=()
    local pcap=/usr/share/sip-tester/g711a.pcap
    if ! [ -r "$pcap" ]; then
        log "$name: $pcap not found (it comes with sip-tester)"
        return 1
    fi
    [ "$echo" = echo ] && echo_opt=(-rtp_echo)
    log "$name: uac-call-rtp.xml -> uas-answer-rtp.xml ${echo_opt[*]:-(no echo)}, 1 call"
    start_capture "$name" "(host 127.0.0.${base}1 or host 127.0.0.${base}3) and (port 5060 or port 5070 or portrange 6000-6003)"
    start_uas "127.0.0.${base}3" uas-answer-rtp.xml 1 -mp 6000 "${echo_opt[@]}"
    run_uac "127.0.0.${base}1" "127.0.0.${base}3:5060" uac-call-rtp.xml 1 -mp 6000
    await_pid "$UAS_PID" 15
    stop_capture
}

# ---------------------------------------------------------------------------------------------
# The samples. Each function records one file; BASE is its address block (127.0.0.BASE1..4).

# proxied_call NAME BASE CALLS UAC-SCENARIO UAS-SCENARIO [TRANSPORT [kamailio defines...]]
proxied_call() {
    local name="$1" base="$2" calls="$3" uac="$4" uas="$5" transport="${6:-udp}"
    shift 5
    [ $# -gt 0 ] && shift
    local topt="u1"
    [ "$transport" = tcp ] && topt="t1"
    log "$name: $uac -> kamailio($transport) -> $uas, $calls call(s)"
    start_capture "$name" "$(sip_filter "$base")"
    start_proxy "$base" "$transport" "$@"
    start_uas "127.0.0.${base}3" "$uas" "$calls" -t "$topt"
    run_uac "127.0.0.${base}1" "127.0.0.${base}2:5060" "$uac" "$calls" -t "$topt"
    await_pid "$UAS_PID" 10
    stop_proxy
    stop_capture
}

# direct_call NAME BASE CALLS UAC-SCENARIO UAS-SCENARIO [extra UAC options...]
direct_call() {
    local name="$1" base="$2" calls="$3" uac="$4" uas="$5"
    shift 5
    log "$name: $uac -> $uas (no proxy), $calls call(s)"
    start_capture "$name" "$(sip_filter "$base")"
    start_uas "127.0.0.${base}3" "$uas" "$calls"
    run_uac "127.0.0.${base}1" "127.0.0.${base}3:5060" "$uac" "$calls" "$@"
    await_pid "$UAS_PID" 45
    stop_capture
}

# sample_<name>: one per capture. The number after the name is its address block BASE
# (127.0.0.BASE1 caller, BASE2 proxy, BASE3 callee, BASE4 second callee); the next is the
# number of calls.

# Two ordinary calls through the proxy: the reference multi-hop trace.
sample_answered-call-proxy() { proxied_call answered-call-proxy 1 2 uac-call.xml uas-answer.xml; }

# Refusals made by the callee and relayed by the proxy (which ACKs them hop by hop).
sample_busy-486() { proxied_call busy-486 2 1 uac-reject.xml uas-busy-486.xml; }
sample_notfound-404() { proxied_call notfound-404 4 1 uac-reject.xml uas-notfound-404.xml; }
sample_decline-603() { proxied_call decline-603 8 1 uac-reject.xml uas-decline-603.xml; }
sample_codec-mismatch-488() {
    proxied_call codec-mismatch-488 14 1 uac-reject-g729.xml uas-codec-488.xml
}

# 503 + Retry-After seen end to end (no proxy) ...
sample_unavailable-503-retry-after() {
    direct_call unavailable-503-retry-after 9 1 uac-reject.xml uas-unavailable-503.xml
}
# ... and the same callee behind Kamailio, which (RFC 3261 16.7) does not relay a 503: it
# answers the caller with its own 500 and drops the Retry-After.
sample_proxy-503-to-500() {
    proxied_call proxy-503-to-500 10 1 uac-reject.xml uas-unavailable-503.xml
}

# The caller gives up while it rings: CANCEL, 200, 487, ACK on both legs.
sample_cancel-487() { proxied_call cancel-487 3 1 uac-cancel.xml uas-ring-cancel.xml; }

# Registration with a digest challenge, to a registrar played by sipp (no proxy).
sample_register-401() { direct_call register-401 5 1 uac-register.xml uas-registrar.xml; }

# The same registrar and a caller with the wrong password: 401, REGISTER with bad credentials,
# 403 Forbidden (an authentication failure).
sample_register-wrong-password-403() {
    direct_call register-wrong-password-403 21 1 uac-register-wrong-password.xml uas-registrar.xml
}

# An OPTIONS ping (no proxy).
sample_options() { direct_call options 6 1 uac-options.xml uas-options.xml; }

# The answered call again, over TCP on both legs.
sample_call-tcp() { proxied_call call-tcp 7 1 uac-call.xml uas-answer.xml tcp; }

# The proxy challenges the INVITE (407); the caller retries with Proxy-Authorization.
sample_auth-invite-407() {
    # sipp would otherwise put only the proxy's host in the digest uri; give it the R-URI
    # (sipp adds the "sip:" itself)
    UAC_OPTS=(-auth_uri "bob@127.0.0.132:5060")
    proxied_call auth-invite-407 13 1 uac-call-auth.xml uas-answer.xml udp WITH_AUTH
}

# An answered call whose SDP offer names a private (192.168.1.50) media address.
sample_nat-sdp() { proxied_call nat-sdp 15 1 uac-call-nat-sdp.xml uas-answer.xml; }

# An answered call put on hold with a re-INVITE inside the dialog.
sample_reinvite() { proxied_call reinvite 16 1 uac-reinvite.xml uas-reinvite.xml; }

# The callee never answers and there is no proxy: the caller retransmits the INVITE on Timer A
# (0.5 s doubling: 7 copies in all) and gives up when Timer B (64*T1 = 32 s) expires.
sample_timeout-no-answer() {
    direct_call timeout-no-answer 11 1 uac-call.xml uas-silent.xml \
        -recv_timeout 32000 -max_invite_retrans 6
}

# The caller never ACKs the 200: the callee retransmits it, then hangs up with BYE after 32 s.
sample_missing-ack() {
    UAS_OPTS=(-max_retrans 20 -max_invite_retrans 20 -max_non_invite_retrans 20)
    direct_call missing-ack 12 1 uac-no-ack.xml uas-missing-ack.xml
}

# A silent callee behind the proxy: the proxy retransmits the INVITE to it and, when its own
# timer (Kamailio fr_timer, 30 s) runs out, answers the caller 408 Request Timeout.
sample_proxy-timeout-408() { proxied_call proxy-timeout-408 18 1 uac-reject.xml uas-silent.xml; }

# Parallel forking: the proxy sends the INVITE to two callees; both ring (two early dialogs,
# two To tags), the first answers, and the proxy CANCELs the other, which answers 487.
sample_fork-parallel() {
    local name=fork-parallel base=17 uas2
    log "$name: uac-call.xml -> kamailio (fork) -> uas-answer.xml + uas-ring-cancel.xml"
    start_capture "$name" "$(sip_filter "$base")"
    start_proxy "$base" udp WITH_FORK
    start_uas "127.0.0.${base}4" uas-ring-cancel.xml 1
    uas2="$UAS_PID"
    start_uas "127.0.0.${base}3" uas-answer.xml 1
    run_uac "127.0.0.${base}1" "127.0.0.${base}2:5060" uac-call.xml 1
    await_pid "$UAS_PID" 10
    await_pid "$uas2" 10
    stop_proxy
    stop_capture
}

# An answered call with 7 s of G.711 A-law both ways (the callee echoes the caller's RTP).
sample_answered-call-rtp() { rtp_call answered-call-rtp 19 echo; }

# The same call where the callee sends no media back: one-way audio.
sample_one-way-rtp() { rtp_call one-way-rtp 20 no-echo; }

ALL_SAMPLES=(
    answered-call-proxy
    busy-486
    cancel-487
    notfound-404
    register-401
    register-wrong-password-403
    options
    call-tcp
    decline-603
    unavailable-503-retry-after
    proxy-503-to-500
    timeout-no-answer
    missing-ack
    reinvite
    auth-invite-407
    codec-mismatch-488
    nat-sdp
    fork-parallel
    proxy-timeout-408
    answered-call-rtp
    one-way-rtp
)

# ---------------------------------------------------------------------------------------------

wanted=("$@")
[ ${#wanted[@]} -gt 0 ] || wanted=("${ALL_SAMPLES[@]}")
for s in "${wanted[@]}"; do
    if ! declare -F "sample_$s" >/dev/null; then
        log "unknown sample '$s'; known: ${ALL_SAMPLES[*]}"
        exit 2
    fi
done
for s in "${wanted[@]}"; do
    UAC_OPTS=()
    UAS_OPTS=()
    "sample_$s"
    log "$s.pcap: $(stat -c %s "$OUT/$s.pcap") bytes"
done
log "done"
