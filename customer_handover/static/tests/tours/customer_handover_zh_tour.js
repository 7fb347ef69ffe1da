import { registry } from "@web/core/registry";
import { chooseChannel, headerButton, signSteps } from "@customer_handover/../tests/tours/tour_utils";

registry.category("web_tour.tours").add("customer_handover_zh_scope_tour", {
    steps: () => [
        { content: "选择客户", trigger: `${headerButton("action_select_customers")}:contains(选择客户)`, run: "click" },
        { content: "仅客户，默认勾选", trigger: ".modal .o_field_widget[name=customers_only] input:checked" },
        { content: "未设条件时提示", trigger: ".modal .alert-warning:contains(未设置任何条件)" },
        { trigger: ".modal .o_field_widget[name=business_domain_ids] input", run: "edit Tour domain" },
        { trigger: ".o-autocomplete--dropdown-item:contains(Tour domain)", run: "click" },
        { content: "原因以中文显示", trigger: ".modal:contains(未就接收方的处理目的取得有效同意)" },
        {
            content: "点击数量列出联系人",
            trigger: ".modal button[name=action_show_partners]:contains(不符合条件)",
            run: "click",
        },
        { trigger: ".modal .o_field_widget[name=shown_partner_ids] .o_data_row:contains(Tour No Consent)" },
        { content: "加入清单", trigger: ".modal button[name=action_confirm]:contains(加入清单)", run: "click" },
        { trigger: ".o_field_widget[name=checklist_line_ids] .o_data_row:contains(Tour Customer A)" },
        { content: "已排除的行另列", trigger: "a.nav-link:contains(已排除)", run: "click" },
        {
            content: "排除原因以中文显示",
            trigger: ".o_field_widget[name=excluded_line_ids] .o_data_row:contains(未就接收方的处理目的取得有效同意)",
        },
        { content: "撤销上次选取", trigger: headerButton("action_undo_scope"), run: "click" },
        { trigger: ".modal-footer .btn-primary", run: "click" },
        { content: "撤销的行不算排除", trigger: ".oe_stat_button:contains(已排除) .o_stat_value:contains(0)" },
    ],
});

registry.category("web_tour.tours").add("customer_handover_zh_sign_tour", {
    steps: () => [
        { trigger: ".o_field_widget[name=signature_status]:contains(已签 0/2)" },
        { content: "签字", trigger: `${headerButton("action_open_sign")}:contains(签字)`, run: "click" },
        { content: "以登录用户身份签字", trigger: ".modal .o_field_widget[name=signer]:contains(王经理)" },
        ...signSteps(null),
        { trigger: ".o_field_widget[name=signature_status]:contains(已签 1/2)" },
        { content: "第二方签字", trigger: `${headerButton("action_open_sign")}:contains(第二方签字)`, run: "click" },
        { content: "只剩接收方", trigger: ".modal .o_field_widget[name=side]:contains(接收方)" },
        { content: "双方在场：明确选择当面签字", ...chooseChannel("in_person") },
        { content: "同一人不能代表双方", trigger: ".modal .o_field_widget[name=signer] input", run: "edit 王经理 && press Tab" },
        { trigger: ".modal .alert-danger:contains(王经理)" },
        ...signSteps("李代表"),
        { trigger: ".o_field_widget[name=signature_status]:contains(已签 2/2)" },
        { content: "双方签字后才可盖章导出", trigger: `${headerButton("action_export_checklist")}:contains(盖章)` },
    ],
});
