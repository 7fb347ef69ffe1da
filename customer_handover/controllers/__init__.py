from . import main
from . import sign
