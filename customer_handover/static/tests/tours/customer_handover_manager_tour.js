import { registry } from "@web/core/registry";
import { chooseChannel, headerButton, signSteps } from "@customer_handover/../tests/tours/tour_utils";

registry.category("web_tour.tours").add("customer_handover_manager_tour", {
    steps: () => [
        { content: "a new handover", trigger: ".o_list_button_add", run: "click" },
        { content: "not yet numbered", trigger: ".oe_title h1:contains(New Handover)" },
        {
            content: "receiving party",
            trigger: ".o_field_widget[name=receiver_id] input",
            run: "edit Tour Receiver",
        },
        { trigger: ".o-autocomplete--dropdown-item:contains(Tour Receiver Co.)", run: "click" },
        {
            content: "what the receiver will use the data for",
            trigger: ".o_field_widget[name=purpose_ids] input",
            run: "edit Customer service",
        },
        { trigger: ".o-autocomplete--dropdown-item:contains(Customer service)", run: "click" },
        { content: "save", trigger: ".o_form_button_save", run: "click" },
        { content: "numbered on save", trigger: ".oe_title h1 .o_field_widget[name=name]:contains(HO/)" },
        { content: "select customers", trigger: headerButton("action_select_customers"), run: "click" },
        {
            content: "without a condition the wizard asks for one",
            trigger: ".modal .alert-warning:contains(No condition is set)",
        },
        {
            trigger: ".modal .o_field_widget[name=business_domain_ids] input",
            run: "edit Tour domain",
        },
        { trigger: ".o-autocomplete--dropdown-item:contains(Tour domain)", run: "click" },
        { content: "the preview counts", trigger: ".modal .o_field_widget[name=total_count]:contains(3)" },
        {
            content: "a count lists the contacts behind it",
            trigger: ".modal button[name=action_show_partners]:contains(ineligible)",
            run: "click",
        },
        {
            trigger: ".modal .o_field_widget[name=shown_partner_ids] .o_data_row:contains(Tour No Consent)",
        },
        { content: "add them", trigger: ".modal button[name=action_confirm]", run: "click" },
        {
            content: "pending lines on the checklist",
            trigger: ".o_field_widget[name=checklist_line_ids] .o_data_row:contains(Tour Customer A)",
        },
        { content: "confirm", trigger: headerButton("action_confirm"), run: "click" },
        { trigger: ".o_statusbar_status button.o_arrow_button_current:contains(Confirmed)" },
        { content: "the agreement", trigger: "a.nav-link:contains(Confidentiality Agreement)", run: "click" },
        { trigger: ".o_field_widget[name=nda_reference] input", run: "edit NDA-TOUR-1" },
        { trigger: ".o_field_widget[name=nda_date] input", run: "edit 11/01/2026 && press Enter" },
        {
            content: "attach the signed agreement",
            trigger: ".o_field_widget[name=nda_document]",
            run() {
                const input = this.anchor.querySelector("input[type=file]");
                const transfer = new DataTransfer();
                transfer.items.add(new File(["signed agreement"], "nda.pdf", { type: "application/pdf" }));
                input.files = transfer.files;
                input.dispatchEvent(new Event("change", { bubbles: true }));
            },
        },
        { trigger: ".o_field_widget[name=nda_document] input:value(nda.pdf)" },
        { content: "start", trigger: headerButton("action_start"), run: "click" },
        { trigger: ".o_statusbar_status button.o_arrow_button_current:contains(In progress)" },
        { content: "the pending smart button counts", trigger: ".oe_stat_button:contains(Pending):contains(2)" },
        { content: "verify all pending", trigger: headerButton("action_verify_all_pending"), run: "click" },
        { content: "it says what it did", trigger: ".o_notification:contains(2 pending lines verified)" },
        { trigger: ".oe_stat_button:contains(Verified):contains(2)" },
        { content: "finish the verification", trigger: headerButton("action_mark_verified"), run: "click" },
        { trigger: ".o_statusbar_status button.o_arrow_button_current:contains(Verified)" },
        { trigger: ".o_field_widget[name=signature_status]:contains(0 of 2 signed)" },
        { content: "first signature", trigger: headerButton("action_open_sign"), run: "click" },
        { content: "the transferring side signs as the logged-in user", trigger: ".modal .o_field_widget[name=channel] input[data-value=user]:checked" },
        { trigger: ".modal .o_field_widget[name=signer]:contains(Tour Manager)" },
        ...signSteps(null),
        { trigger: ".o_field_widget[name=signature_status]:contains(1 of 2 signed)" },
        { content: "second signature", trigger: headerButton("action_open_sign"), run: "click" },
        { content: "only the receiving side is left", trigger: ".modal .o_field_widget[name=side]:contains(Receiving party)" },
        { content: "the receiving party signs from its link by default", trigger: ".modal .o_field_widget[name=channel] input[data-value=link]:checked" },
        { content: "both parties are here: in person, chosen explicitly", ...chooseChannel("in_person") },
        { trigger: ".modal .alert-danger:contains(Enter the representative's name)" },
        ...signSteps("李代表"),
        { trigger: ".o_field_widget[name=signature_status]:contains(2 of 2 signed)" },
        { content: "seal the signed checklist", trigger: headerButton("action_export_checklist"), run: "click" },
        { content: "the export shows at once", trigger: ".modal .o_field_widget[name=number]:contains(1)" },
        { trigger: ".modal .btn-close", run: "click" },
        { content: "and the form counts it", trigger: ".oe_stat_button:contains(Signed Exports):contains(1)" },
        { content: "complete", trigger: headerButton("action_done"), run: "click" },
        { trigger: ".o_statusbar_status button.o_arrow_button_current:contains(Done)" },
    ],
});
