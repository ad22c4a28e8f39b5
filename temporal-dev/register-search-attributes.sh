#!/usr/bin/env bash
# Registers agora-flow's namespace and search attributes on a Temporal cluster.
# Usage: register-search-attributes.sh HOST:PORT NAMESPACE
set -euo pipefail
address=${1:?HOST:PORT}
namespace=${2:?NAMESPACE}
here=$(cd "$(dirname "$0")/.." && pwd)
cd "$here"
temporal=${TEMPORAL:-$here/.venv/bin/temporal}
"$temporal" operator namespace create --address "$address" --namespace "$namespace" || true
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
