"""The addon's declarations hang together: manifest, data files, models and their access lines."""

import ast
import csv
from pathlib import Path

from lxml import etree

ADDON = Path(__file__).resolve().parents[2] / "customer_handover"
MANIFEST = ast.literal_eval((ADDON / "__manifest__.py").read_text(encoding="utf-8"))


def _declared_models():
    """(model name, file) for each model with a table that an addon file creates with _name.

    Abstract models have no table, and a class that names a model it also inherits extends it.
    """
    found = []
    for path in ADDON.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not isinstance(node, ast.ClassDef) or any(getattr(base, "attr", "") == "AbstractModel"
                                                         for base in node.bases):
                continue
            values = {
                target.id: ast.literal_eval(item.value)
                for item in node.body if isinstance(item, ast.Assign)
                for target in item.targets if getattr(target, "id", None) in ("_name", "_inherit")
            }
            inherited = values.get("_inherit", [])
            if "_name" in values and values["_name"] not in (inherited if isinstance(inherited, list) else [inherited]):
                found.append((values["_name"], path.name))
    return found


def test_manifest_declares_odoo_18_and_its_dependencies():
    assert MANIFEST["version"].startswith("18.0.")
    assert set(MANIFEST["depends"]) == {"certificate", "contacts", "mail"}
    assert set(MANIFEST["external_dependencies"]["python"]) == {"cryptography", "openpyxl", "xlsxwriter", "pyrage"}
    assert MANIFEST["license"] == "LGPL-3"


def test_every_listed_file_exists_and_parses():
    for name in MANIFEST["data"] + MANIFEST["demo"]:
        path = ADDON / name
        assert path.is_file(), f"{name} is listed in the manifest but missing"
        if path.suffix == ".xml":
            assert etree.parse(str(path)).getroot().tag == "odoo", name


def test_every_data_file_is_listed():
    listed = set(MANIFEST["data"] + MANIFEST["demo"])
    for folder in ("data", "demo", "security", "views", "wizard"):
        for path in (ADDON / folder).glob("*.xml" if folder == "wizard" else "*.*"):
            assert f"{folder}/{path.name}" in listed, f"{folder}/{path.name} is not in the manifest"


def test_every_model_has_access_lines_for_addon_groups_only():
    with (ADDON / "security" / "ir.model.access.csv").open(encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    covered = {row["model_id:id"] for row in rows}
    declared = _declared_models()
    assert {"customer.handover", "customer.handover.event"} <= {model for model, _file in declared}
    for model, filename in declared:
        assert f"model_{model.replace('.', '_')}" in covered, f"{model} ({filename}) has no access line"
    groups = {"group_handover_user", "group_handover_manager", "group_data_protection_officer"}
    assert {row["group_id:id"] for row in rows} <= groups, "an access line is granted outside the addon's groups"


def test_no_access_line_lets_a_plain_user_delete_consents():
    with (ADDON / "security" / "ir.model.access.csv").open(encoding="utf-8") as handle:
        rows = [row for row in csv.DictReader(handle) if row["model_id:id"] == "model_customer_consent"]
    assert {row["group_id:id"] for row in rows if row["perm_unlink"] == "1"} == {"group_data_protection_officer"}


def test_record_rules_are_not_updatable():
    root = etree.parse(str(ADDON / "security" / "customer_handover_security.xml")).getroot()
    for rule in root.iter("record"):
        if rule.get("model") == "ir.rule":
            assert rule.getparent().get("noupdate") == "1", rule.get("id")


def test_tools_import_nothing_from_odoo():
    for path in (ADDON / "tools").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                names = [node.module or ""]
            else:
                continue
            assert not any(name.split(".")[0] == "odoo" for name in names), f"{path.name} imports Odoo"
