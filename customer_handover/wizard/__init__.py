from . import customer_handover_scope
from . import customer_handover_sign
from . import customer_handover_admit
from . import customer_handover_verify
from . import customer_handover_cancel
from . import customer_handover_event_check
from . import customer_handover_pack
from . import customer_handover_import
