import { registry } from "@web/core/registry";
import { useService } from "@web/core/utils/hooks";
import { standardWidgetProps } from "@web/views/widgets/standard_widget_props";

import { Component, onWillUnmount, useState } from "@odoo/owl";

// A step still at work: the widget follows it; any other state ends it and the form reloads.
const AT_WORK = ["queued", "running", "cancelling"];

/**
 * The progress of a handover's background step: done out of total, a percentage and the time left, kept up to
 * date by the bus notifications the step sends after each batch (customer.handover.job._send_progress).
 */
export class HandoverJobProgress extends Component {
    static props = standardWidgetProps;
    static template = "customer_handover.JobProgress";

    setup() {
        this.bus = useService("bus_service");
        this.live = useState({ figures: null });
        const onProgress = (payload) => this.onProgress(payload);
        this.bus.subscribe("customer_handover/job", onProgress);
        onWillUnmount(() => this.bus.unsubscribe("customer_handover/job", onProgress));
    }

    get text() {
        const figures = this.live.figures;
        return figures ? figures.text : this.props.record.data.active_job_text || "";
    }

    get percent() {
        const figures = this.live.figures;
        return figures ? figures.percent : this.props.record.data.active_job_progress || 0;
    }

    get timeLeft() {
        const figures = this.live.figures;
        return figures ? figures.time_left : this.props.record.data.active_job_time_left || "";
    }

    async onProgress(payload) {
        const record = this.props.record;
        // a handover's step, an incoming handover's import, or the step a dialog follows (the event log's)
        const jobId = record.data.active_job_id && record.data.active_job_id[0];
        const ours = payload.res_model === record.resModel && payload.res_id === record.resId;
        if (!ours && payload.job_id !== jobId) {
            return;
        }
        this.live.figures = payload;
        if (!AT_WORK.includes(payload.state) && !(await record.isDirty())) {
            await record.load(); // the step's result on the form; the banner goes
        }
    }
}

registry.category("view_widgets").add("customer_handover_job_progress", { component: HandoverJobProgress });
