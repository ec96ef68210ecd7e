"""A conversation with the model: the turn, its prompt, the relay of the answer, memory and the chat commands."""
