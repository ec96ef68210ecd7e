"""What the core needs from the world, as Protocols and records; backends implement them."""
