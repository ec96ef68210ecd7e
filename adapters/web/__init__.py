"""The operator's web console: health, metrics and admin pages served by aiohttp."""
