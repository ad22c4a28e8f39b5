#!/usr/bin/env bash
# Registers agora-flow's namespace and search attributes on a Temporal cluster.
# Usage: register-search-attributes.sh HOST:PORT NAMESPACE
set -euo pipefail
address=${1:?HOST:PORT}
namespace=${2:?NAMESPACE}
here=$(cd "$(dirname "$0")/.." && pwd)
cd "$here"
temporal=${TEMPORAL:-$here/.venv/bin/temporal}
# Closed workflows' histories are kept this long, then deleted by Temporal (see README,
# "Retention"): long enough for operators to look into a recent run, far shorter than the
# personal-data retention (AGORA_FLOW_PERSONAL_DATA_RETENTION_DAYS), so no history outlives
# the data it carries. Set on creation, and again on an existing namespace.
retention=${AGORA_FLOW_TEMPORAL_RETENTION:-30d}
"$temporal" operator namespace create --address "$address" --namespace "$namespace" \
  --retention "$retention" || true
"$temporal" operator namespace update --address "$address" --namespace "$namespace" \
  --retention "$retention"
# The list lives in contracts/search_attributes.py; print it as Name=Type pairs.
"$here/.venv/bin/python" - <<'PY' | while IFS='=' read -r name type; do
import sys
sys.path.insert(0, ".")
from contracts.search_attributes import cli_flags
flags = cli_flags()
print("\n".join(flags[1::2]))
PY
  "$temporal" operator search-attribute create --address "$address" --namespace "$namespace" \
    --name "$name" --type "$type"
done
