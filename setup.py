"""Packages the addon into the ``odoo.addons`` namespace, as OCA packages do."""

import ast
from pathlib import Path

from setuptools import setup

ADDON = "customer_handover"
# The Odoo-free helpers, also installed as a top-level package so the console commands run without Odoo.
TOOLS = "customer_handover_tools"
ROOT = Path(__file__).resolve().parent
MANIFEST = ast.literal_eval((ROOT / ADDON / "__manifest__.py").read_text(encoding="utf-8"))


def addon_packages():
    """Every Python package of the addon, named inside odoo.addons."""
    return sorted(
        "odoo.addons." + ".".join(init.parent.relative_to(ROOT).parts)
        for init in (ROOT / ADDON).rglob("__init__.py")
    )


def tools_packages():
    """The Odoo-free helpers and their subpackages, named inside the top-level tools package."""
    tools = ROOT / ADDON / "tools"
    return sorted(".".join((TOOLS, *init.parent.relative_to(tools).parts)) for init in tools.rglob("__init__.py"))


def addon_data_files():
    """Every non-Python file of the addon (views, data, translations, icons), relative to it."""
    return sorted(
        str(path.relative_to(ROOT / ADDON))
        for path in (ROOT / ADDON).rglob("*")
        if path.is_file() and "__pycache__" not in path.parts
        # migration scripts are Python files Odoo runs, not modules of a package
        and (path.suffix not in (".py", ".pyc") or "migrations" in path.parts)
    )


setup(
    name=f"odoo-addon-{ADDON.replace('_', '-')}",
    version=MANIFEST["version"],
    description=MANIFEST["summary"],
    long_description=(ROOT / "README.md").read_text(encoding="utf-8"),
    long_description_content_type="text/markdown",
    author=MANIFEST["author"],
    url=MANIFEST["website"],
    license="LGPL-3",
    python_requires=">=3.10",
    package_dir={f"odoo.addons.{ADDON}": ADDON, TOOLS: f"{ADDON}/tools"},
    packages=[*addon_packages(), *tools_packages()],
    package_data={f"odoo.addons.{ADDON}": addon_data_files()},
    include_package_data=False,
    zip_safe=False,
    install_requires=[
        "cryptography>=3.4.8",
        # Odoo 18's own pins are the floor: lxml 4.8.0 and MarkupSafe 2.0.1 (Ubuntu 22.04)
        "lxml>=4.8.0",
        "markupsafe>=2.0.1",
        "openpyxl>=3.0.9",
        "pyrage>=1.4",
        "python-dateutil>=2.8.1",
        # The verifier is held to the writer's exact output: tested with Odoo 18's pin and the newest 3.x.
        "xlsxwriter>=3.0.2,<4",
    ],
    entry_points={
        "console_scripts": [
            f"customer-handover-verify = {TOOLS}.cli:verify_command",
            f"customer-handover-countersign = {TOOLS}.cli:countersign_command",
            f"customer-handover-keygen = {TOOLS}.cli:keygen_command",
            f"customer-handover-open = {TOOLS}.cli:open_command",
        ],
    },
    extras_require={
        "test": [
            "freezegun",
            "pylint-odoo",
            "pytest",
            "pytest-odoo",
            "ruff",
        ],
    },
    classifiers=[
        "Framework :: Odoo",
        "Framework :: Odoo :: 18.0",
        "License :: OSI Approved :: GNU Lesser General Public License v3 (LGPLv3)",
        "Programming Language :: Python :: 3",
    ],
)
