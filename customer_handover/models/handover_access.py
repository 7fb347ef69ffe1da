"""The addon's groups by xml id, and the one access check its steps share.

Kept here, not in ``tools/`` (no Odoo import there), because the check needs the environment; a plain
function, not a model method, because it is no record's behaviour and must not be reachable over RPC.
"""

from odoo.exceptions import AccessError

USER = "customer_handover.group_handover_user"
MANAGER = "customer_handover.group_handover_manager"
OFFICER = "customer_handover.group_data_protection_officer"


def check_group_in_company(env, group, company, message):
    """Raise ``AccessError(message)`` unless the user has ``group`` and ``company`` is one of the user's."""
    if not env.user.has_group(group) or company not in env.user.company_ids:
        raise AccessError(message)
