"""rag_core: the engine of the private document-chat appliance.

Data flows one way: file -> pages -> chunks -> vectors -> rows;
question -> hits -> prompt -> tokens -> answer.  Nothing here builds a model or an
engine at import time; `rag_core.services.build_services` is the one place that does.
"""

from rag_core import offline

# Before anything else of the appliance, and so before any library it loads: see
# rag_core/offline.py for what is set and why.
offline.apply()

__version__ = "0.1.0"
