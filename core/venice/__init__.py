"""The Venice API client and its types."""
