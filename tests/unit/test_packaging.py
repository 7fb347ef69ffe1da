"""`pip install .` puts the addon into the odoo.addons namespace, as OCA packages do."""

import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_wheel_holds_the_whole_addon_in_the_odoo_addons_namespace(tmp_path):
    source = tmp_path / "source"
    shutil.copytree(ROOT, source, ignore=shutil.ignore_patterns(".git", "build", "*.egg-info", "__pycache__"))
    wheels = tmp_path / "wheels"
    # setuptools and wheel of this Python build it: an isolated build would fetch them from an index
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-index", "--use-pep517",
         "--no-build-isolation", "--wheel-dir", str(wheels), str(source)],
        check=True,
    )
    (wheel,) = wheels.glob("*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    prefix = "odoo/addons/customer_handover/"
    addon_files = {
        prefix + path.relative_to(ROOT / "customer_handover").as_posix()
        for path in (ROOT / "customer_handover").rglob("*")
        if path.is_file() and "__pycache__" not in path.parts
    }
    assert addon_files <= names, f"missing from the wheel: {sorted(addon_files - names)[:5]}"
    assert "odoo/__init__.py" not in names and "odoo/addons/__init__.py" not in names, "odoo must stay a namespace"
    metadata = next(name for name in names if name.endswith(".dist-info/METADATA"))
    lines = zipfile.ZipFile(wheel).read(metadata).decode().splitlines()
    requires = {re.split(r"[<>=!~ ;(\[]", line.split(":", 1)[1].strip())[0].lower()
                for line in lines if line.startswith("Requires-Dist:") and "extra ==" not in line}
    assert requires == {"cryptography", "lxml", "markupsafe", "openpyxl", "pyrage", "python-dateutil", "xlsxwriter"}
    entry_points = next(name for name in names if name.endswith(".dist-info/entry_points.txt"))
    commands = zipfile.ZipFile(wheel).read(entry_points).decode()
    for command in ("verify", "countersign", "keygen", "open"):
        assert f"customer-handover-{command} = customer_handover_tools.cli:{command}_command" in commands
