"""MCP servers (MCP_CONFIG) whose tools the model may call, through the official ``mcp`` SDK."""
