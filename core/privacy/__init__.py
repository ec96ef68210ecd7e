"""Privacy: retention, forgetting, export and in-memory-only chats, and their commands."""
