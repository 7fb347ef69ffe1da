"""Entries logged before hash versions existed are version 1: their hash is the one version 1 defines.

Set here, before the ORM adds the column, so that a later default never reaches them. Only the new column
is written: no text an entry's hash covers, and no hash, changes.
"""

from odoo.tools import SQL


def migrate(cr, version):
    cr.execute(SQL("ALTER TABLE customer_handover_event ADD COLUMN IF NOT EXISTS hash_version integer"))
    cr.execute(SQL("UPDATE customer_handover_event SET hash_version = 1 WHERE hash_version IS NULL"))
