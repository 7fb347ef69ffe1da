from odoo import http, models
from odoo.http import request


class IrHttp(models.AbstractModel):
    _inherit = "ir.http"

    @classmethod
    def _pre_dispatch(cls, rule, args):
        """Refuse this addon's requests announcing a body over their route's limit, before the body is read.

        Werkzeug 2.2 applies ``max_content_length`` to forms only: a JSON route would read any body first.
        """
        result = super()._pre_dispatch(rule, args)
        limit = rule.endpoint.routing.get("max_content_length")
        length = request.httprequest.content_length
        if limit and length and length > limit and request.httprequest.path.startswith("/customer_handover/"):
            # werkzeug comes with Odoo (odoo.http is built on it): the same 413 a form over its limit gets
            raise http.werkzeug.exceptions.RequestEntityTooLarge()
        return result
