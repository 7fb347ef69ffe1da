import { registry } from "@web/core/registry";

/** A customer opens the page their notice links to and withdraws their consent for a purpose. */
registry.category("web_tour.tours").add("customer_handover_customer_page_tour", {
    steps: () => [
        { content: "the page says who holds the data", trigger: "h2:contains(Your personal information)" },
        { content: "a purpose of the receiver", trigger: ".o_customer_page_purpose:contains(Customer service)" },
        { content: "withdraw", trigger: ".o_customer_page_purpose summary:contains(Withdraw my consent)", run: "click" },
        { content: "confirm", trigger: ".o_customer_page_confirm_withdrawal:visible", run: "click" },
        { content: "it is done at once", trigger: ".o_customer_page_received:contains(Your consent is withdrawn)" },
        { trigger: ".o_customer_page_purpose:contains(You withdrew your consent for this purpose)" },
    ],
});
