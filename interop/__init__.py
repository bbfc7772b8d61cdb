"""Third-party projects' own test suites run against pyre-server: ``python -m interop --help``."""
