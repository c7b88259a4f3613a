"""Mailbridge's launcher: the `mailbridge` command and `mailbridge run`, the composition root that
starts every service. It may import every service; no service and not libs/common imports it."""
