#!/usr/bin/env bash
# Starts the benchmarks' Python peer by hand: 3 supervisord 4.3 + Supvisors 0.19 instances on
# ONE machine, loopback only (HTTP 127.0.0.1:BASE_PORT..BASE_PORT+2), with the rules of
# rules.xml and the programs of the baseline (seq_a..c, dist_1..3: /bin/sleep 1000). The same
# setup as bench_cluster.py generates (it reads loopback_shim.py and rules.xml from here).
#
# Usage:  scripts/bench/peer/run_supvisors_cluster.sh [WORKDIR]
#   env PEER_VENV     venv with supervisor + supvisors   (default .venv-peer, made by setup-peer.sh)
#   env BASE_PORT     first HTTP port                    (default 61001)
#   env WAIT_TIMEOUT  seconds to wait for OPERATION      (default 120)
# Stop it with stop_supvisors_cluster.sh WORKDIR.
#
# Supvisors 0.19 facts this relies on: supvisors_list items are <nick>host:http_port (no
# internal port since 0.18: everything goes over each supervisord's own XML-RPC port), and an
# instance finds itself only on non-loopback interfaces, hence loopback_shim.py.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
VENV=$("$HERE/setup-peer.sh")
BASE_PORT=${BASE_PORT:-61001}
WAIT_TIMEOUT=${WAIT_TIMEOUT:-120}
WORK=${1:-$(mktemp -d "${TMPDIR:-/tmp}/raftvisor-peer.XXXXXX")}
mkdir -p "$WORK"
WORK=$(cd "$WORK" && pwd)
N=3
PORTS=(); for i in $(seq 0 $((N-1))); do PORTS+=($((BASE_PORT+i))); done
SUPVISORS_LIST=""
for i in $(seq 1 $N); do SUPVISORS_LIST+="${SUPVISORS_LIST:+,}<s$i>127.0.0.1:${PORTS[$((i-1))]}"; done

cp "$HERE/loopback_shim.py" "$HERE/rules.xml" "$WORK/"
{
  echo "[group:seq]"; echo "programs=seq_a,seq_b,seq_c"
  echo "[group:dist]"; echo "programs=dist_1,dist_2,dist_3"
  for p in seq_a seq_b seq_c dist_1 dist_2 dist_3; do
    printf '[program:%s]\ncommand=/bin/sleep 1000\nautostart=false\nautorestart=false\nstartsecs=1\nstopwaitsecs=5\nstdout_logfile=NONE\nstderr_logfile=NONE\n' "$p"
  done
} > "$WORK/programs.ini"

for i in $(seq 1 $N); do
  d="$WORK/s$i"; port=${PORTS[$((i-1))]}
  mkdir -p "$d/childlogs"
  cat > "$d/supervisord.conf" <<CEOF
[supervisord]
identifier=s$i
logfile=$d/supervisord.log
pidfile=$d/supervisord.pid
childlogdir=$d/childlogs
loglevel=info
nodaemon=false
environment=PEER_CLUSTER="$WORK"

[inet_http_server]
port=127.0.0.1:$port

[supervisorctl]
serverurl=http://127.0.0.1:$port

[rpcinterface:supervisor]
supervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface

[rpcinterface:supvisors]
supervisor.rpcinterface_factory = loopback_shim:make_supvisors_rpcinterface
supvisors_list = $SUPVISORS_LIST
rules_files = $WORK/rules.xml
synchro_options = STRICT,TIMEOUT
synchro_timeout = 30
inactivity_ticks = 2
starting_strategy = CONFIG
conciliation_strategy = USER

[ctlplugin:supvisors]
supervisor.ctl_factory = supvisors.supvisorsctl:make_supvisors_controller_plugin

[include]
files = $WORK/programs.ini
CEOF
done

T0=$(date +%s.%N)
for i in $(seq 1 $N); do
  ( cd "$WORK/s$i" && env PEER_CLUSTER="$WORK" PYTHONPATH="$WORK" \
      "$VENV/bin/supervisord" -c "$WORK/s$i/supervisord.conf" )
done
echo "launched in $WORK"

"$VENV/bin/python" - "$T0" "$WAIT_TIMEOUT" "${PORTS[@]}" <<'PYEOF'
import sys, time, xmlrpc.client
t0 = float(sys.argv[1]); timeout = float(sys.argv[2]); ports = sys.argv[3:]
deadline = time.time() + timeout
first_ok = {}
while time.time() < deadline and len(first_ok) < len(ports):
    for p in ports:
        if p in first_ok:
            continue
        try:
            proxy = xmlrpc.client.ServerProxy(f'http://127.0.0.1:{p}/RPC2')
            if proxy.supvisors.get_supvisors_state().get('fsm_statename') == 'OPERATION':
                first_ok[p] = time.time() - t0
        except Exception:
            pass
    time.sleep(0.1)
for p in ports:
    print(f'port {p}: OPERATION after {first_ok[p]:.2f}s' if p in first_ok else f'port {p}: NOT in OPERATION')
sys.exit(0 if len(first_ok) == len(ports) else 1)
PYEOF
