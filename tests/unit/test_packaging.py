"""`pip install .` puts the addon into the odoo.addons namespace, as OCA packages do."""

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
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--wheel-dir", str(wheels), str(source)],
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
    requires = [line for line in lines if line.startswith("Requires-Dist")]
    assert any("cryptography" in line for line in requires) and any("openpyxl" in line for line in requires)
