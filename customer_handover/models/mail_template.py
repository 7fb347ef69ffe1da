from lxml import html
from markupsafe import Markup

from odoo import api, models
from odoo.tools import safe_eval
from odoo.tools.rendering_tools import parse_inline_template

# The models whose templates render thousands of records in one call (a batch of a notice run).
BATCH_RENDERED = ("customer.handover.notice",)


class MailTemplate(models.Model):
    """A notice run renders its template for a batch of customers: compiled once per call, not per customer.

    Odoo's ``_render_template_qweb`` compiles the body again for every record (a parsed tree is never cached), and
    ``_render_template_inline_template`` compiles each ``{{ }}`` expression of the subject, the sender and the
    language again for every record: most of a run's time. The same compiled code, run per record on the same
    values, gives the same text; everything else (values, options) is Odoo's, and a failure is left to Odoo's own
    rendering, which reports it.
    """

    _inherit = "mail.template"

    @api.model
    def _render_template_qweb(self, template_src, model, res_ids, add_context=None, options=None):
        restricted = (not self._unrestricted_rendering and not self.env.is_admin()
                      and not self.env.user.has_group("mail.group_mail_template_editor"))
        if (model not in BATCH_RENDERED or restricted or not template_src or len(res_ids or ()) < 2
                or not self._has_unsafe_expression_template_qweb(template_src, model)):
            return super()._render_template_qweb(template_src, model, res_ids, add_context=add_context,
                                                 options=options)
        variables = self._render_eval_context()
        if add_context:
            variables.update(**add_context)
        options = options or {}
        results = {}
        compiled = None
        for record in self.env[model].browse(res_ids):
            variables["object"] = record
            try:
                # ir.qweb._render, the compilation kept for the next records
                values = variables.copy()
                qweb = self.env["ir.qweb"].with_context(**options)._prepare_environment(values)
                safe_eval.check_values(values)
                if compiled is None:
                    functions, name = qweb._compile(html.fragment_fromstring(template_src, create_parent="div"))
                    compiled = functions[name]
                # the <div> wrapping the nodes into one is removed, as Odoo does
                results[record.id] = Markup("".join(compiled(qweb, values)))[5:-6]
            except Exception:  # Odoo's own rendering raises its own error, or renders alike
                return super()._render_template_qweb(template_src, model, res_ids, add_context=add_context,
                                                     options=options)
        return results

    @api.model
    def _render_template_inline_template(self, template_txt, model, res_ids, add_context=None, options=None):
        restricted = (not self._unrestricted_rendering and not self.env.is_admin()
                      and not self.env.user.has_group("mail.group_mail_template_editor"))
        if (model not in BATCH_RENDERED or restricted or not template_txt or len(res_ids or ()) < 2
                or not self._has_unsafe_expression_template_inline_template(str(template_txt), model)):
            return super()._render_template_inline_template(template_txt, model, res_ids, add_context=add_context,
                                                            options=options)
        variables = self._render_eval_context()
        if add_context:
            variables.update(**add_context)
        try:
            # safe_eval's own check of each expression, once: the same code it would compile for every record
            parts = [(string, expression and safe_eval.test_expr(expression, safe_eval._SAFE_OPCODES), default)
                     for string, expression, default in parse_inline_template(str(template_txt))]
            results = {}
            for record in self.env[model].browse(res_ids):
                variables["object"] = record
                text = []
                for string, code, default in parts:
                    text.append(string)
                    if code:
                        # safe_eval's evaluation: a copy of the values, checked, with its builtins
                        values = dict(variables)
                        safe_eval.check_values(values)
                        values["__builtins__"] = dict(safe_eval._BUILTINS)
                        result = safe_eval.unsafe_eval(code, values) or default
                        if result:
                            text.append(str(result))
                results[record.id] = "".join(text)
        except Exception:  # Odoo's own rendering raises its own error, or renders alike
            return super()._render_template_inline_template(template_txt, model, res_ids, add_context=add_context,
                                                            options=options)
        return results
