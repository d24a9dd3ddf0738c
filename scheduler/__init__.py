"""The service: configuration, jobs, the command line and the wiring between stages."""
