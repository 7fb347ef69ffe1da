from . import customer_business_domain
from . import customer_consent_purpose
from . import customer_consent
from . import customer_retention_policy
from . import res_company
from . import res_config_settings
from . import res_partner
