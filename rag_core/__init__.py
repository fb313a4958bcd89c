"""rag_core: the engine of the private document-chat appliance.

Data flows one way: file -> pages -> chunks -> vectors -> rows;
question -> hits -> prompt -> tokens -> answer.  Nothing here builds a model or an
engine at import time; `rag_core.services.build_services` is the one place that does.
"""

__version__ = "0.1.0"
