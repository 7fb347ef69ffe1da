from odoo.tools import SQL

from . import controllers
from . import models
from . import report
from . import wizard
from .models.mail_tracking_value import TRACKING_INDEXES
from .models.res_partner_handover_match import PARTNER_INDEXES


def uninstall_hook(env):
    """Drop the indexes res.partner's and mail.tracking.value's init() added to Odoo's own tables: Odoo drops the
    addon's columns only."""
    for name in (*PARTNER_INDEXES, *TRACKING_INDEXES):
        env.cr.execute(SQL("DROP INDEX IF EXISTS %s", SQL.identifier(name)))
