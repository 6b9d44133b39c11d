# Sourced by scripts/run and scripts/test: make .venv and install the project into it.
# Usage: . scripts/_venv.sh [extras]   (e.g. "test")
set -euo pipefail
extras="${1:-}"
python_bin="${PYTHON:-}"
if [ -z "$python_bin" ]; then
  for candidate in python3.11 python3; do
    if command -v "$candidate" >/dev/null 2>&1; then python_bin=$candidate; break; fi
  done
fi
if [ -z "$python_bin" ]; then
  echo "Switchboard needs Python 3.11 or newer (python3.11 or python3 on PATH)." >&2
  exit 1
fi
if ! "$python_bin" -c 'import sys; sys.exit(sys.version_info < (3, 11))'; then
  echo "Switchboard needs Python 3.11 or newer; $python_bin is $("$python_bin" --version 2>&1)." >&2
  exit 1
fi
if [ ! -x .venv/bin/python ]; then
  if ! "$python_bin" -m venv .venv 2>/dev/null; then
    rm -rf .venv
    # Debian ships venv/ensurepip separately.
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
      echo "Installing python3-venv (Debian keeps venv in its own package)..." >&2
      apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv >/dev/null
      "$python_bin" -m venv .venv
    else
      echo "Cannot create a virtualenv. On Debian/Ubuntu: sudo apt-get install python3-venv" >&2
      exit 1
    fi
  fi
fi
# Reinstall only when the dependency list or the requested extras changed.
spec="$(cat pyproject.toml)|$extras"
stamp=".venv/.switchboard-installed"
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$(printf '%s' "$spec" | sha256sum | cut -d' ' -f1)" ]; then
  echo "Installing Switchboard and its dependencies into .venv ..." >&2
  .venv/bin/python -m pip install -q --disable-pip-version-check --upgrade pip
  target="."
  [ -n "$extras" ] && target=".[$extras]"
  .venv/bin/python -m pip install -q --disable-pip-version-check -e "$target"
  printf '%s' "$spec" | sha256sum | cut -d' ' -f1 > "$stamp"
fi
