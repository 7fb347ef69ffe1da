# Sourced by scripts/demo and scripts/test: finds the Odoo 18 that PYTHON imports.
# shellcheck shell=bash

PYTHON=${PYTHON:-python3}
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

# True when PYTHON imports an Odoo 18.0.
odoo18_present() {
    "$PYTHON" -c 'import sys, odoo.release as r; sys.exit(r.version_info[:2] != (18, 0))' 2>/dev/null
}

# Odoo's own addons folders (a source checkout keeps them beside the odoo package), then this repository.
odoo_addons_path() {
    "$PYTHON" - "$REPO" <<'PY'
import os, sys
import odoo
package = os.path.dirname(os.path.abspath(odoo.__file__))
paths = [p for p in (os.path.join(os.path.dirname(package), "addons"), os.path.join(package, "addons")) if os.path.isdir(p)]
print(",".join(paths + [sys.argv[1]]))
PY
}
