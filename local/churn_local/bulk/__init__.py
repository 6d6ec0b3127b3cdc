"""Bulk scoring on this machine (`make score`): a whole file read and written in chunks, resumed after a stop."""
