"""Tools the model may call in a conversation: built-in ones and MCP servers' (the ports)."""
