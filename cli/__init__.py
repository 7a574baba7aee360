"""The `planner` command line: the same services the web app calls."""
