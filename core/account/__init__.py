"""A user's account: balance, usage, links, shared balances, and the admins' commands for them."""
