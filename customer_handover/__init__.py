from odoo.tools import SQL

from . import controllers
from . import models
from . import report
from . import wizard
from .models.res_partner_handover_match import PARTNER_INDEXES


def uninstall_hook(env):
    """Drop the indexes res.partner's init() added to Odoo's own table: Odoo drops the addon's columns only."""
    for name in PARTNER_INDEXES:
        env.cr.execute(SQL("DROP INDEX IF EXISTS %s", SQL.identifier(name)))
