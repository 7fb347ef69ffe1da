import { registry } from "@web/core/registry";

const state = (label) => `.o_field_widget[name=state] .o_arrow_button_current:contains(${label})`;

/** An officer chooses the basis of a destruction and requests it; the customer on legal hold is held back. */
registry.category("web_tour.tours").add("customer_destruction_request_tour", {
    steps: () => [
        { trigger: state("Draft") },
        {
            content: "the basis",
            trigger: ".o_field_widget[name=basis] select",
            run: 'select "retention_expired"',
        },
        { content: "request", trigger: "button[name=action_request]", run: "click" },
        { content: "requested", trigger: state("Requested") },
        {
            content: "its requester is not offered Approve (four eyes), but may still refuse it",
            trigger: ".o_form_view:has(button[name=action_refuse]):not(:has(button[name=action_approve]))",
        },
        { content: "who is held back", trigger: ".o_notebook a:contains(Held Back)", run: "click" },
        { content: "and why", trigger: ".o_field_widget[name=hold_ids] td:contains(On legal hold)" },
    ],
});

/** A second officer approves it, confirming that what it destroys cannot be recovered. */
registry.category("web_tour.tours").add("customer_destruction_approve_tour", {
    steps: () => [
        { trigger: state("Requested") },
        { content: "approve", trigger: "button[name=action_approve]", run: "click" },
        { content: "confirm", trigger: ".modal-footer button.btn-primary", run: "click" },
        { content: "it runs in the background", trigger: state("Running") },
    ],
});

/** Once run, the request shows its records and its signed certificate. */
registry.category("web_tour.tours").add("customer_destruction_done_tour", {
    steps: () => [
        { trigger: state("Done") },
        { content: "the certificate", trigger: ".o_field_widget[name=certificate_attachment_id]" },
        { content: "downloaded through its step", trigger: "button[name=action_download_certificate]" },
        { content: "one customer destroyed", trigger: "button[name=action_open_records]:contains(1)", run: "click" },
        { content: "its masked identity", trigger: ".o_data_row td:contains(Z.W.)" },
    ],
});
