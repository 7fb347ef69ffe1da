from . import customer_handover_record
from . import customer_handover_notice_letter
