import { registry } from "@web/core/registry";
import { waitUntil } from "@odoo/hoot-dom";
import { chooseChannel, headerButton, signSteps } from "@customer_handover/../tests/tours/tour_utils";

/** The manager sends the receiving party's representative a personal link from the sign wizard. */
registry.category("web_tour.tours").add("customer_handover_send_link_tour", {
    steps: () => [
        { trigger: ".o_field_widget[name=signature_status]:contains(1 of 2 signed)" },
        { content: "second signature", trigger: headerButton("action_open_sign"), run: "click" },
        {
            content: "the receiving party signs from its own link by default",
            trigger: ".modal .o_field_widget[name=channel] input[data-value=link]:checked",
        },
        {
            content: "to its representative's email",
            trigger: ".modal .o_field_widget[name=link_email]:contains(li.daibiao@receiver.example.cn)",
        },
        { trigger: ".modal .alert-info:contains(one-time code)" },
        { content: "send the link", trigger: ".modal button[name=action_send_link]", run: "click" },
        { content: "it says where it went", trigger: ".o_notification:contains(Signing link sent to)" },
        { trigger: "body:not(:has(.modal))" },
    ],
});

/** The representative opens the link and asks for the code, which goes to their email. */
registry.category("web_tour.tours").add("customer_handover_remote_code_tour", {
    steps: () => [
        { content: "the link names the handover", trigger: "h2:contains(Customer handover)" },
        { content: "the checklist stays closed", trigger: "body:not(:has(.o_customer_handover_sign_lines))" },
        { content: "ask for the code", trigger: "button[name=send_code]", run: "click" },
        { content: "it went to the email, masked", trigger: ".alert-info:contains(A code was sent to li***)" },
    ],
});

/** The representative enters the code they received, reads the checklist, draws and signs. */
registry.category("web_tour.tours").add("customer_handover_remote_sign_tour", {
    steps: () => [
        {
            content: "enter the code from the email",
            trigger: "input[name=code]",
            run: `edit ${decodeURIComponent(window.location.hash.split("code=")[1] || "")}`,
        },
        { content: "open the checklist", trigger: "button[name=verify_code]", run: "click" },
        { content: "the checklist summary", trigger: ".o_customer_handover_sign_lines td:contains(Tour Customer A)" },
        { content: "the record to sign", trigger: "a[href*='/record?access_token=']" },
        { content: "sign", trigger: ".o_customer_handover_sign_open", run: "click" },
        {
            content: "the representative's name is filled in and drawn",
            trigger: ".modal.show canvas.o_web_sign_signature",
            async run(helpers) {
                await waitUntil(() => {
                    const context = helpers.anchor.getContext("2d");
                    const pixels = context.getImageData(0, 0, helpers.anchor.width, helpers.anchor.height).data;
                    return pixels.some((value) => value !== 0);
                });
            },
        },
        { content: "sign", trigger: ".modal.show .o_portal_sign_submit:enabled", run: "click" },
        { content: "recorded", trigger: ".o_customer_handover_sign_done h2:contains(Thank you)" },
    ],
});

/** Both parties are present: the user chooses in person explicitly and is recorded as the witness. */
registry.category("web_tour.tours").add("customer_handover_in_person_tour", {
    steps: () => [
        { trigger: ".o_field_widget[name=signature_status]:contains(1 of 2 signed)" },
        { content: "second signature", trigger: headerButton("action_open_sign"), run: "click" },
        { trigger: ".modal .o_field_widget[name=channel] input[data-value=link]:checked" },
        chooseChannel("user"),
        {
            content: "the same user cannot sign the other side as themself",
            trigger: ".modal .alert-danger:contains(You already signed for the other party)",
        },
        chooseChannel("in_person"),
        { content: "recorded as witnessed", trigger: ".modal .alert-warning:contains(witnessed by you)" },
        ...signSteps("李代表"),
        { trigger: ".o_field_widget[name=signature_status]:contains(2 of 2 signed)" },
        { content: "the sign-off tab", trigger: "a.nav-link:contains(Sign-off)", run: "click" },
        {
            content: "how each side signed",
            trigger: ".o_field_widget[name=receiver_sign_note]:contains(Signed in person, witnessed by Tour Manager)",
        },
        { trigger: ".o_field_widget[name=transfer_sign_note]:contains(Signed in Odoo by Tour Manager)" },
    ],
});
