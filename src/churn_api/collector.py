"""The garbage collector of a Lambda container: app.py, the entry point, imports this first, before its libraries.

Only the function's container is tuned: training, publishing and anything else that imports churn_api keep
CPython's defaults.
- init creates some 300,000 long-lived objects (Powertools, pydantic, boto3, then scikit-learn and scipy at the
  load); with CPython's young generation of 2,000, the collections that their allocation triggers traverse them
  again and again, about 40 ms of a cold start;
- a 1,000-customer batch holds about 6,000 objects at once, all freed when it is answered: with 2,000, three
  collections a request traverse them for nothing (about 0.5 ms).
app.py freezes what init made (gc.freeze), out of every later collection's sight.
"""

import gc

GC_YOUNG_THRESHOLD = 20_000
gc.set_threshold(GC_YOUNG_THRESHOLD, *gc.get_threshold()[1:])
