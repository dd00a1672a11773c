"""aptrank: rank by fitness for the task, not by association.

Importing this package is cheap: torch, transformers and pandas are imported only inside the
functions that need them.
"""

from aptrank.errors import AptrankError, DataError
from aptrank.types import Dataset, Doc, Qrels, Query, Run

__version__ = "0.1.0"

__all__ = ["AptrankError", "DataError", "Dataset", "Doc", "Qrels", "Query", "Run", "__version__"]
