# Source this: puts the project venv first on PATH so tch's build finds torch 2.11.0.
_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export PATH="$_root/.venv/bin:$PATH"
export LIBTORCH_USE_PYTORCH=1
export LD_LIBRARY_PATH="$_root/.venv/torch-lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
unset _root
