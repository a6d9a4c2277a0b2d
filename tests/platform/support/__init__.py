"""Helpers of the platform tests: a throwaway PostgreSQL, an S3 stand-in, dataset archives, a server process."""
