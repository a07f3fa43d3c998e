#!/usr/bin/env bash
# schemathesis CLI against a live `portkey-stub serve`, once per auth alternative and once
# without auth, then the distribution of status codes the server answered.
# Usage: scripts/fuzz.sh [MAX_EXAMPLES]   (default 2000 per run: five runs, over 10,000 requests in all)
set -euo pipefail
cd "$(dirname "$0")/.."
examples=${1:-2000}
port=${FUZZ_PORT:-$(python -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')}
upstream_port=$(python -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
base=$(python -c 'from portkey_completions.core import spec; print(spec.base_path())')  # the spec's `servers`
log=$(mktemp)
PYTHONUNBUFFERED=1 portkey-stub serve --port "$port" --validate-responses --log-level info >"$log" 2>&1 &
server=$!
# The custom-host run is forwarded: to a second server, which answers plain OpenAI requests.
portkey-stub serve --port "$upstream_port" --openai-compatible --log-level warning >/dev/null 2>&1 &
upstream=$!
trap 'kill "$server" "$upstream" 2>/dev/null; rm -f "$log"' EXIT
for _ in $(seq 100); do
  curl -fsS "http://127.0.0.1:$port/" >/dev/null 2>&1 && curl -fsS "http://127.0.0.1:$upstream_port/" >/dev/null 2>&1 && break
  kill -0 "$server" 2>/dev/null || { cat "$log"; exit 1; }
  sleep 0.1
done

key=(-H "x-portkey-api-key: pk-fuzz")
bearer=(-H "Authorization: Bearer sk-fuzz" -H "x-portkey-provider: openai")
runs=(
  "virtual key|${key[*]@Q} -H 'x-portkey-virtual-key: vk-fuzz'"
  "bearer + provider|${key[*]@Q} ${bearer[*]@Q}"
  "config|${key[*]@Q} -H 'x-portkey-config: pc-fuzz'"
  "custom host|${key[*]@Q} ${bearer[*]@Q} -H 'x-portkey-custom-host: http://127.0.0.1:$upstream_port$base'"
  "no auth|"
)
status=0
for run in "${runs[@]}"; do
  name=${run%%|*}
  echo "== schemathesis, $name, $examples examples"
  # ignored_auth: without a key store any non-empty Portkey key is accepted by design.
  # positive_data_acceptance runs as tests/support/cross_field.py's version, which also knows the
  # documented cross-field 400s (SCHEMATHESIS_HOOKS registers it).
  eval "SCHEMATHESIS_HOOKS=support.cross_field PYTHONPATH=tests schemathesis run \
    generated/portkey_completions_spec/openapi.yaml --url http://127.0.0.1:$port$base \
    --checks all --exclude-checks ignored_auth,positive_data_acceptance \
    --max-examples $examples --generation-deterministic ${run#*|}" || status=1
done

echo "== status codes the server answered ($(grep -cE '" [0-9]{3} ' "$log") requests)"
grep -oE '" [0-9]{3} ' "$log" | sort | uniq -c | sort -rn
exit $status
