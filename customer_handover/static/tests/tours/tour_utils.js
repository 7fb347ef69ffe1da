import { waitUntil } from "@odoo/hoot-dom";

/** Draw the signature of the dialog that is open: its name is typed, then adopted. */
export function signSteps(signer) {
    return [
        {
            content: "the wizard offers the side still to sign and checks the name before anything is drawn",
            trigger: signer ? ".modal .o_field_widget[name=signer] input" : ".modal .o_field_widget[name=signer]",
            run: signer ? `edit ${signer} && press Tab` : () => {},
        },
        { content: "nothing to put right", trigger: ".modal:not(:has(.alert-danger))" },
        {
            content: "open the signature pad",
            trigger: ".modal .o_field_widget[name=signature] .o_signature",
            run: "click",
        },
        {
            content: "the typed name is drawn",
            trigger: ".modal canvas.o_web_sign_signature",
            async run(helpers) {
                await waitUntil(() => {
                    const context = helpers.anchor.getContext("2d");
                    const pixels = context.getImageData(0, 0, helpers.anchor.width, helpers.anchor.height).data;
                    return pixels.some((value) => value !== 0);
                });
            },
        },
        {
            content: "adopt the signature",
            trigger: ".modal .modal-footer button.btn-primary:enabled:not([name])",
            run: "click",
        },
        {
            content: "sign",
            trigger: ".modal:not(:has(canvas)) button[name=action_sign]",
            run: "click",
        },
        {
            content: "the form shows the signature at once",
            trigger: "body:not(:has(.modal))",
        },
    ];
}

/** Choose how the representative signs in the sign wizard: user, link or in_person. */
export function chooseChannel(channel) {
    return {
        content: `signing channel: ${channel}`,
        trigger: `.modal .o_field_widget[name=channel] input[data-value=${channel}]`,
        run: "click",
    };
}

/** A button of the form's status bar. */
export function headerButton(name) {
    return `.o_form_view .o_statusbar_buttons button[name=${name}]`;
}
