# Sourced by every bin/* entry point as: source .../bin/lib/ops.sh <group>/<command> "$@"
# Runs that command of devtools/ops with the repository's .venv python, from any working directory.
ops_root="$(cd "$(dirname "$(realpath "${BASH_SOURCE[0]}")")/../.." && pwd)"
ops_python="$ops_root/.venv/bin/python"
if [[ ! -x "$ops_python" ]]; then
  echo "${1}: error: $ops_python is missing; run make install" >&2
  exit 1
fi
# -P: never import from the caller's working directory; the repository root is the only addition.
PYTHONPATH="$ops_root${PYTHONPATH:+:$PYTHONPATH}" exec "$ops_python" -P -m devtools.ops "$@"
