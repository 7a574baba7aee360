"""Services that join the domain (planner/) and Unleash (flags/); the web app and the CLI both call them."""
