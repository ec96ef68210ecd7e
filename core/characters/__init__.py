"""Characters: Venice's public characters and the bot's personas bound to chats, SillyTavern cards, and their commands."""
