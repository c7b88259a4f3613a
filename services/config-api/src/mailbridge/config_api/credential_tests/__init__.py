"""The credentials test (T1, O5): POST /mail-accounts/{id}/test and its runs."""
