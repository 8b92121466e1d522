"""Evaluations: a workflow's test cases, test runs that score them, and the publish gate."""
