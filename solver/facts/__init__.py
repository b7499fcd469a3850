"""Facts: what could run, from the catalog — runtime candidates, node groups, group tables, the problem."""
