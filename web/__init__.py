"""The planner's web side: the FastAPI app and the services it shares with the CLI."""
