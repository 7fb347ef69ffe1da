"""Loads the addon's Odoo-free helpers without importing the addon, which would import Odoo."""

import importlib.util
import sys
from pathlib import Path

ADDON = Path(__file__).resolve().parents[2] / "customer_handover"


def _load_tools():
    tools = ADDON / "tools"
    spec = importlib.util.spec_from_file_location(
        "customer_handover_tools", tools / "__init__.py", submodule_search_locations=[str(tools)]
    )
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)


_load_tools()
