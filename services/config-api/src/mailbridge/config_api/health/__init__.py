"""Account health for people: the last fetch and send results and what they make of the account."""
