"""Out-of-office (A12): PUT and GET /mail-accounts/{id}/out-of-office."""
