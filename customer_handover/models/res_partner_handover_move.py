from odoo import models
from odoo.tools import SQL

from .customer_handover_evidence_mixin import evidence_step
from .res_partner import MOVE_FIELDS


class ResPartner(models.Model):
    _inherit = "res.partner"

    def _handover_move(self, from_company, company, user, policies, now):
        """Move these partners of ``from_company`` to ``user`` and to ``company``, in one statement per table.

        ``company`` is None when they stay in their company (a team handover); ``policies`` maps the retention
        policies to the receiving company's. The caller, a handover's move, checked that the user may write them.
        """
        ids = self.ids
        cr = self.env.cr
        self.env.flush_all()
        # The former salesperson, and in a company move every internal user without access to the receiving
        # company, stop following; the receiving user follows.
        cr.execute(SQL(
            """DELETE FROM mail_followers f USING res_partner p
                WHERE f.res_model = 'res.partner' AND f.res_id = p.id AND p.id = ANY(%(ids)s)
                  AND f.partner_id != %(keep)s
                  AND (EXISTS (SELECT 1 FROM res_users u WHERE u.id = p.user_id AND u.partner_id = f.partner_id)
                       OR (%(company)s IS NOT NULL AND EXISTS (
                           SELECT 1 FROM res_users u WHERE u.partner_id = f.partner_id AND NOT u.share
                              AND NOT EXISTS (SELECT 1 FROM res_company_users_rel r
                                               WHERE r.user_id = u.id AND r.cid = %(company)s))))""",
            ids=ids, keep=user.partner_id.id, company=company.id if company else None,
        ))
        self.env["mail.followers"].invalidate_model()
        # sudo: the move checked the user's right to write these partners; followers are the system's to keep
        self.sudo().message_subscribe(partner_ids=user.partner_id.ids)
        cr.execute(SQL(
            """UPDATE mail_activity SET user_id = %(user)s, user_tz = %(tz)s, write_uid = %(uid)s, write_date = %(now)s
                WHERE res_model = 'res.partner' AND res_id = ANY(%(ids)s) AND active
                  AND user_id IS DISTINCT FROM %(user)s""",
            user=user.id, tz=user.tz, uid=self.env.uid, now=now, ids=ids,
        ))
        self.env["mail.activity"].invalidate_model(["user_id", "user_tz", "write_uid", "write_date"])
        policy_case = SQL("retention_policy_id")
        if policies:
            policy_case = SQL("CASE %s ELSE retention_policy_id END", SQL(" ").join(
                SQL("WHEN retention_policy_id = %s THEN %s", source, mapped) for source, mapped in policies.items()
            ))
        # One statement for the batch: each row keeps its own former salesperson as evidence. Odoo's partner write
        # would write each customer's contacts one customer at a time.
        with evidence_step(self._name, *MOVE_FIELDS, "retention_end_date", "retention_status"):
            cr.execute(SQL(
                """UPDATE res_partner
                      SET moved_from_company_id = %(from)s, moved_from_user_id = user_id,
                          company_id = COALESCE(%(company)s, company_id), user_id = %(user)s,
                          retention_policy_id = %(policy)s,
                          moved_on = %(now)s, moved_by_id = %(uid)s, write_uid = %(uid)s, write_date = %(now)s
                    WHERE id = ANY(%(ids)s)""",
                **{"from": from_company.id}, company=company.id if company else None, user=user.id,
                policy=policy_case, now=now, uid=self.env.uid, ids=ids,
            ))
            names = ["company_id", "user_id", "retention_policy_id", *MOVE_FIELDS, "write_uid", "write_date"]
            self.invalidate_recordset(names)
            self.modified(["company_id", "user_id", "retention_policy_id"])
            self.env.flush_all()
