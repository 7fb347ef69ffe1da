"""The addon's groups by xml id, and the one access test its steps share.

Kept here, not in ``tools/`` (no Odoo import there), because the test needs the environment; a plain
function, not a model method, because it is no record's behaviour and must not be reachable over RPC.
"""

USER = "customer_handover.group_handover_user"
MANAGER = "customer_handover.group_handover_manager"
OFFICER = "customer_handover.group_data_protection_officer"


def has_group_in_company(env, group, company):
    """Whether the user has ``group`` and ``company`` is one of the user's companies.

    A test, not a check that raises: each step raises its own message, built only when it refuses (building it
    reads the company's name, a query on a batch path).
    """
    return env.user.has_group(group) and company in env.user.company_ids
