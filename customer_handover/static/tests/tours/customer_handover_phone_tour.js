import { registry } from "@web/core/registry";

registry.category("web_tour.tours").add("customer_handover_phone_tour", {
    steps: () => [
        {
            content: "on a phone the checklist is a list of cards",
            trigger: ".o_field_widget[name=checklist_line_ids] .o_kanban_record:contains(Tour Customer A)",
        },
        { content: "no table scrolling sideways", trigger: "body:not(:has(.o_field_widget[name=checklist_line_ids] table))" },
        {
            content: "the lines to verify, as cards",
            trigger: ".o_kanban_view .o_kanban_record:contains(Tour Customer B)",
            run: "goToUrl /odoo/action-customer_handover.customer_handover_line_action",
        },
        {
            content: "verify one from its card",
            trigger: ".o_kanban_record:contains(Tour Customer A) button[name=action_verify]",
            run: "click",
        },
        { trigger: ".o_kanban_record:contains(Tour Customer A) .o_field_widget[name=state]:contains(Verified)" },
        { content: "open a card", trigger: ".o_kanban_record:contains(Tour Customer B)", run: "click" },
        { content: "its form", trigger: ".o_form_view .o_field_widget[name=snapshot_contact]:contains(tour.example.cn)" },
        { trigger: ".o_form_view .o_statusbar_buttons, .o_form_view .o_cp_action_menus" },
    ],
});
