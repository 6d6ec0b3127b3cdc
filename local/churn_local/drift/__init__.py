"""Drift on this machine (`make drift`): a file of customers compared with the model's baseline, PSI and a report."""
