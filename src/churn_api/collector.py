"""The garbage collector of a Lambda container: app.py, the entry point, imports this first, before its libraries.

Only the function's container is tuned: training, publishing and anything else that imports churn_api keep
CPython's defaults.
- init creates hundreds of thousands of long-lived objects (Powertools, pydantic, boto3, then scikit-learn and
  scipy at the load); with CPython's young generation of 2,000, the collections that their allocation triggers
  traverse them again and again during the cold start;
- a large batch holds thousands of objects at once, all freed when it is answered: with 2,000, several
  collections a request traverse them for nothing.
docs/performance.md has the measured figures.
app.py freezes what init made (gc.freeze), out of every later collection's sight.
"""

import gc

GC_YOUNG_THRESHOLD = 20_000
gc.set_threshold(GC_YOUNG_THRESHOLD, *gc.get_threshold()[1:])
