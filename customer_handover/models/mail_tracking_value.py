from odoo import models
from odoo.tools import SQL

# Indexes on Odoo's own table, dropped by the uninstall hook.
TRACKING_INDEXES = ("customer_handover_tracking_old_value_integer", "customer_handover_tracking_new_value_integer")


class MailTrackingValue(models.Model):
    _inherit = "mail.tracking.value"

    def init(self):
        # A destruction finds the tracking values that name its contacts (a many2one keeps the record's id and
        # name) batch by batch: without these, each batch would read the whole table.
        result = super().init()
        for column in ("old_value_integer", "new_value_integer"):
            self.env.cr.execute(SQL(
                "CREATE INDEX IF NOT EXISTS %s ON mail_tracking_value (%s) WHERE %s IS NOT NULL",
                SQL.identifier(f"customer_handover_tracking_{column}"), SQL.identifier(column),
                SQL.identifier(column),
            ))
        return result
