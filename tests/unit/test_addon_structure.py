"""The addon's declarations hang together: manifest, data files, models and their access lines."""

import ast
import csv
import re
import sys
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


def _third_party_imports():
    """{top-level module: files} of what the addon's Python imports from outside the standard library and Odoo."""
    found = {}
    for path in ADDON.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and not node.level:
                names = [node.module]
            else:
                continue
            for name in names:
                top = name.split(".")[0]
                if top not in sys.stdlib_module_names and top != "odoo":
                    found.setdefault(top, set()).add(path.name)
    return found


def _install_requires():
    """The distribution names setup.py installs, read from its source."""
    tree = ast.parse((ADDON.parent / "setup.py").read_text(encoding="utf-8"))
    (requires,) = [keyword.value for node in ast.walk(tree) if isinstance(node, ast.Call)
                   for keyword in node.keywords if keyword.arg == "install_requires"]
    return {re.split(r"[<>=!~ ;\[]", ast.literal_eval(item))[0].lower() for item in requires.elts}


def _addon_texts():
    for path in ADDON.rglob("*"):
        if path.suffix in (".py", ".xml", ".csv") and "__pycache__" not in path.parts:
            yield path, path.read_text(encoding="utf-8")


def test_version_is_odoo_18_and_not_older_than_a_migration():
    assert re.fullmatch(r"18\.0\.\d+\.\d+\.\d+", MANIFEST["version"]), MANIFEST["version"]
    version = tuple(map(int, MANIFEST["version"].split(".")))
    for folder in (ADDON / "migrations").iterdir():
        # Odoo runs a migration only when the installed version is below it and the manifest's reaches it
        assert tuple(map(int, folder.name.split("."))) <= version, f"migration {folder.name} would never run"


def test_external_dependencies_are_what_the_code_imports_and_setup_installs():
    imported = _third_party_imports()
    declared = set(MANIFEST["external_dependencies"]["python"])
    assert declared <= set(imported), f"declared but never imported: {sorted(declared - set(imported))}"
    # Odoo's own modules import dateutil at startup: Odoo never starts without it
    assert set(imported) - declared <= {"dateutil"}, f"imported, not declared: {sorted(set(imported) - declared)}"
    distributions = {"dateutil": "python-dateutil"}
    assert {distributions.get(name, name) for name in imported} == _install_requires(), "setup.py install_requires"


def test_license_is_the_one_setup_publishes():
    tree = ast.parse((ADDON.parent / "setup.py").read_text(encoding="utf-8"))
    (license_,) = [ast.literal_eval(keyword.value) for node in ast.walk(tree) if isinstance(node, ast.Call)
                   for keyword in node.keywords if keyword.arg == "license"]
    assert MANIFEST["license"] == license_


def test_every_dependency_is_used_and_every_reference_is_to_a_dependency():
    texts = list(_addon_texts())
    for module in MANIFEST["depends"]:
        # an xml id of the module (contacts.menu_contacts) or one of its models (mail.thread, certificate.key)
        assert any(re.search(rf"[\"'=]{module}\.[a-z]", text) for _path, text in texts), f"{module} is never used"
    referenced = {
        match: path.name for path, text in texts for match in re.findall(
            r"""(?:\bref=|inherit_id=|parent=|groups=|\.ref\(|action=)["']([a-z_0-9]+)\.[a-z_0-9]+""", text)
    }
    # base and web come with every dependency
    unknown = set(referenced) - {*MANIFEST["depends"], "base", "web", "customer_handover"}
    assert not unknown, f"xml ids of modules not in depends: {[(name, referenced[name]) for name in unknown]}"


def test_every_listed_file_exists_and_parses():
    listed = MANIFEST["data"] + MANIFEST["demo"]
    assert len(listed) == len(set(listed)), "a file is listed twice"
    for name in listed:
        path = ADDON / name
        assert path.is_file(), f"{name} is listed in the manifest but missing"
        if path.suffix == ".xml":
            assert etree.parse(str(path)).getroot().tag == "odoo", name
    assert all(name.startswith("demo/") for name in MANIFEST["demo"]), "demo data outside demo/"
    assert not any(name.startswith("demo/") for name in MANIFEST["data"]), "demo data loaded as data"
    # access lines and groups first: the views and rules after them refer to the groups
    assert MANIFEST["data"][:2] == ["security/customer_handover_security.xml", "security/ir.model.access.csv"]


def test_every_data_file_is_listed():
    listed = set(MANIFEST["data"] + MANIFEST["demo"])
    present = {
        path.relative_to(ADDON).as_posix() for path in ADDON.rglob("*")
        if path.suffix in (".xml", ".csv") and not {"static", "i18n", "migrations"} & set(path.relative_to(ADDON).parts)
    }
    assert present - listed == set(), "files Odoo never loads"


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
