"""Helpers that need no Odoo: used by the models and testable anywhere."""
