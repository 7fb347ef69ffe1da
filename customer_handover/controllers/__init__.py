from . import main
from . import sign
from . import customer_page
