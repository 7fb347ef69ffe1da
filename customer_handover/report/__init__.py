from . import customer_handover_record
